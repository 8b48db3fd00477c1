// fusionlens: the desktop explorer. Wiring only: command line -> document and window.
#include <QApplication>
#include <QCommandLineParser>
#include <QDockWidget>
#include <QSettings>
#include <QTimer>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/common/error.h"
#include "core/common/versions.h"
#include "core/features/features.h"
#include "core/io/image.h"
#include "core/run/estimate_policy.h"
#include "core/modules/registry.h"
#include "core/common/memory.h"
#include "ui/document.h"
#include "ui/input_loader.h"
#include "ui/inputs_panel.h"
#include "ui/job_service.h"
#include "ui/main_window.h"
#include "ui/compare_panel.h"
#include "ui/module_panel.h"
#include "ui/run_controller.h"
#include "ui/session_controller.h"
#include "ui/timing.h"
#include "ui/qcp.h"
#include "ui/views/heatmap_panel.h"
#include "ui/views/map_view.h"

namespace {

/// FL_BENCH_FIRST_PAINT=1 (bench/interaction's cold start): once the first heatmap holding
/// a map has been painted, prints the steady-clock time (ns, the clock the benchmark started
/// the process by) and quits. Nothing else changes.
class FirstHeatmapPaint : public QObject {
 protected:
  bool eventFilter(QObject* obj, QEvent* e) override {
    if (done_ || e->type() != QEvent::Paint) return false;
    auto* panel = qobject_cast<fl::ui::HeatmapPanel*>(obj->parent());
    if (!panel || panel->mapWidth() <= 0 || obj != panel->plot()) return false;
    done_ = true;
    obj->event(e);  // its own paint first: the time is when the pixels are there
    std::printf("first-heatmap-painted-ns %lld\n",
                static_cast<long long>(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::fflush(stdout);
    QTimer::singleShot(0, qApp, [] { qApp->quit(); });
    return true;
  }

 private:
  bool done_ = false;
};

void setNames() {
  QCoreApplication::setApplicationName(QStringLiteral("FusionLens"));
  QCoreApplication::setOrganizationName(QStringLiteral("FusionLens"));
  QCoreApplication::setApplicationVersion(QString::fromStdString(fl::fusionLensVersion()));
}
}  // namespace

int main(int argc, char** argv) {
  fl::setAllocatorPolicy();
  fl::ui::timingMark("main entered (libraries loaded)");
  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("See what attention and feature-fusion modules do."));
  parser.addHelpOption();
  parser.addVersionOption();
  const QCommandLineOption demo(QStringLiteral("demo"), QStringLiteral("Open the demo: a CBAM network trained on Fashion-MNIST (resources/demo/) on a test garment, its trained stem as the feature backbone; also what opens when no file or session is given. File > Open example lists the others."));
  const QCommandLineOption module(QStringLiteral("module"), QStringLiteral("Select a module by id."), QStringLiteral("ID"));
  const QCommandLineOption set(QStringLiteral("set"), QStringLiteral("A module parameter KEY=VALUE (repeatable)."), QStringLiteral("KEY=VALUE"));
  const QCommandLineOption weights(QStringLiteral("weights"), QStringLiteral("Load a state_dict for the module."), QStringLiteral("FILE"));
  const QCommandLineOption features(QStringLiteral("features"), QStringLiteral("Feature source for images, e.g. filterbank:channels=64,stride=4."), QStringLiteral("SPEC"));
  const QCommandLineOption show(QStringLiteral("show"), QStringLiteral("Tensor to show: probe.NAME, output, input.NAME."), QStringLiteral("TENSOR"));
  const QCommandLineOption channel(QStringLiteral("channel"), QStringLiteral("Channel to show (default: mean)."), QStringLiteral("N"));
  const QCommandLineOption head(QStringLiteral("head"), QStringLiteral("Attention head (default: mean)."), QStringLiteral("N"));
  const QCommandLineOption query(QStringLiteral("query"), QStringLiteral("Query pixel X,Y of an attention view."), QStringLiteral("X,Y"));
  const QCommandLineOption colormap(QStringLiteral("colormap"), QStringLiteral("Colormap name."), QStringLiteral("NAME"));
  const QCommandLineOption scale(QStringLiteral("scale"), QStringLiteral("Colour scale: natural, minmax, percentile or symmetric."), QStringLiteral("MODE"));
  const QCommandLineOption memory(QStringLiteral("memory"), QStringLiteral("Memory budget of a run, e.g. 2G, 512M (0: 60% of free memory)."), QStringLiteral("SIZE"));
  const QCommandLineOption hideDock(QStringLiteral("hide-dock"), QStringLiteral("Hide a dock by name: inputs, module, compare (repeatable; for screenshots of one view)."), QStringLiteral("NAME"));
  const QCommandLineOption screenshot(QStringLiteral("screenshot"), QStringLiteral("Save the window to FILE after the first result, then quit."), QStringLiteral("FILE"));
  const QCommandLineOption compare(QStringLiteral("compare"), QStringLiteral("Compare these modules (comma-separated ids) in the Compare dock."), QStringLiteral("IDS"));
  // Not "--session": QGuiApplication takes -session/--session for X11 session management.
  const QCommandLineOption session(QStringLiteral("open-session"), QStringLiteral("Open a session file (saved with File > Save session); a .flsession file among the files does the same."), QStringLiteral("FILE"));
  parser.addOptions({compare, session});
  parser.addOptions({demo, module, set, weights, features, show, channel, head, query, colormap, scale, memory, hideDock, screenshot});
  parser.addPositionalArgument(QStringLiteral("files"), QStringLiteral("Images or tensor files to open, or a .flsession file."));
  // --help and --version need no display: answered before the GUI application (which aborts
  // without one) is made.
  for (int i = 1; i < argc; ++i) {
    const QString a = QString::fromLocal8Bit(argv[i]);
    if (a == QLatin1String("--")) break;
    if (a == QLatin1String("-h") || a == QLatin1String("--help") || a == QLatin1String("-?") ||
        a == QLatin1String("--help-all") || a == QLatin1String("-v") || a == QLatin1String("--version")) {
      QCoreApplication core(argc, argv);
      setNames();
      parser.process(core);  // prints and exits (or reports an unknown option, exit 1)
      return 0;
    }
  }
  QApplication::setHighDpiScaleFactorRoundingPolicy(Qt::HighDpiScaleFactorRoundingPolicy::PassThrough);
  QApplication app(argc, argv);
  setNames();
  parser.process(app);
  fl::ui::timingMark("QApplication made");

  FirstHeatmapPaint firstPaint;
  if (qEnvironmentVariableIsSet("FL_BENCH_FIRST_PAINT")) app.installEventFilter(&firstPaint);

  // The time estimate only feeds the busy bar's ETA here: the machine is measured for runs
  // that may take seconds, not before the first picture (estimate_policy.h).
  fl::setMeasureRatesAbove(2.0);

  fl::ModuleRegistry registry;
  fl::registerBuiltinModules(registry);
  fl::ui::Document document(registry);
  fl::ui::RunController runner(&document);
  fl::ui::InputLoader loader(document.jobs());
  // Images on the command line start loading on the worker now, while the window is built
  // (decoding and features take longer than building it); openFiles() below takes the load
  // over when it asks for the same files with the same features, and drops it otherwise.
  const QStringList startFiles = parser.positionalArguments();
  bool allImages = !startFiles.isEmpty() && !parser.isSet(session) && !parser.isSet(demo);
  for (const QString& f : startFiles) allImages = allImages && fl::isImageFile(f.toStdString());
  if (allImages) {
    loader.prefetch(startFiles, parser.isSet(features) ? parser.value(features)
                                                       : QString::fromStdString(fl::defaultFeatureSpecText()));
  }
  fl::ui::MainWindow window(&document, &runner, &loader);
  fl::ui::timingMark("window built");
  for (const QString& name : parser.values(hideDock)) {
    auto* dock = window.findChild<QDockWidget*>(name + QStringLiteral("Dock"));
    if (!dock) {
      std::fprintf(stderr, "fusionlens: --hide-dock: no dock named '%s'\n", qPrintable(name));
      return 2;
    }
    dock->hide();
  }
  window.show();
  fl::ui::timingMark("window shown");

  if (parser.isSet(memory)) {
    try {
      const QString text = parser.value(memory);
      document.setMemoryBudget(text == QStringLiteral("0") ? 0 : fl::parseBytes(text.toStdString()));
    } catch (const fl::Error& e) {
      std::fprintf(stderr, "fusionlens: --memory: %s\n", e.what());
      return 2;
    }
  }
  QStringList files = parser.positionalArguments();
  // No files and no session: the demo, not an empty window (a first start, `make run`).
  const bool nothingToOpen = files.isEmpty() && !parser.isSet(session);
  if (parser.isSet(demo) || nothingToOpen) window.openDemo();
  document.setModule(parser.isSet(module) ? parser.value(module) : QStringLiteral("cbam"));
  for (const QString& kv : parser.values(set)) {
    const int eq = kv.indexOf(QLatin1Char('='));
    if (eq > 0) document.setParam(kv.left(eq).toStdString(), kv.mid(eq + 1).toStdString());
  }
  if (parser.isSet(weights)) window.modulePanel()->loadWeights(parser.value(weights));
  fl::ui::ViewSettings v = document.view();
  if (parser.isSet(show)) v.tensor = parser.value(show);
  if (parser.isSet(channel)) v.channel = parser.value(channel).toInt();
  if (parser.isSet(head)) v.head = parser.value(head).toInt();
  if (parser.isSet(colormap)) v.colormap = parser.value(colormap);
  if (parser.isSet(scale)) {
    const QString mode = parser.value(scale);
    if (!QStringList{QStringLiteral("natural"), QStringLiteral("minmax"), QStringLiteral("percentile"), QStringLiteral("symmetric")}.contains(mode)) {
      std::fprintf(stderr, "fusionlens: --scale '%s' is not one of natural, minmax, percentile, symmetric\n", qPrintable(mode));
      return 2;
    }
    v.normalisation = mode;
  }
  if (parser.isSet(query)) {
    const QStringList xy = parser.value(query).split(QLatin1Char(','));
    if (xy.size() == 2) {
      v.queryX = xy[0].toInt();
      v.queryY = xy[1].toInt();
    }
  }
  document.setView(v);
  if (parser.isSet(features)) window.setFeatureSpec(parser.value(features));
  QString sessionFile = parser.value(session);
  for (auto it = files.begin(); it != files.end();) {
    if (it->endsWith(QStringLiteral(".flsession"), Qt::CaseInsensitive)) {
      sessionFile = *it;
      it = files.erase(it);
    } else {
      ++it;
    }
  }
  window.openFiles(files);
  if (parser.isSet(compare)) {
    for (const QString& id : parser.value(compare).split(QLatin1Char(','), Qt::SkipEmptyParts)) {
      window.comparePanel()->addModule(id.trimmed());
    }
    window.showCompare();
  }

  if (!sessionFile.isEmpty()) {
    // Also on the terminal: a scripted start (--screenshot) has nobody to read a message box.
    QObject::connect(window.sessions(), &fl::ui::SessionController::failed, &app, [&](const QString& message) {
      std::fprintf(stderr, "fusionlens: %s\n", qPrintable(message));
      if (parser.isSet(screenshot)) QTimer::singleShot(0, &app, [&app] { app.exit(2); });
    });
    QObject::connect(window.sessions(), &fl::ui::SessionController::restored, &app,
                     [](const QString&, const QStringList& problems, bool) {
                       for (const QString& p : problems) std::fprintf(stderr, "fusionlens: session: %s\n", qPrintable(p));
                     });
    window.openSession(sessionFile);
  }

  if (parser.isSet(screenshot)) {
    // Wait for the first result after all inputs arrived, let the plots settle, grab, quit.
    const QString file = parser.value(screenshot);
    auto* timer = new QTimer(&window);
    timer->setSingleShot(true);
    timer->setInterval(800);
    QObject::connect(&document, &fl::ui::Document::resultChanged, timer, qOverload<>(&QTimer::start));
    QObject::connect(timer, &QTimer::timeout, &window, [&] {
      // Heatmaps render on their views' own threads: a grab before they finish shows the old frame.
      bool rendering = false;
      for (const auto* view : window.findChildren<fl::ui::KindView*>()) rendering = rendering || view->rendering();
      if (document.jobs()->busy() || rendering) {
        timer->start();
        return;
      }
      window.grab().save(file);
      app.quit();
    });
    QTimer::singleShot(120000, &app, [&] { app.exit(3); });  // never hang a script
  }
  fl::ui::timingMark("event loop entered");
  const int rc = app.exec();
  // Queued jobs are dropped; one still running is asked to stop.
  document.jobs()->cancelAll();
  if (document.jobs()->running()) {
    // A forward may not stop midway and may take minutes: do not keep a closed window's
    // process alive for it. Settings are already written (closeEvent); nothing else to save.
    std::fprintf(stderr, "fusionlens: a job was still computing; quitting without waiting for it\n");
    QSettings().sync();
    std::_Exit(rc);
  }
  return rc;
}
