// TorchScript files and captures in the window (issue 13): opened through MainWindow::openFiles
// (File > Open, drops and the command line all go there), loaded and run on the job service,
// the Points dock's tree by module path with kinds and strides, the kind's view for a chosen
// point, the capture's check in green or red, refusals that keep the previous state, the
// preprocessing, the one-time notice and sessions. Fixtures: tests/script/make_script_fixtures.py
// (Debian's python3-torch) writes them into the build tree first (ctest fixture script_fixtures).
#include <ATen/ATen.h>

#include <QComboBox>
#include <QDockWidget>
#include <QLabel>
#include <QPushButton>
#include <QImage>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTreeWidget>
#include <QtTest/QtTest>

#include "app_fixture.h"
#include "test_env.h"
#include "test_registry.h"
#include "ui/document.h"
#include "ui/examples.h"
#include "ui/input_loader.h"
#include "ui/job_service.h"
#include "ui/main_window.h"
#include "ui/module_panel.h"
#include "ui/points_panel.h"
#include "ui/run_controller.h"
#include "ui/script_controller.h"
#include "ui/session.h"
#include "ui/session_controller.h"
#include "ui/views/probe_view.h"

using namespace fl;
using namespace fl::ui;
using fl::test::App;
using fl::test::registry;

namespace {

QString fixture(const char* name) {
  std::string dir = fl::test::env("FL_SCRIPT_FIXTURES");
  if (dir.empty()) dir = fl::test::env("FL_BINARY_DIR") + "/script_fixtures";
  return QString::fromStdString(dir) + QStringLiteral("/") + QString::fromLatin1(name);
}

/// A 64 x 64 photo-like picture written to `dir`.
QString writePhoto(const QTemporaryDir& dir) {
  QImage img(64, 64, QImage::Format_RGB888);
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) img.setPixelColor(x, y, QColor(x * 4, y * 4, (x ^ y) * 4 % 256));
  }
  const QString path = dir.filePath(QStringLiteral("photo.png"));
  img.save(path);
  return path;
}

/// The controls a script source makes pointless: the Module dock's module tree, parameter
/// editors and weights buttons, the Inputs dock's feature spec and module input slots.
struct ModuleControls {
  QTreeWidget* tree = nullptr;
  QPushButton* loadWeights = nullptr;
  QPushButton* seededInit = nullptr;
  QWidget* param = nullptr;  ///< one parameter editor of the current module
  QComboBox* features = nullptr;
  QComboBox* slot = nullptr;  ///< the module's first input slot
  QLabel* note = nullptr;     ///< the Module dock's "not used while ..." line
  explicit ModuleControls(MainWindow& w, const QString& param) {
    tree = w.modulePanel()->findChild<QTreeWidget*>(QStringLiteral("moduleTree"));
    loadWeights = w.modulePanel()->findChild<QPushButton*>(QStringLiteral("loadWeights"));
    seededInit = w.modulePanel()->findChild<QPushButton*>(QStringLiteral("seededInit"));
    this->param = w.modulePanel()->findChild<QWidget*>(QStringLiteral("param_") + param);
    note = w.modulePanel()->findChild<QLabel*>(QStringLiteral("moduleUnused"));
    features = w.findChild<QComboBox*>(QStringLiteral("featureSpec"));
    for (QComboBox* c : w.findChildren<QComboBox*>()) {
      if (c->objectName().startsWith(QStringLiteral("slot_"))) slot = c;
    }
  }
  bool found() const { return tree && loadWeights && seededInit && param && features && slot && note; }
  /// Every module control enabled or every one disabled, as `on`, with `why` in its tooltip
  /// when disabled (and not when enabled).
  void verifyModule(bool on, const QString& why) const {
    for (QWidget* w : {static_cast<QWidget*>(tree), static_cast<QWidget*>(loadWeights), static_cast<QWidget*>(seededInit), param,
                       static_cast<QWidget*>(slot)}) {
      QVERIFY2(w->isEnabled() == on, qPrintable(w->objectName()));
      QVERIFY2(w->toolTip().contains(why) != on, qPrintable(w->objectName() + QStringLiteral(": ") + w->toolTip()));
    }
    QCOMPARE(note->isVisibleTo(note->parentWidget()), !on);
    if (!on) QVERIFY2(note->text().contains(why) && note->text().contains(QStringLiteral("Back to modules")), qPrintable(note->text()));
  }
  void verifyFeatures(bool on, const QString& why) const {
    QCOMPARE(features->isEnabled(), on);
    QVERIFY2(features->toolTip().contains(why) != on, qPrintable(features->toolTip()));
  }
};

/// Leaves (points) of the tree: name -> (kind, shape, stride, selectable).
struct Leaf {
  QString kind, shape, stride;
  bool selectable = false;
  QTreeWidgetItem* item = nullptr;
};
std::map<QString, Leaf> leaves(QTreeWidget* tree) {
  std::map<QString, Leaf> out;
  for (QTreeWidgetItemIterator it(tree); *it; ++it) {
    const QString name = (*it)->data(0, Qt::UserRole + 1).toString();
    if (name.isEmpty()) continue;
    out[name] = {(*it)->text(1), (*it)->text(2), (*it)->text(3), ((*it)->flags() & Qt::ItemIsSelectable) != 0, *it};
  }
  return out;
}

}  // namespace

namespace fl::ui {

class ScriptTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QSettings().clear();
    if (!QFile::exists(fixture("net.pt"))) QFAIL("script fixtures missing: run ctest -R script_make_fixtures first");
  }

  void networkOnAPhotoListsItsPointsByModulePath() {
    QTemporaryDir dir;
    App app;
    QSignalSpy opened(app.window.scripts(), &ScriptController::opened);
    app.window.openFiles({writePhoto(dir), fixture("net.pt")});
    app.settle();
    QCOMPARE(opened.count(), 1);
    QVERIFY(app.doc.script());
    QVERIFY(app.doc.script()->imageInput);  // 3 input channels: the photo itself
    QCOMPARE(app.doc.script()->sha256.size(), 64);
    QVERIFY(app.doc.scriptRun());
    const auto points = leaves(app.tree());
    QCOMPARE(points.size(), size_t{4});
    const QString c0 = QStringLiteral("layers.0.cbam.ChannelGate.sigmoid"), s0 = QStringLiteral("layers.0.cbam.SpatialGate.sigmoid");
    const QString c1 = QStringLiteral("layers.1.cbam.ChannelGate.sigmoid"), s1 = QStringLiteral("layers.1.cbam.SpatialGate.sigmoid");
    for (const QString& c : {c0, c1}) QCOMPARE(points.at(c).kind, QStringLiteral("channel_weights"));
    for (const QString& s : {s0, s1}) QCOMPARE(points.at(s).kind, QStringLiteral("spatial_map"));
    QCOMPARE(points.at(s0).stride, QStringLiteral("2"));
    QCOMPARE(points.at(s1).stride, QStringLiteral("4"));
    QCOMPARE(points.at(s0).shape, QStringLiteral("[1, 1, 32, 32]"));
    // Grouped by module path: layers > 0 > cbam > SpatialGate > sigmoid.
    QTreeWidgetItem* item = points.at(s0).item;
    QCOMPARE(item->text(0), QStringLiteral("sigmoid"));
    QCOMPARE(item->parent()->text(0), QStringLiteral("SpatialGate"));
    QCOMPARE(item->parent()->parent()->text(0), QStringLiteral("cbam"));
    QCOMPARE(item->parent()->parent()->parent()->text(0), QStringLiteral("0"));
    QCOMPARE(item->parent()->parent()->parent()->parent()->text(0), QStringLiteral("layers"));

    // Choosing a point shows its kind's view, over the photo the network saw.
    app.tree()->setCurrentItem(points.at(s1).item);
    QCOMPARE(app.doc.view().tensor, QStringLiteral("probe.") + s1);
    QCOMPARE(app.window.probeView()->currentPage(), ViewPage::Heatmap);
    QCOMPARE(app.doc.baseImage(0).size(), QSize(64, 64));
    app.tree()->setCurrentItem(points.at(c0).item);
    QCOMPARE(app.window.probeView()->currentPage(), ViewPage::Bars);
    // [1,10] logits: the predicted class and its softmax score.
    QVERIFY2(app.window.pointsPanel()->predictionText().startsWith(QStringLiteral("predicted: class ")),
             qPrintable(app.window.pointsPanel()->predictionText()));

    // Submodule outputs on request: feature maps, shown as maps.
    app.doc.setScriptModuleOutputs(true);
    app.settle();
    const auto more = leaves(app.tree());
    QVERIFY(more.size() > 4);
    QCOMPARE(more.at(QStringLiteral("stem")).kind, QStringLiteral("feature_map"));
    QCOMPARE(more.at(QStringLiteral("stem")).item->text(0), QStringLiteral("(module output)"));
    app.tree()->setCurrentItem(more.at(QStringLiteral("layers.1")).item);
    QCOMPARE(app.window.probeView()->currentPage(), ViewPage::Heatmap);
  }

  void preprocessingIsExplicitAndReruns() {
    QTemporaryDir dir;
    App app;
    app.window.openFiles({writePhoto(dir), fixture("net.pt")});
    app.settle();
    QVERIFY(app.doc.scriptRun());
    QCOMPARE(app.doc.scriptRun()->inputs.at(0).sizes(), (at::IntArrayRef{1, 3, 64, 64}));
    app.doc.setScriptPreprocess("size=32x48,order=bgr,range=255,mean=1,std=2");
    app.settle();
    QCOMPARE(app.doc.scriptRun()->inputs.at(0).sizes(), (at::IntArrayRef{1, 3, 48, 32}));
    // The photo under the maps is the network's input, so a map's stride maps it back.
    QCOMPARE(app.doc.baseImage(0).size(), QSize(32, 48));
    const auto points = leaves(app.tree());
    QCOMPARE(points.at(QStringLiteral("layers.1.cbam.SpatialGate.sigmoid")).shape, QStringLiteral("[1, 1, 12, 8]"));
    // [0,255] and the mean/std reached the tensor: the first pixel's blue (channel 0 in BGR).
    const at::Tensor x = app.doc.scriptRun()->inputs.at(0);
    QVERIFY(x.max().item<double>() > 50);
  }

  void captureMatchesOrSaysItDiffers() {
    App app;
    app.window.openFiles({fixture("aff_match.flcap")});
    app.settle();
    QVERIFY(app.doc.script());
    QVERIFY(app.doc.script()->status.matches);
    QVERIFY2(app.window.pointsPanel()->statusText().contains(QStringLiteral("matches your PyTorch run, max |diff|")),
             qPrintable(app.window.pointsPanel()->statusText()));
    QVERIFY(app.doc.result());
    QCOMPARE(QString::fromStdString(app.doc.result()->moduleId), QStringLiteral("aff"));
    QVERIFY(!leaves(app.tree()).empty());

    app.window.openFiles({fixture("aff_modified.flcap")});
    app.settle();
    QVERIFY(!app.doc.script()->status.matches);
    const QString status = app.window.pointsPanel()->statusText();
    QVERIFY2(status.contains(QStringLiteral("differs from your module by")) &&
                 status.contains(QStringLiteral("showing its own TorchScript instead")),
             qPrintable(status));
    // Its own trace's points: the modified AFF's sigmoid gate.
    const auto points = leaves(app.tree());
    QVERIFY(!points.empty());
    bool gate = false;
    for (const auto& [name, leaf] : points) gate |= leaf.kind == QStringLiteral("gate");
    QVERIFY(gate);
    QVERIFY(app.doc.result()->moduleId != "aff");
  }

  void unsafeScriptIsRefusedByNameAndTheWindowKeepsItsState() {
    QTemporaryDir dir;
    App app;
    app.window.openFiles({writePhoto(dir), fixture("net.pt")});
    app.settle();
    QVERIFY(app.doc.scriptRun());
    const QString before = app.doc.script()->path;
    const size_t pointsBefore = leaves(app.tree()).size();
    QSignalSpy failed(app.window.scripts(), &ScriptController::failed);
    app.window.openFiles({fixture("unsafe_print.pt")});
    app.settle();
    QCOMPARE(failed.count(), 1);
    const QString message = failed.at(0).at(0).toString();
    QVERIFY2(message.contains(QStringLiteral("prim::Print")) && message.contains(QStringLiteral("block")),
             qPrintable(message));
    QCOMPARE(app.doc.script()->path, before);
    QVERIFY(app.doc.scriptRun());
    QCOMPARE(leaves(app.tree()).size(), pointsBefore);
    QVERIFY(app.window.pointsPanel()->messageText().contains(QStringLiteral("prim::Print")));
  }

  void noticeOncePerFile() {
    QTemporaryDir dir;
    QSettings().remove(QStringLiteral("scripts/seenSha256"));
    {
      App app;
      QSignalSpy opened(app.window.scripts(), &ScriptController::opened);
      app.window.openFiles({fixture("control_flow.pt")});
      app.settle();
      QCOMPARE(opened.count(), 1);
      QCOMPARE(opened.at(0).at(1).toBool(), true);
      QVERIFY(app.window.pointsPanel()->noticeVisible());
      // Back to modules: the notice spoke of that file, which is no longer open.
      auto* back = app.window.pointsPanel()->findChild<QPushButton*>(QStringLiteral("backToModules"));
      QVERIFY(back && back->isEnabled());
      back->click();
      app.settle();
      QVERIFY(!app.doc.script());
      QVERIFY(!app.window.pointsPanel()->noticeVisible());
    }
    App again;
    QSignalSpy opened(again.window.scripts(), &ScriptController::opened);
    again.window.openFiles({fixture("control_flow.pt")});
    again.settle();
    QCOMPARE(opened.count(), 1);
    QCOMPARE(opened.at(0).at(1).toBool(), false);
    QVERIFY(!again.window.pointsPanel()->noticeVisible());
  }

  void controlFlowPointsAreListedGreyed() {
    App app;
    app.window.openFiles({fixture("control_flow.pt")});
    app.settle();
    bool greyed = false;
    for (const auto& [name, leaf] : leaves(app.tree())) {
      if (leaf.kind == QStringLiteral("not capturable")) {
        greyed = true;
        QVERIFY(!leaf.selectable);
        QVERIFY(leaf.shape.contains(QStringLiteral("prim::")));  // the reason names the block
      }
    }
    QVERIFY(greyed);
  }

  void sessionsRestoreTheScriptItsPreprocessingAndPoint() {
    QTemporaryDir dir;
    const QString net = dir.filePath(QStringLiteral("net.pt"));
    QVERIFY(QFile::copy(fixture("net.pt"), net));
    const QString session = dir.filePath(QStringLiteral("s.flsession"));
    const QString point = QStringLiteral("probe.layers.1.cbam.SpatialGate.sigmoid");
    const std::string pre = "size=32x32,order=rgb,range=1,mean=0.5,std=0.25";
    QString sha;
    {
      App app;
      app.window.openFiles({writePhoto(dir), net});
      app.settle();
      app.doc.setScriptPreprocess(pre);
      app.settle();
      app.window.pointsPanel()->tree()->setCurrentItem(app.window.pointsPanel()->itemForPoint(point.mid(6)));
      QCOMPARE(app.doc.view().tensor, point);
      sha = app.doc.script()->sha256;
      QCOMPARE(app.window.sessions()->save(session, false), QString());
    }
    {
      App app;
      app.window.openSession(session);
      app.settle();
      QVERIFY(app.doc.script());
      QCOMPARE(app.doc.script()->path, net);
      QCOMPARE(app.doc.script()->sha256, sha);
      QCOMPARE(app.doc.script()->preprocess, pre);
      QVERIFY(app.doc.scriptRun());
      QCOMPARE(app.doc.scriptRun()->inputs.at(0).sizes(), (at::IntArrayRef{1, 3, 32, 32}));
      QCOMPARE(app.doc.view().tensor, point);
      QVERIFY(app.window.pointsPanel()->tree()->currentItem());
      QCOMPARE(app.window.pointsPanel()->tree()->currentItem()->data(0, Qt::UserRole).toString(), point);
    }
    // Another file under the same name: said so, never shown as the saved one.
    QVERIFY(QFile::remove(net));
    QVERIFY(QFile::copy(fixture("control_flow.pt"), net));
    App app;
    QSignalSpy failed(app.window.scripts(), &ScriptController::failed);
    app.window.openSession(session);
    app.settle();
    QCOMPARE(failed.count(), 1);
    QVERIFY2(failed.at(0).at(0).toString().contains(QStringLiteral("SHA-256")), qPrintable(failed.at(0).at(0).toString()));
    QVERIFY(!app.doc.script());
  }

  /// While a TorchScript file or capture runs, the module, its parameters, weights and input
  /// slots do nothing, nor do image features when the network reads the photo itself (or a
  /// capture brings its inputs): greyed out with the reason, and live again after "Back to
  /// modules".
  void moduleControlsAreGreyedWhileAScriptRuns() {
    QTemporaryDir dir;
    App app;
    app.doc.setModule(QStringLiteral("cbam"));
    app.window.openFiles({writePhoto(dir)});
    app.settle();
    const ModuleControls c(app.window, QStringLiteral("reduction"));
    QVERIFY(c.found());
    const QString net = QStringLiteral("net.pt");
    c.verifyModule(true, net);
    c.verifyFeatures(true, net);
    const QString moduleTip = c.loadWeights->toolTip(), featuresTip = c.features->toolTip();
    const QString paramTip = c.param->toolTip();

    app.window.openFiles({fixture("net.pt")});
    app.settle();
    QVERIFY(app.doc.script() && app.doc.script()->imageInput);
    c.verifyModule(false, net);
    c.verifyFeatures(false, net);
    QVERIFY(c.features->toolTip().contains(QStringLiteral("reads the photo itself")));
    // A network fed the opened inputs' tensors uses the features (an image's): live again.
    app.doc.setScriptImageInput(false);
    c.verifyFeatures(true, net);
    c.verifyModule(false, net);
    app.doc.setScriptImageInput(true);
    app.settle();
    c.verifyFeatures(false, net);

    // Back to modules: everything is live, with its own tooltips again.
    auto* back = app.window.pointsPanel()->findChild<QPushButton*>(QStringLiteral("backToModules"));
    QVERIFY(back && back->isEnabled());
    back->click();
    app.settle();
    QVERIFY(!app.doc.script());
    c.verifyModule(true, net);
    c.verifyFeatures(true, net);
    QCOMPARE(c.loadWeights->toolTip(), moduleTip);
    QCOMPARE(c.features->toolTip(), featuresTip);
    QCOMPARE(c.param->toolTip(), paramTip);
    // The tree takes a click again: another module runs.
    app.doc.setModule(QStringLiteral("se"));
    const ModuleControls se(app.window, QStringLiteral("reduction"));
    QVERIFY(se.found());
    se.verifyModule(true, net);

    // A capture brings its own inputs and weights: all of it greyed, named in the reason.
    const QString cap = QStringLiteral("aff_match.flcap");
    app.window.openFiles({fixture("aff_match.flcap")});
    app.settle();
    QVERIFY(app.doc.script() && app.doc.script()->kind == ScriptKind::Capture);
    const ModuleControls capture(app.window, QStringLiteral("reduction"));
    QVERIFY(capture.found());
    capture.verifyModule(false, cap);
    capture.verifyFeatures(false, cap);
    QVERIFY(capture.features->toolTip().contains(QStringLiteral("own inputs")));
    back->click();
    app.settle();
    capture.verifyModule(true, cap);
    capture.verifyFeatures(true, cap);
  }

  void choosingAModuleLeavesTheScript() {
    QTemporaryDir dir;
    App app;
    app.window.openFiles({writePhoto(dir), fixture("net.pt")});
    app.settle();
    QVERIFY(app.doc.script());
    QVERIFY(!app.doc.readiness().isEmpty());  // the module does not run meanwhile
    app.doc.setModule(app.doc.moduleId().isEmpty() ? QStringLiteral("cbam") : app.doc.moduleId());
    QVERIFY(!app.doc.script());
    QVERIFY(app.tree()->topLevelItemCount() == 0);
  }

  /// File > Open example's whole networks (the CBAM one, CBAM at two depths and the six
  /// fusion networks): each
  /// opens the shipped trained network on its garment, shows its named point, and predicts
  /// a class named by the manifest.
  void everyWholeNetworkExampleOpensWithItsPoint() {
    int opened = 0;
    for (const Example& e : examples()) {
      if (e.network.isEmpty()) continue;
      App app;
      // a photo opened before: the example starts afresh from its own garment
      QTemporaryDir dir;
      app.window.openFiles({writePhoto(dir)});
      app.settle();
      QSignalSpy failed(app.window.scripts(), &ScriptController::failed);
      QSignalSpy runFailed(app.window.scripts(), &ScriptController::runFailed);
      app.window.openExample(e);
      app.settle();
      QCOMPARE(app.doc.inputs().size(), size_t{1});
      QVERIFY2(app.doc.inputs()[0].path.endsWith(e.image.section(QLatin1Char('/'), -1)), qPrintable(app.doc.inputs()[0].path));
      QVERIFY2(failed.isEmpty() && runFailed.isEmpty(), qPrintable(e.title));
      QVERIFY2(app.doc.script() && app.doc.script()->path.endsWith(e.moduleId + QStringLiteral(".pt")), qPrintable(e.title));
      QVERIFY2(app.doc.scriptRun(), qPrintable(e.title));
      const QString point = e.tensor.mid(QStringLiteral("probe.").size());
      QVERIFY2(leaves(app.tree()).count(point) == 1, qPrintable(e.title + QStringLiteral(": no point ") + point));
      QCOMPARE(app.doc.view().tensor, e.tensor);
      const QString prediction = app.window.pointsPanel()->predictionText();
      QVERIFY2(prediction.contains(QStringLiteral("(softmax ")) && !prediction.contains(QStringLiteral("class ")),
               qPrintable(e.title + QStringLiteral(": ") + prediction));
      ++opened;
    }
    QCOMPARE(opened, 8);
  }
};

}  // namespace fl::ui

QTEST_MAIN(fl::ui::ScriptTest)
#include "test_script.moc"
