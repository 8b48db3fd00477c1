// The desktop explorer under QtTest (offscreen): each view plots exactly the probe's data
// (the data behind the plot, not pixels), stale results are dropped, cancel is honest, a
// failing run keeps the last good result and says why without a dialog, bad or dropped files
// are handled, attention rows come on demand when the matrix was withheld, and the demo shows
// a heatmap.
#include <ATen/ATen.h>

#include <QMimeData>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QWheelEvent>
#include <QStatusBar>
#include <QtTest/QtTest>
#include "core/render/reductions.h"
#include "ui/qcp.h"

#include "test_registry.h"
#include "core/modules/registry.h"
#include "ui/document.h"
#include "ui/examples.h"
#include "ui/input_loader.h"
#include "core/features/features.h"
#include "core/io/npy.h"
#include "core/io/safetensors.h"
#include "core/io/state_dict.h"
#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/common/memory.h"
#include "core/run/memory_meter.h"
#include "core/run/run.h"
#include "core/run/weights_match.h"
#include "core/run/result_export.h"
#include "ui/job_service.h"
#include "ui/main_window.h"
#include "ui/module_panel.h"
#include "ui/result_export.h"
#include "ui/run_controller.h"
#include "ui/view_controls.h"
#include "ui/error_text.h"
#include "ui/views/bar_panel.h"
#include "ui/views/heatmap_panel.h"
#include "ui/views/map_view.h"
#include "ui/views/attention_view.h"
#include "ui/views/probe_view.h"
#include "test_env.h"

#include <thread>

using namespace fl;
using namespace fl::ui;

namespace {

using fl::test::registry;

double cell(const HeatmapPanel* p, int c, int r) { return p->colorMap()->data()->cell(c, r); }

void expectMap(const HeatmapPanel* p, const at::Tensor& want) {
  const at::Tensor w = want.to(at::kDouble).contiguous();
  QCOMPARE(p->mapHeight(), static_cast<int>(w.size(0)));
  QCOMPARE(p->mapWidth(), static_cast<int>(w.size(1)));
  for (int r = 0; r < w.size(0); ++r) {
    for (int c = 0; c < w.size(1); ++c) {
      // float32 data: equal up to float rounding of the reduction order
      QVERIFY2(std::fabs(cell(p, c, r) - w[r][c].item<double>()) <= 1e-6 + 1e-6 * std::fabs(w[r][c].item<double>()),
               qPrintable(QStringLiteral("cell (%1, %2)").arg(c).arg(r)));
    }
  }
}

/// Chooses module `id` and opens one random input of `shape` for each of its inputs.
void openRandomInputs(Document& doc, const QString& id, at::IntArrayRef shape) {
  doc.setModule(id);
  for (size_t i = 0; i < doc.descriptor()->inputs.size(); ++i) {
    InputItem item;
    item.label = QStringLiteral("x%1").arg(i);
    item.tensor = at::randn(shape);
    doc.addInput(item);
  }
}

/// A document holding a real result of `id` on random inputs, with the view on `tensor`.
void runInto(Document& doc, const QString& id, const QString& tensor, int64_t c = 8, int64_t h = 5, int64_t w = 7) {
  openRandomInputs(doc, id, {2, c, h, w});
  RunResult res = run(registry(), doc.makeRequest(1));
  QVERIFY2(res.ok, res.error.c_str());
  doc.setResult(std::move(res));
  ViewSettings v = doc.view();
  v.tensor = tensor;
  v.batch = 1;
  doc.setView(v);
}

/// The status bar's texts, joined (messages, run statistics).
QString statusText(MainWindow& w) {
  QStringList parts;
  for (const QLabel* l : w.statusBar()->findChildren<QLabel*>()) parts << l->text();
  return parts.join(QStringLiteral(" | "));
}

/// Drags `urls` onto the window and drops them, as a file manager does; true when accepted.
bool dropUrls(MainWindow& w, const QList<QUrl>& urls) {
  QMimeData mime;
  mime.setUrls(urls);
  const QPoint at(w.width() / 2, w.height() / 2);
  QDragEnterEvent enter(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QApplication::sendEvent(&w, &enter);
  if (!enter.isAccepted()) return false;
  QDropEvent drop(QPointF(at), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QApplication::sendEvent(&w, &drop);
  return true;
}

/// cmgm on two [2,64,5,7] inputs with a budget that withholds the attention probe, and the
/// probe of the same request under a budget where it fits (the reference for rows).
struct WithheldCmgm {
  int64_t budget = 0;
  at::Tensor fullAttention;  // [2, 8, 35, 35]
};

WithheldCmgm setUpWithheldCmgm(Document& doc) {
  openRandomInputs(doc, QStringLiteral("cmgm"), {2, 64, 5, 7});
  const ModuleDescriptor* d = doc.descriptor();
  const Params p = resolveParams(d->id, d->params, {});
  const std::vector<Shape> shapes{{2, 64, 5, 7}, {2, 64, 5, 7}};
  WithheldCmgm out;
  const int64_t lo = d->minMemoryBytes(p, shapes), hi = d->memoryBytes(p, shapes);
  // The budget counts the weights too (core/run/memory_plan): they come on top of the forward.
  out.budget = desc::stateBytes(d->state(p, shapes)) + lo + (hi - lo) / 10;
  RunRequest full = doc.makeRequest(1000);
  full.maxMemoryBytes = int64_t{1} << 30;
  const RunResult r = run(registry(), full);
  if (r.ok && r.findProbe("attention")) out.fullAttention = r.findProbe("attention")->value;
  doc.setMemoryBudget(out.budget);
  return out;
}

/// ms-cam on one [1,16,size,size] noise input, runs only when asked (auto-run off).
void msCamOnNoise(Document& doc, RunController& runner, int64_t size) {
  runner.setAutoRun(false);
  doc.setModule(QStringLiteral("ms-cam"));
  InputItem item;
  item.tensor = at::randn({1, 16, size, size});
  doc.addInput(item);
}

}  // namespace

class UiTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void heatmapHoldsRawValues() {
    HeatmapPanel panel;
    const at::Tensor m = at::arange(12, at::kFloat).reshape({3, 4}) / 11;
    HeatmapStyle s;
    s.lo = 0;
    s.hi = 1;
    panel.showMap(m, QImage(), s);
    expectMap(&panel, m);
    QCOMPARE(panel.colorMap()->dataRange().lower, 0.0);
    QCOMPARE(panel.colorMap()->dataRange().upper, 1.0);
  }

  void heatmapKeepsSquarePixels() {
    HeatmapPanel panel;
    panel.resize(700, 300);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    const at::Tensor m = at::rand({10, 20});
    HeatmapStyle s;
    panel.showMap(m, QImage(), s);
    panel.plot()->replot();
    const QCPRange x = panel.plot()->xAxis->range(), y = panel.plot()->yAxis->range();
    const QRect r = panel.plot()->axisRect()->rect();
    // one unit is as many pixels across as down, and the whole 20 x 10 map is in view
    QVERIFY2(std::fabs(x.size() / r.width() - y.size() / r.height()) < 1e-3 * x.size() / r.width(),
             qPrintable(QStringLiteral("%1 x %2 units in %3 x %4 px").arg(x.size()).arg(y.size()).arg(r.width()).arg(r.height())));
    QVERIFY(x.lower <= 0 && x.upper >= 20 && y.lower <= 0 && y.upper >= 10);
    // a matrix (rows and columns of different things) fills the panel instead
    s.keepAspect = false;
    panel.showMap(at::rand({4, 64}), QImage(), s);
    panel.plot()->replot();
    QCOMPARE(panel.plot()->xAxis->range().lower, 0.0);
    QCOMPARE(panel.plot()->xAxis->range().upper, 64.0);
    QCOMPARE(panel.plot()->yAxis->range().upper, 4.0);
  }

  void spatialMapView() {
    Document doc(registry());
    ProbeView view(&doc);
    runInto(doc, QStringLiteral("spatial-attention"), QStringLiteral("probe.spatial_weight"));
    QCOMPARE(view.currentPage(), ViewPage::Heatmap);
    view.waitForRender();
    expectMap(view.heatmap(), doc.result()->findProbe("spatial_weight")->value[1][0]);
    // natural range of a sigmoid map
    view.waitForRender();
    QCOMPARE(view.heatmap()->colorMap()->dataRange().lower, 0.0);
    view.waitForRender();
    QCOMPARE(view.heatmap()->colorMap()->dataRange().upper, 1.0);
  }

  // Issue 15: a map's colours are made on the map view's render thread, never on the GUI
  // thread; view changes (colormap, alpha, channel) run no module, and a burst of them while
  // a render is in flight shows only the newest settings.
  void mapRendersOffTheGuiThreadAndViewChangesRunNothing() {
    Document doc(registry());
    RunController runner(&doc);
    ProbeView view(&doc);
    openRandomInputs(doc, QStringLiteral("aff"), {1, 8, 12, 10});
    QTRY_VERIFY_WITH_TIMEOUT(doc.result() != nullptr && !runner.busy(), 60000);
    ViewSettings v = doc.view();
    v.tensor = QStringLiteral("probe.weight");
    doc.setView(v);
    view.waitForRender();
    QCOMPARE(view.currentPage(), ViewPage::Heatmap);
    QVERIFY(view.mapView()->lastRenderThread() != std::thread::id());
    QVERIFY(view.mapView()->lastRenderThread() != std::this_thread::get_id());
    const int64_t runs = doc.jobs()->moduleRuns();
    int shown = 0;
    connect(view.mapView(), &MapView::frameShown, this, [&shown](double) { ++shown; });
    v.colormap = QStringLiteral("magma");
    doc.setView(v);
    v.alpha = 0.3;
    doc.setView(v);
    v.channel = 2;
    doc.setView(v);
    QVERIFY(view.mapView()->rendering());
    view.waitForRender();
    QCOMPARE(shown, 1);
    QVERIFY(view.mapView()->lastRenderThread() != std::this_thread::get_id());
    expectMap(view.heatmap(), doc.result()->findProbe("weight")->value[0][2]);
    QCOMPARE(doc.jobs()->moduleRuns(), runs);
    QVERIFY(!runner.busy());
  }

  void gateMeanChannelAndComplement() {
    Document doc(registry());
    ProbeView view(&doc);
    runInto(doc, QStringLiteral("aff"), QStringLiteral("probe.weight"));
    const at::Tensor gate = doc.result()->findProbe("weight")->value;
    view.waitForRender();
    expectMap(view.heatmap(), gate[1].mean(0));
    ViewSettings v = doc.view();
    v.channel = 3;
    doc.setView(v);
    view.waitForRender();
    expectMap(view.heatmap(), gate[1][3]);
    v.complement = true;
    doc.setView(v);
    view.waitForRender();
    expectMap(view.heatmap(), 1 - gate[1][3]);
    // The channel strip under the map: each channel's mean (here of 1 - w); clicking a bar
    // shows that channel, clicking it again goes back to the mean.
    view.waitForRender();
    QVERIFY(!view.channelStrip()->isHidden());
    const at::Tensor means = (1 - gate[1].to(at::kDouble).mean({1, 2}));
    view.waitForRender();
    auto* strip = view.channelStrip()->bars().front();
    QCOMPARE(strip->data()->size(), static_cast<int>(gate.size(1)));
    for (int c = 0; c < gate.size(1); ++c) QVERIFY(std::fabs(strip->data()->at(c)->value - means[c].item<double>()) < 1e-9);
    view.waitForRender();
    QCOMPARE(view.channelStrip()->highlight(), 3);
    view.waitForRender();
    Q_EMIT view.channelStrip()->channelClicked(5);
    QCOMPARE(doc.view().channel, 5);
    view.waitForRender();
    expectMap(view.heatmap(), 1 - gate[1][5]);
    view.waitForRender();
    Q_EMIT view.channelStrip()->channelClicked(5);
    QCOMPARE(doc.view().channel, -1);
    view.waitForRender();
    expectMap(view.heatmap(), 1 - gate[1].mean(0));
  }

  void channelWeightBarsAndChannelMaps() {
    Document doc(registry());
    ProbeView view(&doc);
    runInto(doc, QStringLiteral("eca"), QStringLiteral("probe.channel_weight"));
    QCOMPARE(view.currentPage(), ViewPage::Bars);
    const at::Tensor w = doc.result()->findProbe("channel_weight")->value[1];
    auto* bars = view.bars()->bars().front();
    QCOMPARE(bars->data()->size(), static_cast<int>(w.size(0)));
    for (int i = 0; i < w.size(0); ++i) QCOMPARE(bars->data()->at(i)->value, w[i].item<double>());
    // sorted, top-3: the three largest, descending
    ViewSettings v = doc.view();
    v.sortBars = true;
    v.topK = 3;
    doc.setView(v);
    bars = view.bars()->bars().front();
    QCOMPARE(bars->data()->size(), 3);
    const auto top = std::get<0>(w.topk(3));
    for (int i = 0; i < 3; ++i) QCOMPARE(bars->data()->at(i)->value, top[i].item<double>());
    // clicking a channel (as the bar panel does) shows its map before and after
    Q_EMIT view.bars()->channelClicked(view.bars()->channelOrder()[0]);
    const int ch = doc.view().channel;
    QCOMPARE(ch, view.bars()->channelOrder()[0]);
    expectMap(view.beforeMap(), doc.resultInput(0)[1][ch]);
    expectMap(view.afterMap(), doc.result()->outputs[0][1][ch]);
  }

  void scaleWeights() {
    Document doc(registry());
    ProbeView view(&doc);
    runInto(doc, QStringLiteral("msf"), QStringLiteral("probe.scale_weights"));
    QCOMPARE(view.currentPage(), ViewPage::ScaleWeights);
    const at::Tensor w = doc.result()->findProbe("scale_weights")->value[1];  // [C,4]
    QCOMPARE(view.scaleBars()->bars().size(), 4);
    for (int s = 0; s < 4; ++s) {
      for (int c = 0; c < w.size(0); ++c) QCOMPARE(view.scaleBars()->bars()[s]->data()->at(c)->value, w[c][s].item<double>());
    }
    expectMap(view.scaleMatrix(), w.t());
  }

  void attentionQueryRow() {
    Document doc(registry());
    ProbeView view(&doc);
    runInto(doc, QStringLiteral("osra"), QStringLiteral("probe.attention"), 16, 6, 8);
    QCOMPARE(view.currentPage(), ViewPage::Attention);
    view.waitForRender();
    const at::Tensor a = doc.result()->findProbe("attention")->value[1];  // [h, 48, 12]
    Q_EMIT view.queryMap()->cellClicked(5, 2);  // as a click on the query image
    QCOMPARE(doc.view().queryX, 5);
    QCOMPARE(doc.view().queryY, 2);
    const auto [kh, kw] = render::attentionKeyGrid(a.size(2), 6, 8);
    QCOMPARE(kh * kw, a.size(2));
    view.waitForRender();
    expectMap(view.keyMap(), a.mean(0)[2 * 8 + 5].reshape({kh, kw}));
    expectMap(view.queryMap(), std::get<0>(a.mean(0).max(1)).reshape({6, 8}));
    ViewSettings v = doc.view();
    v.head = 1;
    doc.setView(v);
    view.waitForRender();
    expectMap(view.keyMap(), a[1][2 * 8 + 5].reshape({kh, kw}));
    expectMap(view.matrix(), a[1]);
    expectMap(view.queryMap(), std::get<0>(a[1].max(1)).reshape({6, 8}));
  }

  // Issue 15: a held attention matrix is reduced and coloured on the attention view's own
  // render thread (cmgm's matrices took seconds on the GUI thread); a burst of view changes
  // during a render shows only the newest settings.
  void attentionRendersOffTheGuiThread() {
    Document doc(registry());
    ProbeView view(&doc);
    auto* attention = view.findChild<AttentionView*>();
    QVERIFY(attention);
    runInto(doc, QStringLiteral("osra"), QStringLiteral("probe.attention"), 16, 6, 8);
    QCOMPARE(view.currentPage(), ViewPage::Attention);
    QVERIFY(attention->rendering());  // showTensor queued the render and returned
    view.waitForRender();
    QVERIFY(!attention->rendering());
    QVERIFY(attention->lastRenderThread() != std::thread::id());
    QVERIFY(attention->lastRenderThread() != std::this_thread::get_id());
    const at::Tensor a = doc.result()->findProbe("attention")->value[1];
    int shown = 0;
    connect(attention, &AttentionView::frameShown, this, [&shown](double) { ++shown; });
    ViewSettings v = doc.view();
    v.colormap = QStringLiteral("magma");
    doc.setView(v);
    v.head = 0;
    doc.setView(v);
    v.queryX = 3;
    v.queryY = 4;
    doc.setView(v);
    view.waitForRender();
    QCOMPARE(shown, 1);
    QVERIFY(attention->lastRenderThread() != std::this_thread::get_id());
    const auto [kh, kw] = render::attentionKeyGrid(a.size(2), 6, 8);
    expectMap(view.keyMap(), a[0][4 * 8 + 3].reshape({kh, kw}));
    expectMap(view.matrix(), a[0]);
  }

  void attentionRowsOnDemandWhenTheMatrixIsWithheld() {
    Document doc(registry());
    RunController runner(&doc);
    runner.setAutoRun(false);
    ProbeView view(&doc);
    const WithheldCmgm ref = setUpWithheldCmgm(doc);
    QVERIFY(ref.fullAttention.defined());
    runner.runNow();
    QTRY_VERIFY_WITH_TIMEOUT(doc.result() != nullptr, 30000);
    QVERIFY2(doc.result()->findProbe("attention") == nullptr, "the budget must withhold the probe");
    // The withheld probe is still the one shown: its rows come on demand.
    QCOMPARE(doc.view().tensor, QStringLiteral("probe.attention"));
    QVERIFY(doc.isOnDemandProbe(QStringLiteral("probe.attention")));
    QCOMPARE(view.currentPage(), ViewPage::Attention);
    QCOMPARE(view.queryMap()->mapWidth(), 7);  // the query grid of x is clickable
    QCOMPARE(view.queryMap()->mapHeight(), 5);
    // The default query (the centre pixel) is computed without a click.
    QTRY_VERIFY_WITH_TIMEOUT(doc.queryRows().rows.defined(), 30000);
    QCOMPARE(doc.queryRows().x, 3);
    QCOMPARE(doc.queryRows().y, 2);

    ViewSettings v = doc.view();
    v.batch = 1;
    v.head = 2;
    doc.setView(v);
    Q_EMIT view.queryMap()->cellClicked(5, 1);  // as a click on the query image
    // The click returns at once: the rows are computed on the worker, not on this thread.
    QCOMPARE(doc.wantedQuery(), QPoint(5, 1));
    QVERIFY(!(doc.queryRows().x == 5 && doc.queryRows().y == 1));
    QTRY_VERIFY_WITH_TIMEOUT(doc.queryRows().x == 5 && doc.queryRows().y == 1, 30000);
    QVERIFY2(doc.queryRows().rows.defined(), qPrintable(doc.queryRows().error));
    const int64_t q = 1 * 7 + 5;
    // rows of the on-demand computation == rows of the full matrix (to 1e-5)
    const at::Tensor want = ref.fullAttention.select(2, q);  // [2, 8, 35]
    QVERIFY((doc.queryRows().rows - want).abs().max().item<double>() < 1e-5);
    const auto [kh, kw] = render::attentionKeyGrid(35, 5, 7);
    {
      const at::Tensor w = want[1][2].reshape({kh, kw}).to(at::kDouble);
      QCOMPARE(view.keyMap()->mapHeight(), static_cast<int>(kh));
      for (int r = 0; r < kh; ++r) {
        for (int c = 0; c < kw; ++c) QVERIFY(std::fabs(cell(view.keyMap(), c, r) - w[r][c].item<double>()) < 1e-5);
      }
    }
    // Head mean: the mean of the heads' rows, without recomputing.
    v = doc.view();
    v.head = -1;
    doc.setView(v);
    {
      const at::Tensor w = want[1].mean(0).reshape({kh, kw}).to(at::kDouble);
      for (int r = 0; r < kh; ++r) {
        for (int c = 0; c < kw; ++c) QVERIFY(std::fabs(cell(view.keyMap(), c, r) - w[r][c].item<double>()) < 1e-5);
      }
    }
    // Two quick clicks: only the last pixel's rows are kept.
    Q_EMIT view.queryMap()->cellClicked(0, 0);
    Q_EMIT view.queryMap()->cellClicked(6, 4);
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy() && doc.queryRows().x == 6, 30000);
    QCOMPARE(doc.queryRows().y, 4);
    QVERIFY((doc.queryRows().rows - ref.fullAttention.select(2, 4 * 7 + 6)).abs().max().item<double>() < 1e-5);
    runner.waitForIdle();
  }

  void cancelIsHonest() {
    Document doc(registry());
    RunController runner(&doc);
    msCamOnNoise(doc, runner, 64);
    QSignalSpy cancelling(&runner, &RunController::cancelling);
    QSignalSpy dropped(&runner, &RunController::staleDropped);
    QSignalSpy busy(&runner, &RunController::busyChanged);
    runner.runNow();
    QVERIFY(runner.busy());
    runner.cancel();
    // The forward cannot be stopped: the worker stays busy (and says it is cancelling) until
    // it ends, then the result is dropped and nothing is shown.
    QCOMPARE(cancelling.size(), 1);
    QCOMPARE(cancelling.front().front().toULongLong(), uint64_t{1});
    QVERIFY(runner.busy());
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy(), 20000);
    QCOMPARE(dropped.size(), 1);
    QVERIFY(doc.result() == nullptr);
    QCOMPARE(busy.size(), 2);  // on, then off once the worker really is idle
    QCOMPARE(busy.back().front().toBool(), false);
    // The next run is not affected by the cancel.
    runner.runNow();
    QTRY_VERIFY_WITH_TIMEOUT(doc.result() != nullptr, 20000);
    QCOMPARE(doc.result()->requestId, uint64_t{2});
  }

  void channelMatrix() {
    Document doc(registry());
    ProbeView view(&doc);
    runInto(doc, QStringLiteral("cafm"), QStringLiteral("probe.cross"));
    QCOMPARE(view.currentPage(), ViewPage::Matrix);
    expectMap(view.channelMatrix(), doc.result()->findProbe("cross")->value[1]);
  }

  void staleResultsAreDropped() {
    Document doc(registry());
    RunController runner(&doc);
    msCamOnNoise(doc, runner, 32);
    QSignalSpy dropped(&runner, &RunController::staleDropped);
    QSignalSpy finished(&runner, &RunController::finished);
    runner.runNow();             // #1 starts
    doc.setParam("r", "8");
    runner.runNow();             // #2 pending
    doc.setParam("r", "2");
    runner.runNow();             // #3 replaces #2
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy() && finished.size() >= 1, 20000);
    QTRY_COMPARE_WITH_TIMEOUT(finished.size() + dropped.size(), 2, 20000);
    QVERIFY(doc.result() != nullptr);
    QCOMPARE(doc.result()->requestId, uint64_t{3});
    QCOMPARE(dropped.size(), 1);  // #1 finished after #3 was requested
  }

  // A run in flight when the document changes (another module, a restored session) without
  // a new request (auto-run off) is not shown: it would be drawn with the new assignment.
  void resultsFromBeforeAChangeAreDropped() {
    Document doc(registry());
    RunController runner(&doc);
    msCamOnNoise(doc, runner, 32);
    QSignalSpy dropped(&runner, &RunController::staleDropped);
    runner.runNow();                          // in flight
    doc.setModule(QStringLiteral("eca"));     // no new run asked for
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy(), 20000);
    QCOMPARE(dropped.size(), 1);
    QVERIFY(doc.result() == nullptr);
    runner.runNow();                          // asked for again: shown
    QTRY_VERIFY_WITH_TIMEOUT(doc.result() != nullptr, 20000);
    QCOMPARE(QString::fromStdString(doc.result()->moduleId), QStringLiteral("eca"));
  }

  void failingRunKeepsLastGoodResult() {
    Document doc(registry());
    RunController runner(&doc);
    runner.setAutoRun(false);
    doc.setModule(QStringLiteral("eca"));
    InputItem item;
    item.tensor = at::randn({1, 8, 5, 5});
    doc.addInput(item);
    runner.runNow();
    QTRY_VERIFY_WITH_TIMEOUT(doc.result() != nullptr, 20000);
    const at::Tensor good = doc.result()->outputs[0].clone();
    QSignalSpy failed(&doc, &Document::runFailed);
    doc.setParam("kernel_size", "4");  // even: refused before running
    runner.runNow();
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy(), 20000);
    QCOMPARE(failed.size(), 1);
    QVERIFY(failed.front().front().toString().contains(QStringLiteral("odd")));
    QVERIFY(at::equal(doc.result()->outputs[0], good));
    // a run that fails inside LibTorch-land (memory budget) also keeps it
    doc.setParam("kernel_size", "7");
    RunRequest req = doc.makeRequest(99);
    req.maxMemoryBytes = 16;
    const RunResult bad = run(registry(), req);
    QVERIFY(!bad.ok);
    QVERIFY(at::equal(doc.result()->outputs[0], good));
  }

  void failingRunInTheWindowKeepsThePictureAndSaysWhy() {
    Document doc(registry());
    RunController runner(&doc);
    runner.setAutoRun(false);
    InputLoader loader;
    MainWindow window(&doc, &runner, &loader);
    window.show();
    doc.setModule(QStringLiteral("eca"));
    InputItem item;
    item.tensor = at::randn({1, 8, 6, 6});
    doc.addInput(item);
    runner.runNow();
    QTRY_VERIFY_WITH_TIMEOUT(doc.result() != nullptr && !runner.busy(), 20000);
    const at::Tensor w = doc.result()->findProbe("channel_weight")->value[0];
    auto barValues = [&window] {
      QVector<double> out;
      for (auto it = window.probeView()->bars()->bars().front()->data()->constBegin();
           it != window.probeView()->bars()->bars().front()->data()->constEnd(); ++it) out << it->value;
      return out;
    };
    const QVector<double> before = barValues();
    QCOMPARE(before.size(), 8);
    // The status bar states the run's time and its measured peak memory.
    QVERIFY2(statusText(window).contains(QStringLiteral("eca on cpu")), qPrintable(statusText(window)));
    QVERIFY2(statusText(window).contains(QStringLiteral("peak memory +")), qPrintable(statusText(window)));
    QVERIFY(statusText(window).contains(QRegularExpression(QStringLiteral("\\d ms|\\d s"))));

    // 1. refused before running (an even kernel), 2. refused by the run (memory budget)
    doc.setParam("kernel_size", "4");
    runner.runNow();
    QTRY_VERIFY_WITH_TIMEOUT(statusText(window).contains(QStringLiteral("odd")), 20000);
    QVERIFY(QApplication::activeModalWidget() == nullptr);  // no dialog
    QCOMPARE(barValues(), before);
    doc.setParam("kernel_size", "7");
    doc.setMemoryBudget(64);
    runner.runNow();
    QTRY_VERIFY2_WITH_TIMEOUT(!runner.busy() && statusText(window).contains(QStringLiteral("memory budget")),
                              qPrintable(statusText(window)), 20000);
    QVERIFY(QApplication::activeModalWidget() == nullptr);
    QCOMPARE(barValues(), before);
    QVERIFY(at::equal(doc.result()->findProbe("channel_weight")->value[0], w));
    QVERIFY(statusText(window).contains(QStringLiteral("run failed")));
  }

  void dragAndDropOpensFilesAndRefusesOthers() {
    Document doc(registry());
    RunController runner(&doc);
    runner.setAutoRun(false);
    InputLoader loader;
    MainWindow window(&doc, &runner, &loader);
    window.show();
    QTemporaryDir dir;
    const QString good = dir.filePath(QStringLiteral("features.npy"));
    const at::Tensor t = at::randn({1, 4, 3, 5});
    writeNpy(good.toStdString(), t);
    // A web link is not accepted as a drag at all.
    QVERIFY(!dropUrls(window, {QUrl(QStringLiteral("https://example.org/x.npy"))}));
    // A local tensor file is opened and fed to the module's input.
    QVERIFY(dropUrls(window, {QUrl::fromLocalFile(good)}));
    QTRY_COMPARE_WITH_TIMEOUT(doc.inputs().size(), size_t{1}, 20000);
    QVERIFY(at::equal(doc.inputs()[0].tensor, t));
    QCOMPARE(doc.inputs()[0].path, good);
    // A file that is not a tensor or an image: refused with a message naming it, nothing
    // else changes.
    const QString bad = dir.filePath(QStringLiteral("notes.npy"));
    QFile f(bad);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("not numpy");
    f.close();
    QVERIFY(dropUrls(window, {QUrl::fromLocalFile(bad)}));
    QTRY_VERIFY_WITH_TIMEOUT(statusText(window).contains(QStringLiteral("notes.npy")), 20000);
    QCOMPARE(doc.inputs().size(), size_t{1});
    QVERIFY(QApplication::activeModalWidget() == nullptr);
    loader.waitForIdle();
  }

  void windowFitsASmallScreen() {
    Document doc(registry());
    RunController runner(&doc);
    runner.setAutoRun(false);
    InputLoader loader;
    MainWindow window(&doc, &runner, &loader);
    doc.setModule(QStringLiteral("aff"));
    window.resize(1280, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    // The view bar wraps instead of widening the window past a 1280-pixel screen.
    QVERIFY2(window.minimumSizeHint().width() <= 1280, qPrintable(QString::number(window.minimumSizeHint().width())));
    QCOMPARE(window.width(), 1280);
    // The alpha slider is a usable control, not a few pixels.
    QVERIFY2(window.viewControls()->alphaSlider()->width() >= 100,
             qPrintable(QString::number(window.viewControls()->alphaSlider()->width())));
    QVERIFY(window.viewControls()->alphaSlider()->isVisible());
  }

  void demoShowsAHeatmap() {
    Document doc(registry());
    RunController runner(&doc);
    InputLoader loader;
    MainWindow window(&doc, &runner, &loader);
    window.show();
    window.openDemo();
    QTRY_VERIFY_WITH_TIMEOUT(doc.result() != nullptr, 60000);
    QCOMPARE(window.probeView()->currentPage(), ViewPage::Heatmap);
    window.probeView()->waitForRender();
    QVERIFY(window.probeView()->heatmap()->mapWidth() > 10);
    window.probeView()->waitForRender();
    expectMap(window.probeView()->heatmap(), doc.result()->findProbe("spatial_weight")->value[0][0]);
    runner.waitForIdle();
  }

  // The app's start loads its command-line images while the window is built (issue 15, cold
  // start): a load() of the same files with the same features takes the prefetched job over
  // (one job, one delivery), whether it is still loading or done; other features drop it.
  void prefetchedLoadIsTakenOverOnce() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("p.png"));
    QImage img(40, 32, QImage::Format_RGB888);
    for (int y = 0; y < img.height(); ++y) {
      for (int x = 0; x < img.width(); ++x) img.setPixel(x, y, qRgb(x * 6, y * 7, (x + y) * 3));
    }
    QVERIFY(img.save(path));
    Document doc(registry());
    InputLoader loader(doc.jobs());
    int jobs = 0;
    QObject::connect(doc.jobs(), &JobService::jobEnded, &loader, [&jobs](uint64_t) { ++jobs; });
    QList<QList<LoadOutcome>> got;
    QObject::connect(&loader, &InputLoader::loaded, &loader, [&got](const QList<LoadOutcome>& b) { got << b; });
    const QString spec = QStringLiteral("rgb:stride=2");
    for (const bool finishedFirst : {false, true}) {
      got.clear();
      jobs = 0;
      loader.prefetch({path}, spec);
      if (finishedFirst) QTRY_COMPARE_WITH_TIMEOUT(jobs, 1, 20000);
      QVERIFY(got.isEmpty());  // nothing is delivered before it is asked for
      loader.load({path}, spec);
      QTRY_COMPARE_WITH_TIMEOUT(got.size(), 1, 20000);
      QTRY_VERIFY_WITH_TIMEOUT(!loader.busy(), 20000);
      QTest::qWait(50);
      QCOMPARE(got.size(), 1);
      QCOMPARE(jobs, 1);
      QCOMPARE(got[0].size(), 1);
      QVERIFY(got[0][0].ok);
      QCOMPARE(got[0][0].item.featureSpec, spec);
      QCOMPARE(got[0][0].item.tensor.sizes().vec(), (std::vector<int64_t>{1, 3, 16, 20}));
    }
    got.clear();
    loader.prefetch({path}, spec);
    loader.load({path}, QStringLiteral("gray:stride=1"));
    QTRY_COMPARE_WITH_TIMEOUT(got.size(), 1, 20000);
    QTRY_VERIFY_WITH_TIMEOUT(!loader.busy(), 20000);
    QTest::qWait(50);
    QCOMPARE(got.size(), 1);
    QCOMPARE(got[0][0].item.featureSpec, QStringLiteral("gray:stride=1"));
    QCOMPARE(got[0][0].item.tensor.sizes().vec(), (std::vector<int64_t>{1, 1, 32, 40}));
  }

  // The demo is the trained CBAM network (resources/demo/): a garment, the network's stem as
  // the feature backbone, the trained weights named in the weights line; the old photo demo
  // stays as an example labelled as seeded.
  void demoIsTheTrainedNetwork() {
    Document doc(registry());
    RunController runner(&doc);
    InputLoader loader;
    MainWindow window(&doc, &runner, &loader);
    window.openDemo();
    QTRY_VERIFY_WITH_TIMEOUT(doc.weightsPath().endsWith(QStringLiteral("cbam.weights.safetensors")), 30000);
    QTRY_VERIFY_WITH_TIMEOUT(doc.result() != nullptr && !doc.inputs().empty(), 60000);
    QCOMPARE(doc.moduleId(), QStringLiteral("cbam"));
    QVERIFY2(doc.inputs()[0].path.endsWith(QStringLiteral("0-ankle_boot.png")), qPrintable(doc.inputs()[0].path));
    const QString weights = window.modulePanel()->weightsText();
    QVERIFY2(weights.contains(QStringLiteral("cbam.weights.safetensors")) && !weights.contains(QStringLiteral("seeded")),
             qPrintable(weights));
    // the trained stem's features: 32 channels on the 14x14 grid of the 28x28 garment
    runner.runNow();
    QTRY_VERIFY_WITH_TIMEOUT(doc.result() != nullptr && doc.result()->findProbe("spatial_weight"), 60000);
    QCOMPARE(doc.result()->findProbe("spatial_weight")->value.sizes().vec(), (std::vector<int64_t>{1, 1, 14, 14}));
    QCOMPARE(doc.result()->findProbe("channel_weight")->value.sizes().vec(), (std::vector<int64_t>{1, 32}));
    runner.waitForIdle();

    const Example& seeded = examples().back();
    QVERIFY(seeded.title.contains(QStringLiteral("Seeded")) && seeded.weights.isEmpty());
    window.openExample(seeded);
    QTRY_VERIFY_WITH_TIMEOUT(doc.weightsPath().isEmpty(), 30000);
    QVERIFY2(window.modulePanel()->weightsText().contains(QStringLiteral("seeded init")),
             qPrintable(window.modulePanel()->weightsText()));
    loader.waitForIdle();
    runner.waitForIdle();
  }

  void badFileIsRefusedWithoutLosingState() {
    Document doc(registry());
    RunController runner(&doc);
    InputLoader loader;
    MainWindow window(&doc, &runner, &loader);
    QTemporaryDir dir;
    const QString bad = dir.filePath(QStringLiteral("broken.png"));
    QFile f(bad);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("this is not a png");
    f.close();
    const LoadOutcome o = loadInputFile(bad, QStringLiteral("rgb"));
    QVERIFY(!o.ok);
    QVERIFY(o.error.contains(QStringLiteral("broken.png")));
    // Through the window, after a good input: refused with a message, the good one stays.
    runner.setAutoRun(false);
    const QString good = dir.filePath(QStringLiteral("good.npy"));
    writeNpy(good.toStdString(), at::randn({1, 3, 4, 4}));
    window.openFiles({good});
    QTRY_COMPARE_WITH_TIMEOUT(doc.inputs().size(), size_t{1}, 20000);
    window.openFiles({bad});
    QTRY_VERIFY_WITH_TIMEOUT(statusText(window).contains(QStringLiteral("broken.png")), 20000);
    loader.waitForIdle();
    QCOMPARE(doc.inputs().size(), size_t{1});
    QCOMPARE(doc.inputs()[0].path, good);
    QVERIFY(QApplication::activeModalWidget() == nullptr);
  }

  // Core errors state the fact and carry the fix as data; the window words the fix in its
  // own words (ui/error_text.h): real errors from core, no flag anywhere.
  void messagesSpeakTheWindowsLanguage() {
    Document doc(registry());
    InputItem in;
    in.path = QStringLiteral("x.npy");
    in.tensor = at::zeros({1, 8, 16, 16});
    doc.addInput(in);
    doc.setModule(QStringLiteral("spatial-attention"));
    doc.setParam("kernel_size", "4");
    const QString why = doc.readiness();
    QVERIFY2(why.contains(QStringLiteral("kernel_size 4 is even")), qPrintable(why));
    QVERIFY2(why.endsWith(QStringLiteral("; set kernel_size to 5 in the Module dock")), qPrintable(why));
    QVERIFY2(!why.contains(QStringLiteral("--")), qPrintable(why));

    // A failed run: the padding the seed fixes, worded when the document takes the error.
    RunRequest req;
    req.moduleId = "spatial-attention";
    req.params = {{"kernel_size", "5"}};
    req.device = DeviceChoice::Cpu;
    req.inputs = {at::zeros({1, 4, 9, 11})};
    const RunResult padding = run(registry(), req);
    QVERIFY(!padding.ok);
    doc.setRunError(padding.failure());
    QVERIFY2(doc.lastError().endsWith(QStringLiteral("; set padding to same in the Module dock")),
             qPrintable(doc.lastError()));
    QVERIFY2(!doc.lastError().contains(QStringLiteral("--")), qPrintable(doc.lastError()));

    // Over the memory budget: the budget is a combo of the Module dock.
    req.params.clear();
    req.maxMemoryBytes = 1024;
    const RunResult memory = run(registry(), req);
    QVERIFY(!memory.ok);
    const QString budget = guiText(memory.failure());
    QVERIFY2(budget.contains(QStringLiteral("memory budget is 1.00 KiB")), qPrintable(budget));
    QVERIFY2(budget.endsWith(QStringLiteral("; raise the Memory budget in the Module dock")),
             qPrintable(budget));
    QVERIFY2(!budget.contains(QStringLiteral("--")), qPrintable(budget));

    // A bad feature spec names the Inputs dock's field.
    try {
      parseFeatureSpec("nonsense:x=1");
      QFAIL("accepted");
    } catch (const Error& e) {
      const QString spec = guiText(e);
      QVERIFY2(spec.endsWith(QStringLiteral("; choose Image features in the Inputs dock")), qPrintable(spec));
    }
  }

  // Scrolling over the parameter form must not change a parameter under the pointer.
  void wheelChangesAParameterOnlyWithFocus() {
    Document doc(registry());
    ModulePanel panel(&doc);
    doc.setModule(QStringLiteral("aff"));
    panel.show();
    panel.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&panel));
    auto* r = panel.findChild<QSpinBox*>(QStringLiteral("param_r"));
    QVERIFY(r);
    const int before = r->value();
    const auto wheel = [r] {
      QWheelEvent e(QPointF(5, 5), r->mapToGlobal(QPointF(5, 5)), QPoint(), QPoint(0, 120), Qt::NoButton,
                    Qt::NoModifier, Qt::NoScrollPhase, false);
      QApplication::sendEvent(r, &e);
    };
    wheel();
    QCOMPARE(r->value(), before);
    QVERIFY(doc.params().find("r") == doc.params().end());
    r->setFocus();
    QTRY_VERIFY(r->hasFocus());
    wheel();
    QCOMPARE(r->value(), before + 1);
    QCOMPARE(doc.params().at("r"), std::to_string(before + 1));
  }

  // A training checkpoint (nested under 'state_dict', DataParallel 'module.' names, an
  // optimizer beside) loads in the window as in the CLI, and gives the plain weights' result.
  void nestedCheckpointLoadsLikeTheCli() {
    Document doc(registry());
    RunController runner(&doc);
    InputLoader loader;
    MainWindow window(&doc, &runner, &loader);
    runner.setAutoRun(false);
    QTemporaryDir dir;
    const QString input = dir.filePath(QStringLiteral("x.npy"));
    writeNpy(input.toStdString(), at::randn({1, 16, 8, 8}));
    window.openFiles({input});
    QTRY_COMPARE_WITH_TIMEOUT(doc.inputs().size(), size_t{1}, 20000);
    doc.setModule(QStringLiteral("ms-cam"));
    const ModuleDescriptor* d = registry().find("ms-cam");
    const auto inst = d->make(resolveParams("ms-cam", d->params, {}), {{1, 16, 8, 8}});
    NamedTensors plain, nested;
    for (const auto& [name, t] : moduleStateDict(*inst->module)) {
      at::Tensor v = t.detach().clone();
      if (v.is_floating_point()) v.uniform_(0.2, 1.2);
      plain.emplace_back(name, v);
      nested.emplace_back("state_dict.module." + name, v);
    }
    nested.emplace_back("optimizer.state.0.exp_avg", at::ones({3}));
    const QString plainPath = dir.filePath(QStringLiteral("plain.safetensors"));
    const QString nestedPath = dir.filePath(QStringLiteral("checkpoint.safetensors"));
    writeSafetensors(plainPath.toStdString(), plain);
    writeSafetensors(nestedPath.toStdString(), nested);
    window.modulePanel()->loadWeights(nestedPath);
    QTRY_VERIFY_WITH_TIMEOUT(!doc.weightsPath().isEmpty(), 20000);
    QVERIFY2(window.modulePanel()->weightsText().contains(QStringLiteral("state_dict.module.")),
             qPrintable(window.modulePanel()->weightsText()));
    const RunResult viaWindow = run(registry(), doc.makeRequest(1));
    QVERIFY2(viaWindow.ok, viaWindow.error.c_str());
    RunRequest direct = doc.makeRequest(2);
    direct.weights.reset();
    direct.weightsPath = plainPath.toStdString();
    const RunResult viaFile = run(registry(), direct);
    QVERIFY2(viaFile.ok, viaFile.error.c_str());
    QVERIFY(at::equal(viaWindow.outputs[0], viaFile.outputs[0]));
    // and differs from the seeded init, so the weights were really used
    RunRequest seeded = doc.makeRequest(3);
    seeded.weights.reset();
    seeded.weightsPath.clear();
    QVERIFY(!at::equal(run(registry(), seeded).outputs[0], viaFile.outputs[0]));
  }

  // The module dock's estimate is the plan run() makes (core/run/memory_plan, through
  // planRun), weights counted, so it says what the CLI says: aff at 512 channels on 2x2 inputs
  // holds about 1 MiB of weights and under 100 KiB of activations.
  void estimateIsTheRunsMemoryPlan() {
    Document doc(registry());
    openRandomInputs(doc, QStringLiteral("aff"), {1, 512, 2, 2});
    const ModuleDescriptor* d = doc.descriptor();
    const std::vector<Shape> shapes{{1, 512, 2, 2}, {1, 512, 2, 2}};
    const int64_t weights = desc::stateBytes(d->state(resolveParams("aff", d->params, {}), shapes));
    QVERIFY(weights > (int64_t{1} << 20));

    doc.setMemoryBudget(int64_t{1} << 30);
    const RunResult ok = run(registry(), doc.makeRequest(1));
    QVERIFY2(ok.ok, ok.error.c_str());
    const QString fits = doc.estimate();
    const QString want = QStringLiteral("Estimated peak %1 (weights %2), budget %3.")
                             .arg(QString::fromStdString(formatBytes(ok.estimatedBytes)),
                                  QString::fromStdString(formatBytes(weights)),
                                  QString::fromStdString(formatBytes(int64_t{1} << 30)));
    QCOMPARE(fits, want);

    // Above the activations, below the weights: the run (and the CLI) refuses it, and the
    // window says so in the run's own words (it said "fits" when it counted the forward only).
    doc.setMemoryBudget(512 << 10);
    const RunResult refused = run(registry(), doc.makeRequest(2));
    QVERIFY(!refused.ok);
    QCOMPARE(refused.errorKind, ErrorKind::Memory);
    const QString over = doc.estimate();
    QVERIFY2(over.contains(QStringLiteral("the run will be refused")), qPrintable(over));
    QVERIFY2(over.contains(QString::fromStdString(refused.error)), qPrintable(over + " / " + QString::fromStdString(refused.error)));
  }

  // Loading weights in the dock matches them as `inspect --module` does (fl::matchWeights),
  // key by key, without building the module: aff at 4096 channels has 67 MB of weights.
  void weightsMatchAsTheCliWithoutBuildingTheModule() {
    QTemporaryDir dir;
    const std::string path = dir.filePath(QStringLiteral("partial.safetensors")).toStdString();
    writeSafetensors(path, {{"local_att.0.bias", at::zeros({1024})},
                            {"local_att.0.weight", at::zeros({7})},
                            {"extra.weight", at::ones({3})}});
    const ModuleDescriptor* d = registry().find("aff");
    const std::vector<Shape> shapes{{1, 4096, 2, 2}, {1, 4096, 2, 2}};
    const Params p = resolveParams("aff", d->params, {});
    const int64_t weights = desc::stateBytes(d->state(p, shapes));
    WeightsLoad w;
    int64_t peak = 0;
    {
      const MemoryMeter meter;
      w = readWeights(QString::fromStdString(path), *d, {}, shapes);
      peak = meter.peakBytes();
    }
    QVERIFY2(w.error.isEmpty(), qPrintable(w.error));
    QVERIFY(w.matched);
    QVERIFY2(peak < weights / 100, qPrintable(QStringLiteral("held %1 bytes for %2 bytes of weights").arg(peak).arg(weights)));
    const WeightsReport cli = matchWeights(*d, p, shapes, readCheckpoint(path).tensors, std::nullopt, path);
    QVERIFY(w.report.matched == cli.matched);
    QVERIFY(w.report.missing == cli.missing);
    QVERIFY(w.report.unexpected == cli.unexpected);
    QVERIFY(w.report.mismatched == cli.mismatched);
    QVERIFY(w.report.prefix == cli.prefix);
    QVERIFY(w.report.notes == cli.notes);
    QVERIFY(w.report.matched == std::vector<std::string>{"local_att.0.bias"});
    QCOMPARE(w.report.mismatched.size(), size_t{1});
    QVERIFY(w.report.unexpected == std::vector<std::string>{"extra.weight [3]"});
  }

  // File > Export probes / channel scores without the dialogs: every output and probe, the
  // selected tensor raw, the scores of the view's batch element; never a silent overwrite.
  void exportResultFiles() {
    QTemporaryDir dir;
    const auto file = [&](const char* name) { return dir.filePath(QString::fromLatin1(name)); };
    Document empty(registry());
    QVERIFY(exportResult(empty, file("none.safetensors"), false).contains(QStringLiteral("Nothing to export")));

    Document doc(registry());
    runInto(doc, QStringLiteral("iaff"), QStringLiteral("probe.weight2"));  // view on batch 1
    const RunResult& res = *doc.result();
    QCOMPARE(exportResult(doc, file("all.safetensors"), false), QString());
    const NamedTensors all = readSafetensors(file("all.safetensors").toStdString());
    QCOMPARE(all.size(), size_t{3});
    QCOMPARE(all[0].first, std::string("output"));
    QCOMPARE(all[2].first, std::string("probe.weight2"));
    QVERIFY(at::equal(all[0].second, res.outputs[0]));
    QVERIFY(at::equal(all[2].second, res.findProbe("weight2")->value));

    QCOMPARE(exportResult(doc, file("sel.npy"), false), QString());
    QVERIFY(at::equal(readNpy(file("sel.npy").toStdString()), res.findProbe("weight2")->value));
    ViewSettings v = doc.view();
    v.tensor = QStringLiteral("input.residual");
    doc.setView(v);
    QCOMPARE(exportResult(doc, file("in.npy"), false), QString());
    QVERIFY(at::equal(readNpy(file("in.npy").toStdString()), doc.resultInput(1)));

    QCOMPARE(exportResult(doc, file("s.csv"), false), QString());
    QFile csv(file("s.csv"));
    QVERIFY(csv.open(QIODevice::ReadOnly));
    QCOMPARE(csv.readAll().toStdString(), channelScoresCsv(res, 1));
    QCOMPARE(exportResult(doc, file("s.json"), false), QString());
    QVERIFY(QFileInfo::exists(file("s.json")));

    // an existing file: refused (naming it) unless overwriting was confirmed
    const QString again = exportResult(doc, file("s.csv"), false);
    QVERIFY2(again.contains(QStringLiteral("exists")) && again.contains(file("s.csv")), qPrintable(again));
    QCOMPARE(exportResult(doc, file("s.csv"), true), QString());
    QVERIFY(exportResult(doc, file("s.txt"), false).contains(QStringLiteral(".csv or .json")));

    Document spatial(registry());
    runInto(spatial, QStringLiteral("spatial-attention"), QStringLiteral("probe.spatial_weight"));
    QVERIFY(exportResult(spatial, file("sp.csv"), false).contains(QStringLiteral("no channel scores")));
    QVERIFY(!QFileInfo::exists(file("sp.csv")));
  }
};

QTEST_MAIN(UiTest)
#include "test_ui.moc"
