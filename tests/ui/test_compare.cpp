// The compare panel, offscreen: the figure it builds, its shared scale and
// statistics, and that its PNG export is byte-identical to `fusionlens-cli render` of the spec
// it writes beside the figure.
#include <ATen/ATen.h>

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QElapsedTimer>
#include <QFile>
#include <QLineEdit>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "core/common/sha256.h"
#include "core/features/features.h"
#include "core/io/image.h"
#include "core/modules/registry.h"
#include "tests/test_env.h"
#include "core/run/run.h"
#include "ui/compare_controller.h"
#include "ui/compare_panel.h"
#include "ui/compare_view.h"
#include "ui/document.h"
#include "ui/job_service.h"

namespace fl::ui {

class CompareTest : public QObject {
  Q_OBJECT
 private:
  static InputItem imageInput(const QString& path, const QString& spec) {
    InputItem in;
    in.path = path;
    in.featureSpec = spec;
    in.label = path;
    in.tensor = imageFeatures(path.toStdString(), parseFeatureSpec(spec.toStdString()), nullptr);
    return in;
  }

  static bool waitBuilt(ComparePanel& panel) {
    QSignalSpy built(&panel, &ComparePanel::built);
    QSignalSpy failed(&panel, &ComparePanel::failed);
    QElapsedTimer t;
    t.start();
    while ((panel.busy() || built.count() + failed.count() == 0) && t.elapsed() < 60000) QTest::qWait(20);
    return built.count() > 0 && failed.isEmpty();
  }

 /// Two frames of RubberWhale as 16-channel features into aff (x, residual).
  static void openFramePair(Document& doc) {
    const QString images = QString::fromStdString(test::env("FL_SOURCE_DIR")) + "/resources/images/";
    const QString spec = QStringLiteral("filterbank:channels=16,stride=8");
    doc.addInput(imageInput(images + "rubberwhale1.png", spec));
    doc.addInput(imageInput(images + "rubberwhale2.png", spec));
    doc.setModule(QStringLiteral("aff"));
  }

 /// One photo as 16-channel features into eca (one input).
  static void openFruitsIntoEca(Document& doc) {
    const QString images = QString::fromStdString(test::env("FL_SOURCE_DIR")) + "/resources/images/";
    doc.addInput(imageInput(images + "fruits.jpg", QStringLiteral("filterbank:channels=16,stride=8")));
    doc.setModule(QStringLiteral("eca"));
  }

 private Q_SLOTS:
  void sharedScaleAndExportMatchesCli() {
    ModuleRegistry registry;
    registerBuiltinModules(registry);
    Document doc(registry);
    openFramePair(doc);
    ComparePanel panel(&doc);
    panel.resize(1000, 500);
    panel.addModule(QStringLiteral("aff"));
    QVERIFY(waitBuilt(panel));
    panel.addModule(QStringLiteral("cafm"));
    QVERIFY(waitBuilt(panel));
    const auto model = panel.model();
    QVERIFY(model);
    QCOMPARE(model->columns, 2);
    // Shared scale: both map panels use one range, written on one colour bar.
    const auto& a = model->panel(0, 0);
    const auto& b = model->panel(0, 1);
    QCOMPARE(a.colorbar, b.colorbar);
    QCOMPARE(a.range.lo, b.range.lo);
    QVERIFY(QString::fromStdString(model->colorbars[a.colorbar].label).startsWith("shared"));
    // The crosshair reports each panel's raw value at the same map cell.
    const QString values = panel.view()->valuesAt(QPointF(0.5, 0.5));
    const int64_t h = a.values.size(0), w = a.values.size(1);
    QVERIFY2(values.contains(QString::number(a.values[h / 2][w / 2].item<double>(), 'g', 4)), qPrintable(values));
    QVERIFY(!model->statistics.rows.empty());

    QTemporaryDir dir;
    const QString gui = dir.filePath("gui.png");
    QCOMPARE(panel.exportTo(gui, false), QString());
    QVERIFY(QFile::exists(gui + ".spec.json"));
    QVERIFY(!panel.exportTo(gui, false).isEmpty());  // never overwrite silently
    QProcess cli;
    cli.start(QString::fromStdString(test::env("FL_CLI")),
              {"render", gui + ".spec.json", "--out", dir.filePath("cli.png")});
    QVERIFY(cli.waitForFinished(120000));
    QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());
    QFile g(gui), c(dir.filePath("cli.png"));
    QVERIFY(g.open(QIODevice::ReadOnly) && c.open(QIODevice::ReadOnly));
    QVERIFY2(g.readAll() == c.readAll(), "the GUI's PNG and the CLI's PNG of the same spec differ");

    // Reproducibility, the point of figure specs: a double-column PDF from the GUI, regenerated headless by
    // one command from the spec written beside it, is the same file.
    const QString pdf = dir.filePath("figure.pdf");
    QCOMPARE(panel.exportTo(pdf, false), QString());
    QProcess again;
    again.start(QString::fromStdString(test::env("FL_CLI")), {"render", pdf + ".spec.json", "--out", dir.filePath("cli.pdf")});
    QVERIFY(again.waitForFinished(120000));
    QVERIFY2(again.exitCode() == 0, again.readAllStandardError().constData());
    QFile gp(pdf), cp(dir.filePath("cli.pdf"));
    QVERIFY(gp.open(QIODevice::ReadOnly) && cp.open(QIODevice::ReadOnly));
    const QByteArray guiPdf = gp.readAll();
    QVERIFY(guiPdf.startsWith("%PDF"));
    QVERIFY2(guiPdf == cp.readAll(), "the GUI's PDF and the CLI's PDF of the same spec differ");
  }

  void failedBuildKeepsTheLastFigure() {
    ModuleRegistry registry;
    registerBuiltinModules(registry);
    Document doc(registry);
    openFruitsIntoEca(doc);
    ComparePanel panel(&doc);
    panel.addModule(QStringLiteral("cbam"));
    QVERIFY(waitBuilt(panel));
    const auto before = panel.model();
    panel.addModule(QStringLiteral("cmgm"));  // needs 64 channels and two inputs: refused
    QVERIFY(!waitBuilt(panel));
    QCOMPARE(panel.model(), before);
    // The figure on screen no longer matches the settings: it is not exported.
    QTemporaryDir dir;
    const QString why = panel.exportTo(dir.filePath("stale.png"), false);
    QVERIFY2(why.contains("Not exported"), qPrintable(why));
    QVERIFY(!QFile::exists(dir.filePath("stale.png")));
  }

  void columnsMoveAndTheDifferenceFollows() {
    ModuleRegistry registry;
    registerBuiltinModules(registry);
    Document doc(registry);
    openFramePair(doc);
    ComparePanel panel(&doc);
    figure::FigureSpec s = panel.currentSpec();
    s.columns = {figure::FigureColumn{"", "aff", {}, {}, {}}, figure::FigureColumn{"", "iaff", {}, {}, {}},
                 figure::FigureColumn{"", "cafm", {}, {}, {}}};
    s.difference = std::make_pair(0, 1);  // aff - iaff
    panel.applySettings(s);
    QVERIFY(waitBuilt(panel));
    const auto modules = [&panel] {
      std::string m;
      for (const auto& c : panel.currentSpec().columns) m += (m.empty() ? "" : ",") + c.module;
      return m;
    };
    const auto diff = [&panel] { return panel.currentSpec().difference; };
    panel.moveColumn(0, 2);
    QCOMPARE(modules(), std::string("iaff,cafm,aff"));
    QVERIFY(diff() == std::make_optional(std::make_pair(2, 0)));  // still aff - iaff
    panel.setColumnLabel(1, QStringLiteral("CAFM trained"));
    QCOMPARE(panel.currentSpec().columns[1].label, std::string("CAFM trained"));
    panel.removeColumn(1);
    QCOMPARE(modules(), std::string("iaff,aff"));
    QVERIFY(diff() == std::make_optional(std::make_pair(1, 0)));
    QVERIFY(waitBuilt(panel));
    QCOMPARE(QString::fromStdString(panel.model()->columnTitles.back()), QString::fromStdString(panel.model()->columnTitles[1] + " - " + panel.model()->columnTitles[0]));
    panel.removeColumn(0);  // the difference goes with one of its modules
    QVERIFY(!diff().has_value());
    QVERIFY(waitBuilt(panel));
  }

  void saysWhenAColumnNeedsMoreInputs() {
    ModuleRegistry registry;
    registerBuiltinModules(registry);
    Document doc(registry);
    openFruitsIntoEca(doc);
    ComparePanel panel(&doc);
    QSignalSpy failed(&panel, &ComparePanel::failed);
    panel.addModule(QStringLiteral("cafm"));
    QCOMPARE(failed.count(), 1);
    const QString why = failed.front().at(0).toString();
    QVERIFY2(why.contains("needs 2 inputs (f1, f2); 1 is open"), qPrintable(why));
    QVERIFY(!panel.busy());
  }

  void followsTheMainViewAndItsInputs() {
    ModuleRegistry registry;
    registerBuiltinModules(registry);
    Document doc(registry);
    openFramePair(doc);
    doc.setModule(QStringLiteral("eca"));  // the main module takes one of the two inputs
    ComparePanel panel(&doc);
    panel.addModule(QStringLiteral("aff"));  // needs both: the opened inputs in order
    QVERIFY(waitBuilt(panel));
    QCOMPARE(panel.model()->spec.inputs.size(), size_t{2});
    ViewSettings v = doc.view();
    v.colormap = QStringLiteral("magma");
    v.alpha = 0.25;
    doc.setView(v);  // the comparison is rebuilt in the main view's colours
    QVERIFY(waitBuilt(panel));
    QCOMPARE(panel.model()->spec.scale.colormap, render::Colormap::Magma);
    QCOMPARE(panel.model()->spec.alpha, 0.25);
  }

  void probeRows() {
    ModuleRegistry registry;
    registerBuiltinModules(registry);
    Document doc(registry);
    openFramePair(doc);
    ComparePanel panel(&doc);
    panel.addModule(QStringLiteral("aff"));
    QVERIFY(waitBuilt(panel));
    panel.addModule(QStringLiteral("iaff"));
    QVERIFY(waitBuilt(panel));
    QCOMPARE(panel.model()->rows, 1);
    // Two probes in the field: two rows, each over both modules.
    auto* probe = panel.findChild<QLineEdit*>(QStringLiteral("compareProbe"));
    QVERIFY(probe);
    probe->setText(QStringLiteral("weight, output"));
    Q_EMIT probe->editingFinished();
    QVERIFY(waitBuilt(panel));
    const auto model = panel.model();
    QCOMPARE(model->rows, 2);
    QCOMPARE(model->panel(0, 1).probe, std::string("weight"));
    QCOMPARE(model->panel(1, 0).probe, std::string("output"));
    QCOMPARE(model->panel(1, 0).kind, figure::PanelKind::Map);
    // Rows with a view each (from a spec or session) stay as given while the fields are only
    // passed through, and give way to the fields once those are edited.
    figure::FigureSpec s = panel.currentSpec();
    s.rows = {figure::FigureRow{"weight", "mean", ""}, figure::FigureRow{"weight", "complement", ""}};
    panel.applySettings(s);
    QVERIFY(waitBuilt(panel));
    Q_EMIT probe->editingFinished();  // focus left the field, nothing typed
    QCOMPARE(panel.currentSpec().rows.size(), size_t{2});
    QCOMPARE(panel.currentSpec().rows[1].view, std::string("complement"));
    const auto& gate = panel.model()->panel(0, 0).values;
    const auto& other = panel.model()->panel(1, 0).values;
    QVERIFY(at::allclose(other, 1 - gate));
    probe->setText(QStringLiteral("weight"));
    Q_EMIT probe->editingFinished();
    QVERIFY(waitBuilt(panel));
    QCOMPARE(panel.model()->rows, 1);

    // Any pair of columns as A - B; what a spec sets that has no control here (a custom
    // width, dpi, fonts) survives into the panel's spec (and so into exports and sessions).
    s = panel.currentSpec();
    s.difference = std::make_pair(1, 0);
    s.layout.widthIn = 5.0;
    s.layout.dpi = 150;
    s.layout.fontSizePt = 6.5;
    panel.applySettings(s);
    QVERIFY(waitBuilt(panel));
    const figure::FigureSpec kept = panel.currentSpec();
    QVERIFY(kept.difference == std::make_optional(std::make_pair(1, 0)));
    QCOMPARE(kept.layout.widthIn, 5.0);
    QCOMPARE(kept.layout.dpi, 150.0);
    QCOMPARE(kept.layout.fontSizePt, 6.5);
    QCOMPARE(panel.model()->columns, 3);
    QCOMPARE(panel.model()->columnTitles.back(), panel.model()->columnTitles[1] + " - " + panel.model()->columnTitles[0]);
  }

  // The comparison is the document's, and its figure is drawn from cached runs: changing the
  // width, the colormap, the scale or a column's title runs no module (the job service counts
  // every run); a new column runs itself only, and one added back comes from the cache.
  void viewChangesRunNothing() {
    ModuleRegistry registry;
    registerBuiltinModules(registry);
    Document doc(registry);
    openFramePair(doc);
    ComparePanel panel(&doc);
    panel.resize(1000, 500);
    panel.show();
    panel.addModule(QStringLiteral("aff"));
    QVERIFY(waitBuilt(panel));
    panel.addModule(QStringLiteral("iaff"));
    QVERIFY(waitBuilt(panel));
    const int64_t runs = doc.jobs()->moduleRuns();
    QVERIFY(runs >= 2);

    auto* width = panel.findChild<QComboBox*>(QStringLiteral("compareWidth"));
    QVERIFY(width);
    width->setFocus();
    QTest::keyClick(width, Qt::Key_Down);  // single column
    QVERIFY(waitBuilt(panel));
    QCOMPARE(panel.model()->spec.layout.widthIn, 3.5);
    QCOMPARE(doc.comparison().layout.widthIn, 3.5);  // the document's, not the panel's

    ViewSettings v = doc.view();
    v.colormap = QStringLiteral("magma");
    doc.setView(v);
    QVERIFY(waitBuilt(panel));
    QCOMPARE(panel.model()->spec.scale.colormap, render::Colormap::Magma);

    auto* scale = panel.findChild<QComboBox*>(QStringLiteral("compareScale"));
    QVERIFY(scale);
    scale->setFocus();
    QTest::keyClick(scale, Qt::Key_Down);  // natural -> minmax
    QVERIFY(waitBuilt(panel));
    QCOMPARE(panel.model()->spec.scale.norm.mode, render::NormMode::MinMax);
    auto* shared = panel.findChild<QCheckBox*>(QStringLiteral("compareShared"));
    QVERIFY(shared);
    shared->setFocus();
    QTest::keyClick(shared, Qt::Key_Space);
    QVERIFY(waitBuilt(panel));
    QCOMPARE(panel.model()->spec.scale.shared, false);
    QVERIFY(panel.model()->panel(0, 0).colorbar != panel.model()->panel(0, 1).colorbar);

    panel.setColumnLabel(0, QStringLiteral("AFF trained"));
    QVERIFY(waitBuilt(panel));
    QCOMPARE(panel.model()->columnTitles[0], std::string("AFF trained"));
    QCOMPARE(doc.jobs()->moduleRuns(), runs);  // nothing ran for any of these

    panel.addModule(QStringLiteral("cafm"));
    QVERIFY(waitBuilt(panel));
    QCOMPARE(doc.jobs()->moduleRuns(), runs + 1);  // the new column only
    panel.removeColumn(2);
    QVERIFY(waitBuilt(panel));
    panel.addModule(QStringLiteral("cafm"));
    QVERIFY(waitBuilt(panel));
    QCOMPARE(doc.jobs()->moduleRuns(), runs + 1);  // back from the cache
    QCOMPARE(panel.model()->columns, 3);
  }

  /// Issue 13: a point of a TorchScript network as a column ("Add network point..."): listed
  /// on the job service, run beside a built-in module, its values the network's own, its run
  /// cached, and its export (script, point, sha256 in the spec) rendered again by the CLI.
  void networkPointColumn() {
    ModuleRegistry registry;
    registerBuiltinModules(registry);
    Document doc(registry);
    const QString src = QString::fromStdString(test::env("FL_SOURCE_DIR"));
    const QString boot = src + "/resources/images/garments/0-ankle_boot.png";
    const QString net = src + "/resources/demo/cbam.pt";
    doc.addInput(imageInput(boot, QStringLiteral("filterbank:channels=16,stride=2")));
    doc.setModule(QStringLiteral("cbam"));
    ComparePanel panel(&doc);
    panel.resize(1000, 500);
    panel.addModule(QStringLiteral("spatial-attention"));
    QVERIFY(waitBuilt(panel));

    QSignalSpy listed(panel.controller(), &CompareController::networkPointsListed);
    panel.controller()->listNetworkPoints(net);
    QTRY_VERIFY_WITH_TIMEOUT(listed.count() == 1, 60000);
    QCOMPARE(listed[0][3].toString(), QString());
    const QStringList points = listed[0][1].toStringList();
    QVERIFY2(points.contains("att.SpatialGate.sigmoid") && points.contains("att.ChannelGate.sigmoid"),
             qPrintable(points.join(", ")));
    // The network's first layer takes one channel: it reads the garment itself.
    QCOMPARE(listed[0][2].toString(), QStringLiteral("gray:stride=1,standardize=0"));

    panel.controller()->addNetworkPoint(net, QStringLiteral("att.SpatialGate.sigmoid"), listed[0][2].toString());
    // the document's column names the file by its hash as listed (sessions save it)
    QCOMPARE(doc.comparison().columns.back().sha256, sha256File(net.toStdString()));
    QVERIFY(waitBuilt(panel));
    auto model = panel.model();
    QCOMPARE(model->columns, 2);
    QCOMPARE(model->columnTitles[1], std::string("cbam: att.SpatialGate.sigmoid"));
    const auto& p = model->panel(0, 1);
    QCOMPARE(static_cast<int>(p.kind), static_cast<int>(figure::PanelKind::Map));
    QCOMPARE(p.probe, std::string("att.SpatialGate.sigmoid"));
    QCOMPARE(p.values.size(0), 14);  // the stem's stride 2 on the 28x28 garment

    // The network's own gate is the built-in CBAM with the trained weights on the trained stem.
    RunRequest req;
    req.moduleId = "cbam";
    req.params = {{"reduction", "16"}, {"kernel_size", "7"}};
    req.weightsPath = (src + "/resources/demo/cbam.weights.safetensors").toStdString();
    req.inputs = {imageFeatures(boot.toStdString(),
                                parseFeatureSpec("torchscript:path=" + (src + "/resources/demo/cbam.stem.pt").toStdString()),
                                nullptr)};
    const RunResult builtin = run(registry, req);
    QVERIFY2(builtin.ok, builtin.error.c_str());
    const at::Tensor gate = builtin.findProbe("spatial_weight")->value[0][0];
    QVERIFY2(at::allclose(p.values, gate, 1e-5, 1e-5), "the network's point differs from the built-in CBAM");

    // Another column reuses the network's run (same tensor, not a new run).
    const void* before = model->runs[1].probes[0].value.data_ptr();
    panel.addModule(QStringLiteral("se"));
    QVERIFY(waitBuilt(panel));
    QCOMPARE(panel.model()->runs[1].probes[0].value.data_ptr(), before);

    QTemporaryDir dir;
    const QString gui = dir.filePath("gui.png");
    QCOMPARE(panel.exportTo(gui, false), QString());
    QFile specFile(gui + ".spec.json");
    QVERIFY(specFile.open(QIODevice::ReadOnly));
    const QByteArray spec = specFile.readAll();
    QVERIFY2(spec.contains("\"script\"") && spec.contains("\"point\": \"att.SpatialGate.sigmoid\"") &&
                 spec.contains("\"sha256\": \"b4ad2c729fb5fd2e"),
             spec.constData());
    QProcess cli;
    cli.start(QString::fromStdString(test::env("FL_CLI")), {"render", gui + ".spec.json", "--out", dir.filePath("cli.png")});
    QVERIFY(cli.waitForFinished(120000));
    QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());
    QFile g(gui), c(dir.filePath("cli.png"));
    QVERIFY(g.open(QIODevice::ReadOnly) && c.open(QIODevice::ReadOnly));
    QVERIFY2(g.readAll() == c.readAll(), "the GUI's PNG and the CLI's PNG of a spec with a network point differ");
  }
};

}  // namespace fl::ui

QTEST_MAIN(fl::ui::CompareTest)
#include "test_compare.moc"
