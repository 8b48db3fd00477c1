// Issue 11, found by using the app as a new user would: each case drives the real widgets (the
// combo's popup with the mouse and the keyboard, the module tree, the menus) and failed before
// its fix.
#include <ATen/ATen.h>

#include <QAbstractItemView>
#include <QComboBox>
#include <QDockWidget>
#include <QLabel>
#include <QMenuBar>
#include <QProgressBar>
#include <QToolButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTreeWidget>
#include <QtTest/QtTest>
#include <atomic>
#include <thread>

#include "core/io/npy.h"
#include "core/io/safetensors.h"
#include "core/io/state_dict.h"
#include "core/modules/module_instance.h"
#include "app_fixture.h"
#include "test_env.h"
#include "test_registry.h"
#include "ui/compare_panel.h"
#include "ui/document.h"
#include "ui/input_loader.h"
#include "ui/job_service.h"
#include "ui/main_window.h"
#include "ui/module_panel.h"
#include "ui/run_controller.h"
#include "ui/session_controller.h"
#include "ui/settings.h"
#include "ui/view_controls.h"
#include "ui/views/heatmap_panel.h"
#include "ui/views/probe_view.h"
#include "ui/qcp.h"
#include "core/run/run.h"

using namespace fl;
using namespace fl::ui;
using fl::test::App;
using fl::test::registry;

namespace {

/// Holds the document's one worker until `open` is set, so jobs queue up behind it.
void holdTheWorker(Document& doc, QObject* keeper, std::atomic<bool>& open, std::atomic<bool>& entered) {
  doc.jobs()->submit<int>(
      JobPriority::Interactive, keeper,
      [&open, &entered](JobContext&) {
        entered = true;
        while (!open) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return 0;
      },
      [](int&&, const JobReport&) {});
  while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

/// `n` tensor files [1, 64, 6, 8] in `dir`, as a user would open them.
QStringList tensorFiles(const QTemporaryDir& dir, int n, const QString& stem = QStringLiteral("t")) {
  QStringList out;
  for (int i = 0; i < n; ++i) {
    const QString path = dir.filePath(QStringLiteral("%1%2.npy").arg(stem).arg(i));
    writeNpy(path.toStdString(), at::randn({1, 64, 6, 8}));
    out << path;
  }
  return out;
}

/// Opens the combo's popup with a mouse click and clicks row `row` in it, as a person does.
void pickWithMouse(QComboBox* combo, int row) {
  QTest::mouseClick(combo, Qt::LeftButton, {}, combo->rect().center());
  QAbstractItemView* view = combo->view();
  QTRY_VERIFY(view->isVisible());
  const QRect rect = view->visualRect(combo->model()->index(row, 0));
  QVERIFY(rect.isValid());
  QTest::mouseMove(view->viewport(), rect.center());
  QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, rect.center());
}

QLabel* statusLabel(MainWindow& w) {
  // the message label is the first (stretching) label of the status bar
  return w.statusBar()->findChildren<QLabel*>().value(0);
}

QAction* menuAction(MainWindow& w, const QString& text) {
  for (QAction* top : w.menuBar()->actions()) {
    if (!top->menu()) continue;
    for (QAction* a : top->menu()->actions()) {
      if (a->text().remove(QLatin1Char('&')).startsWith(text)) return a;
    }
  }
  return nullptr;
}

void clickModule(MainWindow& w, const QString& id) {
  auto* tree = w.modulePanel()->findChild<QTreeWidget*>();
  QVERIFY(tree);
  for (QTreeWidgetItemIterator it(tree); *it; ++it) {
    if ((*it)->data(0, Qt::UserRole).toString() == id) {
      tree->scrollToItem(*it);
      QTest::mouseClick(tree->viewport(), Qt::LeftButton, {}, tree->visualItemRect(*it).center());
      return;
    }
  }
  QFAIL(qPrintable(QStringLiteral("no module %1 in the tree").arg(id)));
}

/// A real result of `id` on random [1, c, 8, 12] inputs in `doc`, the view on `tensor`.
void runInto(Document& doc, const QString& id, const QString& tensor, int64_t c = 16) {
  doc.setModule(id);
  for (size_t i = 0; i < doc.descriptor()->inputs.size(); ++i) {
    InputItem item;
    item.label = QStringLiteral("x%1").arg(i);
    item.tensor = at::randn({1, c, 8, 12});
    doc.addInput(item);
  }
  RunResult res = run(registry(), doc.makeRequest(1));
  QVERIFY2(res.ok, res.error.c_str());
  doc.setResult(std::move(res));
  ViewSettings v = doc.view();
  v.tensor = tensor;
  doc.setView(v);
}

}  // namespace

class HardeningTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { QApplication::setAttribute(Qt::AA_DontUseNativeDialogs); }

  // Item 2: picking another input for `x` in the Inputs dock rebuilt (deleted) the combo while
  // it was still delivering its activated/textActivated signals: the app crashed at once.
  void pickingAnInputKeepsTheComboAlive() {
    App app;
    app.runner.setAutoRun(false);
    QTemporaryDir dir;
    app.doc.setModule(QStringLiteral("aff"));
    app.window.openFiles(tensorFiles(dir, 3));
    QTRY_COMPARE_WITH_TIMEOUT(app.doc.inputs().size(), size_t{3}, 20000);
    for (const QString& slot : {QStringLiteral("x"), QStringLiteral("residual")}) {
      const int s = slot == QStringLiteral("x") ? 0 : 1;
      QPointer<QComboBox> combo = app.window.findChild<QComboBox*>(QStringLiteral("slot_") + slot);
      QVERIFY(combo);
      pickWithMouse(combo, 3);  // "(none)", t0, t1, t2
      QCOMPARE(app.doc.assignment()[static_cast<size_t>(s)], 2);
      QVERIFY2(combo, "the combo the user picked from was deleted by its own signal");
      QCOMPARE(combo->currentIndex(), 3);
      // and with the keyboard on the closed combo
      combo->setFocus();
      QTest::keyClick(combo, Qt::Key_Up);
      QCOMPARE(app.doc.assignment()[static_cast<size_t>(s)], 1);
      QVERIFY(combo);
      QApplication::processEvents();
      QVERIFY(combo && combo->isVisible());
    }
  }

  // Item 3: Esc that closes a combo's popup (the Colormap list) must not cancel the run.
  void escInAPopupDoesNotCancel() {
    App app;
    QAction* cancel = app.window.findChild<QAction*>(QStringLiteral("cancelAction"));
    QVERIFY(cancel);
    // No window-wide Esc shortcut is left to fire from inside a popup.
    for (QAction* a : app.window.findChildren<QAction*>()) {
      QVERIFY2(a->shortcut() != QKeySequence(Qt::Key_Escape), qPrintable(a->text()));
    }
    cancel->setEnabled(true);  // as while a run computes
    QSignalSpy triggered(cancel, &QAction::triggered);
    auto* colormap = [&] {
      for (QComboBox* c : app.window.findChildren<QComboBox*>()) {
        if (c->findText(QStringLiteral("viridis")) >= 0) return c;
      }
      return static_cast<QComboBox*>(nullptr);
    }();
    QVERIFY(colormap);
    QTest::mouseClick(colormap, Qt::LeftButton, {}, colormap->rect().center());
    QTRY_VERIFY(colormap->view()->isVisible());
    QTest::keyClick(colormap->view(), Qt::Key_Escape);
    QTRY_VERIFY(!colormap->view()->isVisible());
    QCOMPARE(triggered.size(), 0);
  }

  // Item 3, the other half: Esc on the window itself still cancels a running job.
  void escOnTheWindowCancelsARun() {
    App app;
    app.runner.setAutoRun(false);
    app.doc.setModule(QStringLiteral("ms-cam"));
    InputItem item;
    item.label = QStringLiteral("noise");
    // Large enough that the forward is still computing when Esc arrives right after it starts.
    item.tensor = at::randn({2, 64, 256, 256});
    app.doc.addInput(item);
    QSignalSpy cancelling(&app.runner, &RunController::cancelling);
    app.runner.runNow();
    QVERIFY(app.runner.busy());
    QTest::keyClick(&app.window, Qt::Key_Escape);
    QCOMPARE(cancelling.size(), 1);
    app.runner.waitForIdle();
  }

  // Item 4: files opened together fill the module's inputs from the first one, also when the
  // module already has an input (the demo's).
  void filesOpenedTogetherArePaired() {
    App app;
    app.runner.setAutoRun(false);
    QTemporaryDir dir;
    app.doc.setModule(QStringLiteral("aff"));
    app.window.openFiles(tensorFiles(dir, 1, QStringLiteral("first")));
    QTRY_COMPARE_WITH_TIMEOUT(app.doc.inputs().size(), size_t{1}, 20000);
    QCOMPARE(app.doc.assignment(), (std::vector<int>{0, 0}));
    app.window.openFiles(tensorFiles(dir, 2, QStringLiteral("pair")));
    QTRY_COMPARE_WITH_TIMEOUT(app.doc.inputs().size(), size_t{3}, 20000);
    QCOMPARE(app.doc.assignment(), (std::vector<int>{1, 2}));
    // and the slot combos show it
    QCOMPARE(app.window.findChild<QComboBox*>(QStringLiteral("slot_x"))->currentIndex(), 2);
    QCOMPARE(app.window.findChild<QComboBox*>(QStringLiteral("slot_residual"))->currentIndex(), 3);
  }

  // Item 5: the Compare dock leaves the main view (and itself) a usable height.
  void compareDockLeavesTheViewReadable() {
    for (const QSize size : {QSize(1600, 1000), QSize(1280, 800)}) {
      App app;
      app.window.resize(size);
      QVERIFY(QTest::qWaitForWindowExposed(&app.window));
      app.window.showCompare();
      QApplication::processEvents();
      auto* compareDock = qobject_cast<QDockWidget*>(app.window.comparePanel()->parentWidget());
      QVERIFY(compareDock && compareDock->isVisible());
      const int view = app.window.probeView()->height();
      const int compare = app.window.comparePanel()->height();
      const QString sizes = QStringLiteral("%1x%2: view %3 px, compare %4 px").arg(size.width()).arg(size.height()).arg(view).arg(compare);
      QVERIFY2(view >= 300, qPrintable(sizes));
      QVERIFY2(compare >= 240, qPrintable(sizes));
      auto* moduleDock = app.window.findChild<QDockWidget*>(QStringLiteral("moduleDock"));
      QVERIFY2(moduleDock->height() >= size.height() / 2, qPrintable(QStringLiteral("module dock %1 px").arg(moduleDock->height())));
    }
  }

  // Items 6 and 7: loaded weights stay with their module when another is chosen and back;
  // a refused file leaves the line that says which weights are active.
  void weightsStayWithTheirModule() {
    App app;
    app.runner.setAutoRun(false);
    QTemporaryDir dir;
    const QString input = dir.filePath(QStringLiteral("x.npy"));
    writeNpy(input.toStdString(), at::randn({1, 16, 8, 8}));
    app.window.openFiles({input});
    QTRY_COMPARE_WITH_TIMEOUT(app.doc.inputs().size(), size_t{1}, 20000);
    clickModule(app.window, QStringLiteral("ms-cam"));
    QCOMPARE(app.doc.moduleId(), QStringLiteral("ms-cam"));
    const ModuleDescriptor* d = registry().find("ms-cam");
    const auto inst = d->make(resolveParams("ms-cam", d->params, {}), {{1, 16, 8, 8}});
    NamedTensors sd;
    for (const auto& [name, t] : moduleStateDict(*inst->module)) sd.emplace_back(name, t.detach().clone());
    const QString weights = dir.filePath(QStringLiteral("mscam.safetensors"));
    writeSafetensors(weights.toStdString(), sd);
    app.window.modulePanel()->loadWeights(weights);
    QTRY_VERIFY_WITH_TIMEOUT(!app.doc.weightsPath().isEmpty(), 20000);

    clickModule(app.window, QStringLiteral("eca"));
    QCOMPARE(app.doc.moduleId(), QStringLiteral("eca"));
    QVERIFY(app.doc.weightsPath().isEmpty());
    QVERIFY2(app.window.modulePanel()->weightsText().contains(QStringLiteral("seeded init")), qPrintable(app.window.modulePanel()->weightsText()));
    clickModule(app.window, QStringLiteral("ms-cam"));
    QCOMPARE(app.doc.weightsPath(), weights);
    QVERIFY2(app.window.modulePanel()->weightsText().contains(QStringLiteral("mscam.safetensors")), qPrintable(app.window.modulePanel()->weightsText()));

    // Item 7: a refused file says why, and the active weights are still named.
    const QString garbage = dir.filePath(QStringLiteral("garbage.pt"));
    QFile f(garbage);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("not a checkpoint");
    f.close();
    app.window.modulePanel()->loadWeights(garbage);
    app.window.modulePanel()->waitForIdle();
    QTRY_VERIFY(app.window.modulePanel()->weightsText().contains(QStringLiteral("refused")));
    const QString text = app.window.modulePanel()->weightsText();
    QVERIFY2(text.contains(QStringLiteral("mscam.safetensors")) && text.contains(QStringLiteral("garbage.pt")), qPrintable(text));
    QCOMPARE(app.doc.weightsPath(), weights);

    // Seeded init forgets them for this module only for good.
    app.window.modulePanel()->findChild<QPushButton*>(QString(), Qt::FindChildrenRecursively);
    for (QPushButton* b : app.window.modulePanel()->findChildren<QPushButton*>()) {
      if (b->text() == QStringLiteral("Seeded init")) QTest::mouseClick(b, Qt::LeftButton);
    }
    clickModule(app.window, QStringLiteral("eca"));
    clickModule(app.window, QStringLiteral("ms-cam"));
    QVERIFY(app.doc.weightsPath().isEmpty());
  }

  // Item 10: after a restored session the weights line stops saying "(checked when the module
  // runs)" once the module ran with them.
  void weightsLineAfterASessionRun() {
    App app;
    app.runner.setAutoRun(false);
    const ModuleDescriptor* d = registry().find("ms-cam");
    const auto inst = d->make(resolveParams("ms-cam", d->params, {}), {{1, 16, 8, 8}});
    auto sd = std::make_shared<NamedTensors>();
    for (const auto& [name, t] : moduleStateDict(*inst->module)) sd->emplace_back(name, t.detach().clone());
    DocumentState state;
    InputItem item;
    item.label = QStringLiteral("x");
    item.tensor = at::randn({1, 16, 8, 8});
    state.inputs.push_back(item);
    state.moduleId = QStringLiteral("ms-cam");
    state.weightsPath = QStringLiteral("/somewhere/mscam.pt");
    state.weights = sd;
    app.doc.restore(state);
    QVERIFY(app.window.modulePanel()->weightsText().contains(QStringLiteral("checked when the module runs")));
    app.runner.runNow();
    QTRY_VERIFY_WITH_TIMEOUT(app.doc.result() != nullptr, 30000);
    const QString text = app.window.modulePanel()->weightsText();
    QVERIFY2(!text.contains(QStringLiteral("checked when the module runs")) && text.contains(QStringLiteral("tensors matched")), qPrintable(text));
  }

  // Item 8: the start (and the demo while its image loads) shows no "run failed".
  void noRunFailedBeforeTheUserDidAnything() {
    App app;
    QSignalSpy failed(&app.doc, &Document::runFailed);
    app.window.openDemo();
    QTRY_VERIFY_WITH_TIMEOUT(app.doc.result() != nullptr, 60000);
    QCOMPARE(failed.size(), 0);
    // a module chosen with nothing open: the Module dock says what is missing; no failure
    App empty;
    QSignalSpy failedEmpty(&empty.doc, &Document::runFailed);
    empty.doc.setModule(QStringLiteral("cbam"));
    QTest::qWait(600);  // let queued runs and their deliveries finish
    QCOMPARE(failedEmpty.size(), 0);
    QVERIFY(!empty.window.modulePanel()->checkText().isEmpty());
    // Run now still says why it cannot run
    empty.runner.runNow();
    QCOMPARE(failedEmpty.size(), 1);
  }

  // Item 10: kernel sizes step through odd values only.
  void kernelSizeStepsOdd() {
    App app;
    for (const QString& id : {QStringLiteral("eca"), QStringLiteral("cbam"), QStringLiteral("spatial-attention")}) {
      clickModule(app.window, id);
      auto* spin = app.window.modulePanel()->findChild<QSpinBox*>(QStringLiteral("param_kernel_size"));
      QVERIFY2(spin, qPrintable(id));
      spin->setFocus();
      for (int i = 0; i < 3; ++i) {
        QTest::keyClick(spin, Qt::Key_Up);
        QVERIFY2(spin->value() % 2 == 1, qPrintable(QStringLiteral("%1: %2").arg(id).arg(spin->value())));
      }
      for (int i = 0; i < 5; ++i) {
        QTest::keyClick(spin, Qt::Key_Down);
        QVERIFY2(spin->value() % 2 == 1, qPrintable(QStringLiteral("%1: %2").arg(id).arg(spin->value())));
      }
    }
  }

  // Item 10: CMGM's faithful mode names what is wrong (num_heads), not "64 channels" at C = 64.
  void cmgmFaithfulMessageNamesNumHeads() {
    Document doc(registry());
    doc.setModule(QStringLiteral("cmgm"));
    for (int i = 0; i < 2; ++i) {
      InputItem item;
      item.tensor = at::randn({1, 64, 4, 4});
      doc.addInput(item);
    }
    doc.setParam("mode", "faithful");
    doc.setParam("num_heads", "4");
    const QString why = doc.readiness();
    QVERIFY2(why.contains(QStringLiteral("num_heads")) && !why.contains(QStringLiteral("64 channels")), qPrintable(why));
  }

  // Item 10: a hover read-out after an error is shown in the normal colour.
  void hoverReadOutIsNotRed() {
    App app;
    app.doc.setRunError(QStringLiteral("something failed"));
    QLabel* label = statusLabel(app.window);
    QVERIFY(label->styleSheet().contains(QStringLiteral("#b00020")));
    Q_EMIT app.window.probeView()->hovered(QStringLiteral("x 3, y 4: 0.5"));
    QCOMPARE(label->text(), QStringLiteral("x 3, y 4: 0.5"));
    QVERIFY2(!label->styleSheet().contains(QStringLiteral("#b00020")), qPrintable(label->styleSheet()));
  }

  // Item 10: the first Open dialog starts in the home (or last used) folder, not the demo's cache.
  void openDialogDoesNotStartInTheCache() {
    prefs::kLastDirectory.set(QString());
    App app;
    app.window.openDemo();
    QTRY_VERIFY_WITH_TIMEOUT(app.doc.result() != nullptr, 60000);
    const QString cache = QStandardPaths::writableLocation(QStandardPaths::CacheLocation);
    QVERIFY2(prefs::startDirectory() != cache, qPrintable(prefs::startDirectory()));
    QCOMPARE(prefs::startDirectory(), QDir::homePath());
    QTemporaryDir dir;
    app.window.openFiles(tensorFiles(dir, 1));
    QCOMPARE(prefs::startDirectory(), QFileInfo(dir.path()).absoluteFilePath());
  }

  // Item 10: OSRA's attention on the natural scale is drawn min-max: the Scale box says so.
  void attentionScaleBoxSaysMinMax() {
    Document doc(registry());
    ProbeView view(&doc);
    ViewControls controls(&doc);
    runInto(doc, QStringLiteral("osra"), QStringLiteral("probe.attention"), 64);
    ViewSettings v = doc.view();
    v.normalisation = QStringLiteral("natural");
    doc.setView(v);
    QComboBox* scale = nullptr;
    for (QComboBox* c : controls.findChildren<QComboBox*>()) {
      if (c->findData(QStringLiteral("natural")) >= 0) scale = c;
    }
    QVERIFY(scale);
    QVERIFY2(scale->currentText().contains(QStringLiteral("min-max")), qPrintable(scale->currentText()));
    // and a gate keeps its natural range
    runInto(doc, QStringLiteral("aff"), QStringLiteral("probe.weight"), 64);
    QCOMPARE(scale->currentText(), QStringLiteral("natural range"));
  }

  // Item 10: PCA RGB shows feature cells, and says so on its axes (not pixels).
  void pcaAxesCountFeatureCells() {
    Document doc(registry());
    ProbeView view(&doc);
    view.resize(900, 600);
    view.show();
    runInto(doc, QStringLiteral("safm"), QStringLiteral("probe.modulation"));
    ViewSettings v = doc.view();
    v.pca = true;
    doc.setView(v);
    view.waitForRender();
    QCustomPlot* plot = view.heatmap()->plot();
    QVERIFY2(plot->xAxis->label().contains(QStringLiteral("feature cells")), qPrintable(plot->xAxis->label()));
    QVERIFY2(plot->yAxis->label().contains(QStringLiteral("feature cells")), qPrintable(plot->yAxis->label()));
  }

  // Item 10: MFE's scale matrix names its 4 scales on the rows, not the edges 0-4.
  void mfeScaleRowsAreNamed() {
    Document doc(registry());
    ProbeView view(&doc);
    view.resize(900, 600);
    view.show();
    runInto(doc, QStringLiteral("mfe"), QStringLiteral("probe.scale_weights"));
    HeatmapPanel* matrix = nullptr;
    for (HeatmapPanel* p : view.findChildren<HeatmapPanel*>()) {
      if (p->plot()->yAxis->label() == QStringLiteral("scale")) matrix = p;
    }
    QVERIFY(matrix);
    matrix->plot()->replot();
    const QVector<QString> labels = matrix->plot()->yAxis->tickVectorLabels();
    const QVector<double> ticks = matrix->plot()->yAxis->tickVector();
    QCOMPARE(labels.size(), matrix->mapHeight());
    for (int r = 0; r < labels.size(); ++r) {
      QCOMPARE(labels[r], QStringLiteral("scale %1").arg(r));
      QCOMPARE(ticks[r], r + 0.5);
    }
  }

  // Item 12 (the GUI half): a long chunked attention run shows its progress and the time left
  // in the busy bar, and the bar's Cancel stops it between bands of query rows.
  void longRunShowsProgressAndItsCancelStopsIt() {
    App app;
    app.runner.setAutoRun(false);
    app.doc.setModule(QStringLiteral("cmgm"));
    const Shape shape{1, 64, 96, 96};
    for (int i = 0; i < 2; ++i) {
      InputItem item;
      item.label = QStringLiteral("x%1").arg(i);
      item.tensor = at::randn(shape);
      app.doc.addInput(item);
    }
    const ModuleDescriptor* d = app.doc.descriptor();
    const Params p = resolveParams(d->id, d->params, {});
    const int64_t lo = d->minMemoryBytes(p, {shape, shape}), hi = d->memoryBytes(p, {shape, shape});
    app.doc.setMemoryBudget(lo + (hi - lo) / 20);  // over the budget: the attention comes in bands
    QSignalSpy progress(&app.runner, &RunController::progress);
    QSignalSpy jobProgress(app.doc.jobs(), &JobService::progress);  // unfiltered, to the end
    QSignalSpy dropped(&app.runner, &RunController::staleDropped);
    app.runner.runNow();
    QTRY_VERIFY_WITH_TIMEOUT(!progress.isEmpty(), 60000);
    auto* bar = app.window.findChild<QProgressBar*>(QStringLiteral("busyBar"));
    auto* cancel = app.window.findChild<QToolButton*>(QStringLiteral("cancelRun"));
    QVERIFY(bar && cancel);
    QVERIFY(bar->isVisible() && cancel->isVisible());
    QCOMPARE(bar->maximum(), 1000);  // determinate once the run reports progress
    QVERIFY(bar->isTextVisible());
    QVERIFY2(bar->text().contains(QStringLiteral("%")) && bar->text().contains(QStringLiteral("left")),
             qPrintable(bar->text()));
    QTest::mouseClick(cancel, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!app.runner.busy(), 120000);
    QCOMPARE(dropped.size(), 1);
    QVERIFY(app.doc.result() == nullptr);
    // It stopped between bands: the forward never reported its end.
    QVERIFY(!jobProgress.isEmpty());
    const double last = jobProgress.back().at(1).toDouble();
    QVERIFY2(last < 1.0, qPrintable(QString::number(last)));
    QVERIFY(!bar->isVisible() && !cancel->isVisible());
  }

  // Closing the window never waits for a Compare build: a queued one is dropped (it never
  // runs), a running one is asked to stop and is not delivered.
  void closingTheWindowNeverWaitsForACompareBuild() {
    Document doc(registry());
    RunController runner(&doc);
    runner.setAutoRun(false);
    QTemporaryDir dir;
    const QStringList files = tensorFiles(dir, 1);
    InputItem item;
    item.path = files.front();
    item.label = QStringLiteral("t0.npy");
    item.tensor = readNpy(item.path.toStdString());
    doc.addInput(item);
    doc.setModule(QStringLiteral("eca"));
    QObject keeper;
    std::atomic<bool> open{false}, entered{false};
    holdTheWorker(doc, &keeper, open, entered);
    const int64_t runsBefore = doc.jobs()->moduleRuns();
    {
      InputLoader loader;
      auto window = std::make_unique<MainWindow>(&doc, &runner, &loader);
      window->comparePanel()->addModule(QStringLiteral("eca"));
      QVERIFY(window->comparePanel()->busy());  // its build waits behind the held worker
      window.reset();  // returns at once: nothing waits for the build (it would never start)
    }
    open = true;
    QTRY_VERIFY_WITH_TIMEOUT(!doc.jobs()->busy(), 20000);
    QCOMPARE(doc.jobs()->moduleRuns(), runsBefore);  // the dropped build ran nothing
  }

  // Loads never finish out of order: a slow image opened first still arrives first; a
  // newer weights file supersedes one not read yet, without the window waiting for it.
  void loadsKeepTheirOrderAndNewerWeightsWin() {
    App app;
    app.runner.setAutoRun(false);
    QTemporaryDir dir;
    const QString image = QString::fromStdString(test::env("FL_SOURCE_DIR")) + "/resources/images/fruits.jpg";
    app.window.setFeatureSpec(QStringLiteral("filterbank:channels=16,stride=4"));
    app.window.openFiles({image});                         // decoded and filtered: slow
    app.window.openFiles(tensorFiles(dir, 1));             // a small tensor: fast
    QTRY_COMPARE_WITH_TIMEOUT(app.doc.inputs().size(), size_t{2}, 60000);
    QCOMPARE(app.doc.inputs()[0].path, image);
    QVERIFY(app.doc.inputs()[1].path.endsWith(QStringLiteral("t0.npy")));

    clickModule(app.window, QStringLiteral("se"));
    const ModuleDescriptor* d = registry().find("se");
    const auto write = [&](const QString& name, int64_t c) {
      const auto inst = d->make(resolveParams("se", d->params, {}), {{1, c, 8, 8}});
      NamedTensors sd;
      for (const auto& [n, t] : moduleStateDict(*inst->module)) sd.emplace_back(n, t.detach().clone());
      const QString path = dir.filePath(name);
      writeSafetensors(path.toStdString(), sd);
      return path;
    };
    const QString older = write(QStringLiteral("older.safetensors"), 16);
    const QString newer = write(QStringLiteral("newer.safetensors"), 16);
    QObject keeper;
    std::atomic<bool> open{false}, entered{false};
    holdTheWorker(app.doc, &keeper, open, entered);
    QSignalSpy changes(&app.doc, &Document::requestChanged);
    app.window.modulePanel()->loadWeights(older);  // queued behind the held worker
    app.window.modulePanel()->loadWeights(newer);  // supersedes it: no wait here
    QVERIFY(app.window.modulePanel()->busy());
    open = true;
    QTRY_COMPARE_WITH_TIMEOUT(app.doc.weightsPath(), newer, 20000);
    QTRY_VERIFY_WITH_TIMEOUT(!app.doc.jobs()->busy(), 20000);
    QCOMPARE(changes.size(), 1);  // only the newer file was ever attached
    QVERIFY2(!app.window.modulePanel()->weightsText().contains(QStringLiteral("older")),
             qPrintable(app.window.modulePanel()->weightsText()));
  }

  // A session opened while another is still being read supersedes it; the window never waits.
  void aNewerSessionSupersedesOneStillLoading() {
    App app;
    app.runner.setAutoRun(false);
    QTemporaryDir dir;
    const auto session = [&](const QString& name, const char* module) {
      const QString path = dir.filePath(name);
      QFile f(path);
      if (f.open(QIODevice::WriteOnly)) f.write(QByteArray("{\"schema_version\": 1, \"module\": \"") + module + "\"}\n");
      return path;
    };
    const QString first = session(QStringLiteral("first.flsession"), "eca");
    const QString second = session(QStringLiteral("second.flsession"), "cbam");
    QObject keeper;
    std::atomic<bool> open{false}, entered{false};
    holdTheWorker(app.doc, &keeper, open, entered);
    QSignalSpy restored(app.window.sessions(), &SessionController::restored);
    app.window.openSession(first);
    app.window.openSession(second);
    open = true;
    QTRY_VERIFY_WITH_TIMEOUT(!app.doc.jobs()->busy(), 20000);
    QCOMPARE(restored.size(), 1);
    QCOMPARE(restored.front().front().toString(), QFileInfo(second).absoluteFilePath());
    QCOMPARE(app.doc.moduleId(), QStringLiteral("cbam"));
  }

  // Item 10: File > Export figure... exists; with nothing compared it starts the figure of
  // the module shown in the Compare dock.
  void fileMenuExportsAFigure() {
    App app;
    QAction* exportFigure = menuAction(app.window, QStringLiteral("Export figure..."));
    QVERIFY(exportFigure);
    app.doc.setModule(QStringLiteral("cbam"));
    QVERIFY(app.window.comparePanel()->columns().empty());
    exportFigure->trigger();
    QCOMPARE(app.window.comparePanel()->columns().size(), size_t{1});
    QVERIFY(app.window.comparePanel()->parentWidget()->isVisible());
    app.window.comparePanel()->clearColumns();
  }
};

QTEST_MAIN(HardeningTest)
#include "test_hardening.moc"
