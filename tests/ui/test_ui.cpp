// The desktop explorer under QtTest (offscreen): each view plots exactly the probe's data
// (the data behind the plot, not pixels), stale results are dropped, a failing run keeps
// the last good result, and the demo shows a heatmap.
#include <ATen/ATen.h>

#include <QSignalSpy>
#include <QtTest/QtTest>
#include "ui/qcp.h"

#include "test_registry.h"
#include "core/modules/registry.h"
#include "ui/document.h"
#include "ui/input_loader.h"
#include "ui/main_window.h"
#include "ui/run_controller.h"
#include "ui/views/bar_panel.h"
#include "ui/views/heatmap_panel.h"
#include "ui/views/probe_view.h"
#include "test_env.h"

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

/// A document holding a real result of `id` on random inputs, with the view on `tensor`.
void runInto(Document& doc, const QString& id, const QString& tensor, int64_t c = 8, int64_t h = 5, int64_t w = 7) {
  doc.setModule(id);
  const ModuleDescriptor* d = doc.descriptor();
  for (size_t i = 0; i < d->inputs.size(); ++i) {
    InputItem item;
    item.label = QStringLiteral("x%1").arg(i);
    item.tensor = at::randn({2, c, h, w});
    doc.addInput(item);
  }
  RunResult res = run(registry(), doc.makeRequest(1));
  QVERIFY2(res.ok, res.error.c_str());
  doc.setResult(std::move(res));
  ViewSettings v = doc.view();
  v.tensor = tensor;
  v.batch = 1;
  doc.setView(v);
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

  void spatialMapView() {
    Document doc(registry());
    ProbeView view(&doc);
    runInto(doc, QStringLiteral("spatial-attention"), QStringLiteral("probe.spatial_weight"));
    QCOMPARE(view.currentPage(), ViewPage::Heatmap);
    expectMap(view.heatmap(), doc.result()->findProbe("spatial_weight")->value[1][0]);
    // natural range of a sigmoid map
    QCOMPARE(view.heatmap()->colorMap()->dataRange().lower, 0.0);
    QCOMPARE(view.heatmap()->colorMap()->dataRange().upper, 1.0);
  }

  void gateMeanChannelAndComplement() {
    Document doc(registry());
    ProbeView view(&doc);
    runInto(doc, QStringLiteral("aff"), QStringLiteral("probe.weight"));
    const at::Tensor gate = doc.result()->findProbe("weight")->value;
    expectMap(view.heatmap(), gate[1].mean(0));
    ViewSettings v = doc.view();
    v.channel = 3;
    doc.setView(v);
    expectMap(view.heatmap(), gate[1][3]);
    v.complement = true;
    doc.setView(v);
    expectMap(view.heatmap(), 1 - gate[1][3]);
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
    const at::Tensor a = doc.result()->findProbe("attention")->value[1];  // [h, 48, 12]
    Q_EMIT view.queryMap()->cellClicked(5, 2);  // as a click on the query image
    QCOMPARE(doc.view().queryX, 5);
    QCOMPARE(doc.view().queryY, 2);
    const auto [kh, kw] = keyGrid(a.size(2), 6, 8);
    QCOMPARE(kh * kw, a.size(2));
    expectMap(view.keyMap(), a.mean(0)[2 * 8 + 5].reshape({kh, kw}));
    ViewSettings v = doc.view();
    v.head = 1;
    doc.setView(v);
    expectMap(view.keyMap(), a[1][2 * 8 + 5].reshape({kh, kw}));
    expectMap(view.matrix(), a[1]);
  }

  void channelMatrix() {
    Document doc(registry());
    ProbeView view(&doc);
    runInto(doc, QStringLiteral("cafm"), QStringLiteral("probe.cross"));
    QCOMPARE(view.currentPage(), ViewPage::Matrix);
    expectMap(view.heatmap(), doc.result()->findProbe("cross")->value[1]);
  }

  void staleResultsAreDropped() {
    Document doc(registry());
    RunController runner(&doc);
    runner.setAutoRun(false);
    doc.setModule(QStringLiteral("ms-cam"));
    InputItem item;
    item.tensor = at::randn({1, 16, 32, 32});
    doc.addInput(item);
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

  void demoShowsAHeatmap() {
    Document doc(registry());
    RunController runner(&doc);
    InputLoader loader;
    MainWindow window(&doc, &runner, &loader);
    window.show();
    window.openDemo();
    QTRY_VERIFY_WITH_TIMEOUT(doc.result() != nullptr, 60000);
    QCOMPARE(window.probeView()->currentPage(), ViewPage::Heatmap);
    QVERIFY(window.probeView()->heatmap()->mapWidth() > 10);
    expectMap(window.probeView()->heatmap(), doc.result()->findProbe("spatial_weight")->value[0][0]);
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
    QCOMPARE(doc.inputs().size(), size_t{0});
  }
};

QTEST_MAIN(UiTest)
#include "test_ui.moc"
