// Sessions, offscreen, with the whole main window: save a session, move its folder,
// open it in a fresh window and get the same state back (and the same file when saved again);
// open it with files missing and get the rest plus a list of what is missing; refuse broken
// or newer session files without changing anything.
#include <ATen/ATen.h>

#include <QApplication>
#include <QDir>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QFile>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

#include "core/io/safetensors.h"
#include "core/io/state_dict.h"
#include "core/modules/module_instance.h"
#include "core/modules/registry.h"
#include "tests/test_env.h"
#include "ui/compare_panel.h"
#include "ui/document.h"
#include "ui/input_loader.h"
#include "ui/main_window.h"
#include "ui/module_panel.h"
#include "ui/run_controller.h"
#include "ui/session.h"
#include "ui/session_controller.h"

namespace fl::ui {

namespace {

const QString kFeatures = QStringLiteral("filterbank:channels=16,stride=8");

/// One explorer: document, controllers and window, as gui_main wires them.
struct Explorer {
  explicit Explorer(const ModuleRegistry& registry)
      : document(registry), runner(&document), window(&document, &runner, &loader) {
    runner.setAutoRun(false);  // the state is what is compared, not runs
  }
  Document document;
  RunController runner;
  InputLoader loader;
  MainWindow window;

  bool waitFor(const std::function<bool()>& done) {
    QElapsedTimer t;
    t.start();
    while (!done() && t.elapsed() < 60000) QTest::qWait(20);
    return done();
  }

  /// Opens the session and waits for it to be restored; returns the problems.
  QStringList open(const QString& path, bool* ok) {
    QSignalSpy restored(window.sessions(), &SessionController::restored);
    window.openSession(path);
    *ok = waitFor([&] { return restored.count() > 0; });
    return *ok ? restored.front().at(1).toStringList() : QStringList();
  }
};

bool sameTensor(const at::Tensor& a, const at::Tensor& b) {
  return a.defined() && b.defined() && a.sizes() == b.sizes() && at::equal(a, b);
}

QByteArray readAll(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

}  // namespace

class SessionTest : public QObject {
  Q_OBJECT
 private:
  ModuleRegistry registry_;
  QTemporaryDir dir_;
  QString sessionPath_;  // the saved session, after its folder was moved

 private Q_SLOTS:
  void initTestCase() {
    registerBuiltinModules(registry_);
    QVERIFY(dir_.isValid());
  }

  void roundTripAfterMovingTheFolder() {
    const QString a = dir_.filePath("project");
    QVERIFY(QDir().mkpath(a + "/images"));
    const QString images = QString::fromStdString(test::env("FL_SOURCE_DIR")) + "/resources/images/";
    QVERIFY(QFile::copy(images + "rubberwhale1.png", a + "/images/left.png"));
    QVERIFY(QFile::copy(images + "rubberwhale2.png", a + "/images/right.png"));
    // Trained-looking weights for aff (r=2, 16 channels): random, saved as a state_dict.
    {
      const ModuleDescriptor* d = registry_.find("aff");
      const auto inst = d->make(resolveParams("aff", d->params, {{"r", "2"}}), {{1, 16, 8, 8}, {1, 16, 8, 8}});
      NamedTensors sd;
      at::manual_seed(7);
      for (auto& [name, t] : moduleStateDict(*inst->module)) {
        at::Tensor v = t.detach().clone();
        if (v.is_floating_point()) v.uniform_(0.1, 0.9);
        sd.emplace_back(name, v);
      }
      writeSafetensors((a + "/aff_trained.safetensors").toStdString(), sd);
    }

    Explorer first(registry_);
    first.window.setFeatureSpec(kFeatures);
    first.window.openFiles({a + "/images/left.png", a + "/images/right.png"});
    QVERIFY(first.waitFor([&] { return first.document.inputs().size() == 2 && !first.loader.busy(); }));
    first.document.setModule(QStringLiteral("aff"));
    first.document.setParam("r", "2");
    first.document.setParam("scale", "2");
    first.document.assign(0, 1);  // swapped: right image is x, left is the residual
    first.document.assign(1, 0);
    first.window.modulePanel()->loadWeights(a + "/aff_trained.safetensors");
    QVERIFY(first.waitFor([&] { return !first.document.weightsPath().isEmpty(); }));
    first.document.setDevice(DeviceChoice::Cpu);
    first.document.setMemoryBudget(int64_t{1} << 30);
    ViewSettings v;
    v.tensor = QStringLiteral("probe.weight");
    v.colormap = QStringLiteral("magma");
    v.normalisation = QStringLiteral("percentile");
    v.percentileLo = 2.5;
    v.percentileHi = 97.5;
    v.alpha = 0.35;
    v.channel = 3;
    v.complement = true;
    v.sortBars = true;
    v.topK = 8;
    first.document.setView(v);
    ComparePanel* cmp = first.window.comparePanel();
    cmp->addModule(QStringLiteral("iaff"));
    cmp->addCurrentModule();  // aff with r=2, scale=2 and the trained weights
    figure::FigureSpec layout = cmp->currentSpec();
    layout.rows = {figure::FigureRow{"weight", "complement", ""}};
    layout.scale.norm.mode = render::NormMode::MinMax;
    layout.scale.shared = false;
    layout.difference = std::make_pair(1, 0);  // aff - iaff
    layout.layout.widthIn = 3.5;
    cmp->applySettings(layout);
    first.window.showCompare();
    QVERIFY(first.waitFor([&] { return !cmp->busy(); }));

    const QString saved = a + "/study.flsession";
    QCOMPARE(first.window.sessions()->save(saved, true), QString());
    const QByteArray text = readAll(saved);
    // Paths are relative to the session file; a schema version leads the file.
    QVERIFY2(text.contains("\"schema_version\": 1"), text.constData());
    QVERIFY2(text.contains("\"path\": \"images/left.png\""), text.constData());
    QVERIFY2(text.contains("\"weights\": \"aff_trained.safetensors\""), text.constData());
    QVERIFY2(!text.contains(a.toUtf8()), "an absolute path was written");

    // Move the whole folder: the session must follow it.
    const QString b = dir_.filePath("moved");
    QVERIFY(QDir().rename(a, b));
    sessionPath_ = b + "/study.flsession";

    Explorer second(registry_);
    bool ok = false;
    const QStringList problems = second.open(sessionPath_, &ok);
    QVERIFY(ok);
    QVERIFY2(problems.isEmpty(), qPrintable(problems.join("; ")));
    const Document& d1 = first.document;
    const Document& d2 = second.document;
    QCOMPARE(d2.inputs().size(), size_t{2});
    for (size_t i = 0; i < 2; ++i) {
      QCOMPARE(d2.inputs()[i].path, QDir(b).filePath(QDir(a).relativeFilePath(d1.inputs()[i].path)));
      QCOMPARE(d2.inputs()[i].featureSpec, kFeatures);
      QVERIFY(sameTensor(d2.inputs()[i].tensor, d1.inputs()[i].tensor));
    }
    QCOMPARE(d2.assignment(), (std::vector<int>{1, 0}));
    QCOMPARE(d2.moduleId(), QStringLiteral("aff"));
    QCOMPARE(d2.params(), d1.params());
    QCOMPARE(d2.weightsPath(), b + "/aff_trained.safetensors");
    const RunRequest r1 = d1.makeRequest(1), r2 = d2.makeRequest(1);
    QVERIFY(r2.weights);
    QCOMPARE(r2.weights->size(), r1.weights->size());
    for (size_t i = 0; i < r1.weights->size(); ++i) {
      QCOMPARE((*r2.weights)[i].first, (*r1.weights)[i].first);
      QVERIFY(sameTensor((*r2.weights)[i].second, (*r1.weights)[i].second));
    }
    QCOMPARE(d2.device(), DeviceChoice::Cpu);
    QCOMPARE(d2.memoryBudget(), int64_t{1} << 30);
    const ViewSettings& w = d2.view();
    QCOMPARE(w.tensor, v.tensor);
    QCOMPARE(w.colormap, v.colormap);
    QCOMPARE(w.normalisation, v.normalisation);
    QCOMPARE(w.percentileLo, v.percentileLo);
    QCOMPARE(w.percentileHi, v.percentileHi);
    QCOMPARE(w.alpha, v.alpha);
    QCOMPARE(w.channel, v.channel);
    QCOMPARE(w.complement, v.complement);
    QCOMPARE(w.sortBars, v.sortBars);
    QCOMPARE(w.topK, v.topK);
    // The parameter form shows the restored values, not the defaults.
    auto* rSpin = second.window.modulePanel()->findChild<QSpinBox*>(QStringLiteral("param_r"));
    QVERIFY(rSpin);
    QCOMPARE(rSpin->value(), 2);
    // The comparison: same columns (weights found in the new folder), same layout, shown.
    const ComparePanel* cmp2 = second.window.comparePanel();
    QVERIFY(!cmp2->parentWidget()->isHidden());
    QCOMPARE(cmp2->columns().size(), size_t{2});
    QCOMPARE(QString::fromStdString(cmp2->columns()[0].module), QStringLiteral("iaff"));
    QCOMPARE(QString::fromStdString(cmp2->columns()[1].module), QStringLiteral("aff"));
    QCOMPARE(cmp2->columns()[1].params, d1.params());
    QCOMPARE(QString::fromStdString(cmp2->columns()[1].weights.path), b + "/aff_trained.safetensors");
    const figure::FigureSpec s2 = cmp2->currentSpec();
    QCOMPARE(QString::fromStdString(s2.rows.at(0).probe), QStringLiteral("weight"));
    QCOMPARE(QString::fromStdString(s2.rows.at(0).view), QStringLiteral("complement"));
    QCOMPARE(s2.scale.norm.mode, render::NormMode::MinMax);
    QCOMPARE(s2.scale.shared, false);
    QVERIFY(s2.difference == std::make_optional(std::make_pair(1, 0)));
    QCOMPARE(s2.layout.widthIn, 3.5);

    // Saved again from the restored window, the session is the same file.
    const QString again = b + "/again.flsession";
    QCOMPARE(second.window.sessions()->save(again, true), QString());
    QCOMPARE(readAll(again), readAll(sessionPath_));
    QVERIFY(second.waitFor([&] { return !cmp2->busy(); }));
  }

  void missingFilesAreListedAndTheRestRestored() {
    QVERIFY(!sessionPath_.isEmpty());
    const QString b = QFileInfo(sessionPath_).absolutePath();
    QVERIFY(QFile::rename(b + "/images/right.png", b + "/right-renamed.png"));
    QVERIFY(QFile::rename(b + "/aff_trained.safetensors", b + "/elsewhere.safetensors"));
    Explorer third(registry_);
    // A file still loading when the session opens belongs to the replaced state.
    third.window.setFeatureSpec(kFeatures);
    third.window.openFiles({QString::fromStdString(test::env("FL_SOURCE_DIR")) + "/resources/images/fruits.jpg"});
    bool ok = false;
    const QStringList problems = third.open(sessionPath_, &ok);
    QVERIFY(ok);
    third.loader.waitForIdle();
    QTest::qWait(50);
    const QString all = problems.join('\n');
    QVERIFY2(all.contains("images/right.png"), qPrintable(all));
    QVERIFY2(all.contains("aff_trained.safetensors"), qPrintable(all));
    QVERIFY2(all.contains("compare column 2 (aff) left out"), qPrintable(all));
    const Document& d = third.document;
    QCOMPARE(d.inputs().size(), size_t{1});  // left.png only
    QVERIFY(d.inputs()[0].path.endsWith("images/left.png"));
    QCOMPARE(d.assignment(), (std::vector<int>{-1, 0}));  // x was the missing right image
    QVERIFY(!d.readiness().isEmpty());                   // and the panel says so
    QCOMPARE(d.moduleId(), QStringLiteral("aff"));
    QCOMPARE(d.params().at("scale"), std::string("2"));
    QVERIFY(d.weightsPath().isEmpty());  // seeded init, said in the problems
    QCOMPARE(d.view().colormap, QStringLiteral("magma"));
    QCOMPARE(third.window.comparePanel()->columns().size(), size_t{1});
    QVERIFY(!third.window.comparePanel()->currentSpec().difference.has_value());
    QVERIFY(third.waitFor([&] { return !third.window.comparePanel()->busy(); }));
    // Put the files back for later cases.
    QVERIFY(QFile::rename(b + "/right-renamed.png", b + "/images/right.png"));
    QVERIFY(QFile::rename(b + "/elsewhere.safetensors", b + "/aff_trained.safetensors"));
  }

  void unreadableSessionsChangeNothing() {
    Explorer e(registry_);
    e.window.setFeatureSpec(kFeatures);
    const QString images = QString::fromStdString(test::env("FL_SOURCE_DIR")) + "/resources/images/";
    e.window.openFiles({images + "fruits.jpg"});
    QVERIFY(e.waitFor([&] { return e.document.inputs().size() == 1 && !e.loader.busy(); }));
    e.document.setModule(QStringLiteral("eca"));
    struct Case {
      const char* name;
      QByteArray text;
      const char* expected;  // in the message
    };
    const Case cases[] = {
        {"garbage.flsession", "this is not json", "not valid JSON"},
        {"list.flsession", "[1, 2]", "not a JSON object"},
        {"newer.flsession", "{\"schema_version\": 99}", "newer version"},
        {"unversioned.flsession", "{\"module\": \"eca\"}", "'schema_version' is missing"},
        {"typo.flsession", "{\"schema_version\": 1, \"modul\": \"eca\"}", "'modul' is not a known key"},
        {"badview.flsession", "{\"schema_version\": 1, \"view\": {\"alpha\": 3}}", "'view.alpha' must be in [0, 1]"},
        {"badindex.flsession", "{\"schema_version\": 1, \"inputs\": [], \"assignment\": [4]}", "'assignment[0]'"},
        {"badlayout.flsession",
         "{\"schema_version\": 1, \"compare\": {\"layout\": {\"schema_version\": 1, \"inputs\": [], \"columns\": [], "
         "\"rows\": [{\"probe\": \"auto\", \"veiw\": \"mean\"}]}}}",
         "veiw"},
    };
    for (const Case& c : cases) {
      const QString path = dir_.filePath(c.name);
      QFile f(path);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write(c.text);
      f.close();
      QSignalSpy failed(e.window.sessions(), &SessionController::failed);
      QSignalSpy restored(e.window.sessions(), &SessionController::restored);
      e.window.openSession(path);
      QCOMPARE(failed.count(), 1);
      const QString message = failed.front().at(0).toString();
      QVERIFY2(message.contains(path) || message.contains(c.name), qPrintable(message));
      QVERIFY2(message.contains(c.expected), qPrintable(message));
      QTest::qWait(50);
      QCOMPARE(restored.count(), 0);
      QCOMPARE(e.document.inputs().size(), size_t{1});
      QCOMPARE(e.document.moduleId(), QStringLiteral("eca"));
    }
    QSignalSpy failed(e.window.sessions(), &SessionController::failed);
    e.window.openSession(dir_.filePath("no-such.flsession"));
    QCOMPARE(failed.count(), 1);
    QVERIFY(failed.front().at(0).toString().contains("cannot open"));
  }

  void featureModelPathsMoveWithTheSession() {
    // A torchscript feature source names a model file: relative in the file like the inputs,
    // absolute once read, and listed when missing.
    SessionState s;
    s.inputs.push_back({QStringLiteral("/data/study/img.png"),
                        QStringLiteral("torchscript:path=/data/study/models/r18.pt,output=1")});
    const std::string text = sessionJson(s, QStringLiteral("/data/study/s.flsession"));
    QVERIFY2(text.find("\"features\": \"torchscript:path=models/r18.pt,output=1\"") != std::string::npos, text.c_str());
    const SessionState back = parseSession(text, QStringLiteral("/elsewhere/s.flsession"));
    QCOMPARE(back.inputs.at(0).path, QStringLiteral("/elsewhere/img.png"));
    QCOMPARE(back.inputs.at(0).features, QStringLiteral("torchscript:path=/elsewhere/models/r18.pt,output=1"));
    const QString missing = missingFiles(back).join('\n');
    QVERIFY2(missing.contains(QStringLiteral("feature model of input 1: /elsewhere/models/r18.pt")), qPrintable(missing));
  }

  void writeErrorsNameTheFile() {
    // Writing goes through QSaveFile (a temporary file renamed over the old one); here: a
    // failure names the file, and a replaced session leaves no temporary file behind.
    ModuleRegistry registry;
    registerBuiltinModules(registry);
    Document doc(registry);
    doc.setModule(QStringLiteral("cbam"));
    const QString bad = dir_.filePath("no-such-folder/s.flsession");
    try {
      writeSession(captureSession(doc, false), bad);
      QFAIL("a session was written into a folder that does not exist");
    } catch (const Error& e) {
      QVERIFY2(QString::fromUtf8(e.what()).contains(bad), e.what());
    }
    QTemporaryDir dir;
    const QString path = dir.filePath("s.flsession");
    writeSession(captureSession(doc, false), path);
    doc.setModule(QStringLiteral("eca"));
    writeSession(captureSession(doc, false), path);
    QVERIFY(readAll(path).contains("\"module\": \"eca\""));
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files), QStringList{"s.flsession"});
  }
};

}  // namespace fl::ui

QTEST_MAIN(fl::ui::SessionTest)
#include "test_session.moc"
