// bench/interaction: how long a change in the real window takes to reach the screen, and how
// long the app takes from process start to its first heatmap on screen (issue 15, item 4).
// A benchmark, never a test: it prints timings and asserts nothing about them.
//
//   fl_interaction_bench [--image PATH] [--size 512x480] [--features SPEC] [--reps 30]
//                        [--gui PATH --cold 5] [--json FILE]
//
// Interaction: the real MainWindow (offscreen), cbam on the image resized to --size and
// turned into features by --features (one feature pixel per image pixel by default), the view
// on its spatial map. Each repetition is one real input: an Up/Down key on the Module dock's
// kernel_size box (a parameter: the module runs again) or another colormap in the view bar
// (a view change: no run). Timed from just before the input to the end of the first paint of
// the heatmap's plot widget that shows the new picture (an event filter runs the widget's own
// paint, then takes the time). Broken down into: until the run started on the worker, the
// run (RunResult::totalMs on the worker), the document taking the result to the heatmap's
// replot starting (setResult, the map view's render on its own thread, the frame handed to the
// plot), of which the render thread's part, and the replot (drawing the map into the plot's
// buffer) to painted; the
// rest of the total is queueing and the result's trip to the GUI thread.
//
// Cold start: `--gui build/bin/fusionlens` started --cold times with FL_BENCH_FIRST_PAINT=1
// (app/gui_main.cpp then prints the steady-clock time at which the first heatmap holding a
// result was painted, and quits); timed from just before the process is started.
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QFileInfo>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest/QtTest>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include "core/common/blas_info.h"
#include "core/common/versions.h"
#include "core/modules/registry.h"
#include "ui/document.h"
#include "ui/input_loader.h"
#include "ui/job_service.h"
#include "ui/main_window.h"
#include "ui/module_panel.h"
#include "ui/qcp.h"
#include "ui/run_controller.h"
#include "ui/view_controls.h"
#include "ui/views/heatmap_panel.h"
#include "ui/views/map_view.h"
#include "ui/views/probe_view.h"

using namespace fl;
using namespace fl::ui;
using Clock = std::chrono::steady_clock;

namespace {

double msBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

/// Watches one plot widget: after `arm()`, the first paint that follows a replot (and, for
/// parameter changes, a new result) ends the measurement.
class PaintProbe : public QObject {
 public:
  explicit PaintProbe(QWidget* plot) : plot_(plot) { plot->installEventFilter(this); }
  void arm(bool needResult) {
    armed_ = true;
    needResult_ = needResult;
    gotResult_ = replotted_ = done_ = false;
    t0_ = Clock::now();
    tResult_ = tReplot_ = tPaint_ = {};
  }
  void onResult() {
    if (armed_ && !gotResult_) {
      gotResult_ = true;
      tResult_ = Clock::now();
    }
  }
  void onReplot() {
    if (armed_ && (gotResult_ || !needResult_)) {
      replotted_ = true;
      tReplot_ = Clock::now();
    }
  }
  bool done() const { return done_; }
  Clock::time_point t0() const { return t0_; }
  Clock::time_point tResult() const { return tResult_; }
  Clock::time_point tReplot() const { return tReplot_; }
  Clock::time_point tPaint() const { return tPaint_; }
  std::function<void()> onDone;

 protected:
  bool eventFilter(QObject* obj, QEvent* e) override {
    if (obj != plot_ || e->type() != QEvent::Paint || !armed_ || !replotted_) return false;
    armed_ = false;
    obj->removeEventFilter(this);
    obj->event(e);  // the widget's own paint, then the time: pixels are in the backing store
    obj->installEventFilter(this);
    tPaint_ = Clock::now();
    done_ = true;
    if (onDone) onDone();
    return true;
  }

 private:
  QWidget* plot_;
  bool armed_ = false, needResult_ = false, gotResult_ = false, replotted_ = false, done_ = false;
  Clock::time_point t0_, tResult_, tReplot_, tPaint_;
};

struct Stats {
  double median = 0, p90 = 0, min = 0, max = 0;
};

Stats stats(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const auto at = [&v](double q) {
    const double pos = q * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(pos);
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
  };
  s.median = at(0.5);
  s.p90 = at(0.9);
  s.min = v.front();
  s.max = v.back();
  return s;
}

QJsonObject statsJson(const std::vector<double>& v) {
  const Stats s = stats(v);
  return {{"median_ms", s.median}, {"p90_ms", s.p90}, {"min_ms", s.min}, {"max_ms", s.max},
          {"n", static_cast<int>(v.size())}};
}

/// Runs the event loop until `done()` or `ms` passed; false on timeout. Sleeps between events,
/// as the app's own event loop does: processEvents(flags, maxtime) drops WaitForMoreEvents and
/// returns at once when nothing is queued, so looping on it kept the GUI thread polling on one
/// of the machine's cores, against the worker's LibTorch threads and the render thread (it
/// made a run's time swing, and is not what the window does).
bool waitFor(const std::function<bool()>& done, int ms) {
  QElapsedTimer t;
  t.start();
  QTimer tick;  // wakes the blocked loop to look at the deadline
  tick.start(50);
  while (!done()) {
    if (t.elapsed() > ms) return false;
    QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
  }
  return true;
}

struct Series {
  std::vector<double> total, untilStart, run, deliverAndRebuild, render, paint;
};

}  // namespace

int main(int argc, char** argv) {
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  QStringList args = app.arguments();
  const auto value = [&args](const QString& name, const QString& fallback) {
    const int i = args.indexOf(name);
    return i >= 0 && i + 1 < args.size() ? args[i + 1] : fallback;
  };
  const QString image = value(QStringLiteral("--image"), QStringLiteral("/work/shared/data/images/fruits.jpg"));
  const QString size = value(QStringLiteral("--size"), QStringLiteral("512x480"));
  const QString features = value(QStringLiteral("--features"), QStringLiteral("filterbank:channels=16,stride=1"));
  const int reps = value(QStringLiteral("--reps"), QStringLiteral("30")).toInt();
  const QString gui = value(QStringLiteral("--gui"), QString());
  const int cold = value(QStringLiteral("--cold"), QStringLiteral("5")).toInt();
  const QString jsonPath = value(QStringLiteral("--json"), QString());
  const QStringList wh = size.split(QLatin1Char('x'));
  if (wh.size() != 2 || wh[0].toInt() <= 0 || wh[1].toInt() <= 0 || reps <= 0) {
    std::fprintf(stderr, "fl_interaction_bench: --size WxH (e.g. 512x480) and --reps N > 0\n");
    return 2;
  }
  QImage picture(image);
  if (picture.isNull()) {
    std::fprintf(stderr, "fl_interaction_bench: cannot read the image %s\n", qPrintable(image));
    return 2;
  }
  QTemporaryDir tmp;
  const QString resized = tmp.filePath(QStringLiteral("input.png"));
  picture.scaled(wh[0].toInt(), wh[1].toInt(), Qt::IgnoreAspectRatio, Qt::SmoothTransformation).save(resized);

  ModuleRegistry registry;
  registerBuiltinModules(registry);
  Document doc(registry);
  RunController runner(&doc);
  InputLoader loader(doc.jobs());
  MainWindow window(&doc, &runner, &loader);
  window.resize(1280, 800);
  window.show();
  if (!QTest::qWaitForWindowExposed(&window)) {
    std::fprintf(stderr, "fl_interaction_bench: the window was not exposed\n");
    return 1;
  }

  std::fprintf(stderr, "window exposed; loading the input\n");
  const LoadOutcome in = loadInputFile(resized, features);
  if (!in.ok) {
    std::fprintf(stderr, "fl_interaction_bench: %s\n", qPrintable(in.error));
    return 2;
  }
  const auto shape = in.item.tensor.sizes();
  doc.setModule(QStringLiteral("cbam"));
  doc.addInput(in.item);
  ViewSettings v = doc.view();
  v.tensor = QStringLiteral("probe.spatial_weight");
  doc.setView(v);
  if (!waitFor([&] { return doc.result() && !runner.busy(); }, 120000)) {
    std::fprintf(stderr, "fl_interaction_bench: the first run did not finish: %s\n", qPrintable(doc.lastError()));
    return 1;
  }
  v = doc.view();
  v.tensor = QStringLiteral("probe.spatial_weight");
  doc.setView(v);
  QTest::qWait(200);
  if (window.probeView()->currentPage() != ViewPage::Heatmap) {
    std::fprintf(stderr, "fl_interaction_bench: the view is not on a heatmap\n");
    return 1;
  }

  std::fprintf(stderr, "first result shown; timing\n");
  HeatmapPanel* heatmap = window.probeView()->heatmap();
  PaintProbe probe(heatmap->plot());
  QObject::connect(&doc, &Document::resultChanged, &probe, [&probe] { probe.onResult(); });
  // beforeReplot: the new data is in place; QCustomPlot may repaint inside replot() (before
  // afterReplot), so the flag is set when the replot starts.
  QObject::connect(heatmap->plot(), &QCustomPlot::beforeReplot, &probe, [&probe] { probe.onReplot(); });
  Clock::time_point runStarted{};
  double runMs = 0;
  QObject::connect(&runner, &RunController::started, &probe, [&runStarted](uint64_t) { runStarted = Clock::now(); });
  QObject::connect(&runner, &RunController::finished, &probe, [&runMs](uint64_t, bool, double ms) { runMs = ms; });

  double renderMs = 0;  // the map view's render thread (colours, range, cells): off the GUI thread
  QObject::connect(window.probeView()->mapView(), &MapView::frameShown, &probe, [&renderMs](double ms) { renderMs = ms; });

  auto* spin = window.modulePanel()->findChild<QSpinBox*>(QStringLiteral("param_kernel_size"));
  QComboBox* colormap = nullptr;
  for (QComboBox* c : window.viewControls()->findChildren<QComboBox*>()) {
    if (c->findText(QStringLiteral("magma")) >= 0 && c->findText(QStringLiteral("viridis")) >= 0) colormap = c;
  }
  if (!spin || !colormap) {
    std::fprintf(stderr, "fl_interaction_bench: kernel_size box or colormap box not found\n");
    return 1;
  }

  Series param, view;
  int timeouts = 0;
  for (int i = 0; i < reps; ++i) {
    // A parameter: kernel_size steps 7 -> 9 -> 7 ... (odd values only), by the keyboard.
    probe.arm(true);
    runStarted = {};
    runMs = 0;
    renderMs = 0;
    QTest::keyClick(spin, i % 2 == 0 ? Qt::Key_Up : Qt::Key_Down);
    if (!waitFor([&] { return probe.done(); }, 30000)) {
      ++timeouts;
    } else {
      param.total.push_back(msBetween(probe.t0(), probe.tPaint()));
      param.untilStart.push_back(runStarted == Clock::time_point{} ? 0 : msBetween(probe.t0(), runStarted));
      param.run.push_back(runMs);
      param.deliverAndRebuild.push_back(msBetween(probe.tResult(), probe.tReplot()));
      param.render.push_back(renderMs);
      param.paint.push_back(msBetween(probe.tReplot(), probe.tPaint()));
    }
    waitFor([&] { return !runner.busy(); }, 30000);
    QTest::qWait(30);

    // A view change: another colormap (no run).
    probe.arm(false);
    renderMs = 0;
    colormap->setCurrentIndex(colormap->findText(i % 2 == 0 ? QStringLiteral("magma") : QStringLiteral("viridis")));
    if (!waitFor([&] { return probe.done(); }, 30000)) {
      ++timeouts;
    } else {
      view.total.push_back(msBetween(probe.t0(), probe.tPaint()));
      view.deliverAndRebuild.push_back(msBetween(probe.t0(), probe.tReplot()));
      view.render.push_back(renderMs);
      view.paint.push_back(msBetween(probe.tReplot(), probe.tPaint()));
    }
    QTest::qWait(30);
  }

  std::vector<double> coldDemo, coldImage;
  QString coldError;
  if (!gui.isEmpty() && cold > 0) {
    const auto coldRun = [&](const QStringList& guiArgs, std::vector<double>* out) {
      QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
      env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
      env.insert(QStringLiteral("FL_BENCH_FIRST_PAINT"), QStringLiteral("1"));
      env.insert(QStringLiteral("XDG_CONFIG_HOME"), tmp.filePath(QStringLiteral("config")));
      env.insert(QStringLiteral("XDG_CACHE_HOME"), tmp.filePath(QStringLiteral("cache")));
      QProcess p;
      p.setProcessEnvironment(env);
      const Clock::time_point t0 = Clock::now();
      p.start(gui, guiArgs);
      if (!p.waitForFinished(120000)) {
        p.kill();
        p.waitForFinished();
        coldError = QStringLiteral("timeout");
        return;
      }
      const QString outText = QString::fromLocal8Bit(p.readAllStandardOutput());
      const int at = outText.indexOf(QStringLiteral("first-heatmap-painted-ns "));
      if (at < 0) {
        coldError = QStringLiteral("no first-paint line (exit %1): %2")
                        .arg(p.exitCode())
                        .arg(QString::fromLocal8Bit(p.readAllStandardError()).trimmed().right(300));
        return;
      }
      const qint64 ns = outText.mid(at + 25).section(QLatin1Char('\n'), 0, 0).trimmed().toLongLong();
      out->push_back((static_cast<double>(ns) - static_cast<double>(t0.time_since_epoch().count())) / 1e6);
    };
    for (int i = 0; i < cold; ++i) {
      coldRun({QStringLiteral("--demo")}, &coldDemo);
      coldRun({QStringLiteral("--module"), QStringLiteral("cbam"), QStringLiteral("--show"),
               QStringLiteral("probe.spatial_weight"), QStringLiteral("--features"), features, resized},
              &coldImage);
    }
  }

  const auto line = [](const char* what, const std::vector<double>& v) {
    const Stats s = stats(v);
    std::printf("  %-44s median %8.1f ms   p90 %8.1f ms   (min %.1f, max %.1f, n=%zu)\n", what, s.median, s.p90,
                s.min, s.max, v.size());
  };
  std::printf("interaction: cbam on %s resized to %s, features %s -> input [%lld,%lld,%lld,%lld], %d threads, %s\n",
              qPrintable(QFileInfo(image).fileName()), qPrintable(size), qPrintable(features),
              static_cast<long long>(shape[0]), static_cast<long long>(shape[1]), static_cast<long long>(shape[2]),
              static_cast<long long>(shape[3]), JobService::workerThreads(), blasInfo().summary().c_str());
  std::printf("parameter change (kernel_size key), input -> heatmap painted:\n");
  line("total", param.total);
  line("  input -> run started on the worker", param.untilStart);
  line("  run (worker wall time)", param.run);
  line("  document got the result -> replot starts", param.deliverAndRebuild);
  line("    of which the render thread", param.render);
  line("  replot starts -> painted", param.paint);
  std::printf("view change (colormap), input -> heatmap painted:\n");
  line("total", view.total);
  line("  input -> replot starts", view.deliverAndRebuild);
  line("    of which the render thread", view.render);
  line("  replot starts -> painted", view.paint);
  if (!coldDemo.empty() || !coldImage.empty()) {
    std::printf("cold start, process start -> first heatmap painted:\n");
    line("fusionlens --demo", coldDemo);
    line("fusionlens --module cbam <image>", coldImage);
  }
  if (!coldError.isEmpty()) std::printf("cold start error: %s\n", qPrintable(coldError));
  if (timeouts) std::printf("timeouts: %d\n", timeouts);

  if (!jsonPath.isEmpty()) {
    QJsonObject j{{"module", "cbam"},
                  {"image", QFileInfo(image).fileName()},
                  {"size", size},
                  {"features", features},
                  {"input_shape", QJsonArray{static_cast<qint64>(shape[0]), static_cast<qint64>(shape[1]),
                                             static_cast<qint64>(shape[2]), static_cast<qint64>(shape[3])}},
                  {"threads", JobService::workerThreads()},
                  {"blas", QString::fromStdString(blasInfo().summary())},
                  {"reps", reps},
                  {"timeouts", timeouts},
                  {"param_total", statsJson(param.total)},
                  {"param_until_start", statsJson(param.untilStart)},
                  {"param_run", statsJson(param.run)},
                  {"param_rebuild", statsJson(param.deliverAndRebuild)},
                  {"param_render", statsJson(param.render)},
                  {"param_paint", statsJson(param.paint)},
                  {"view_total", statsJson(view.total)},
                  {"view_rebuild", statsJson(view.deliverAndRebuild)},
                  {"view_render", statsJson(view.render)},
                  {"view_paint", statsJson(view.paint)},
                  {"cold_demo", statsJson(coldDemo)},
                  {"cold_image", statsJson(coldImage)},
                  {"cold_error", coldError}};
    QFile f(jsonPath);
    if (!f.open(QIODevice::WriteOnly)) {
      std::fprintf(stderr, "fl_interaction_bench: cannot write %s\n", qPrintable(jsonPath));
      return 1;
    }
    f.write(QJsonDocument(j).toJson());
  }
  runner.waitForIdle();
  return timeouts ? 1 : 0;
}
