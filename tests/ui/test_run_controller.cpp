// The run controller without a debounce (issue 15, item 4): a change starts its run at once,
// changes during a run coalesce into exactly one more run with the latest settings; and the
// document asks osra and cmgm for their (HW)^2 tensors (the full attention matrix, cmgm's
// cam) only when the view shows them or an export wants them (issue 15, item 2). Counts
// and inspects what was requested; nothing here measures time.
#include <ATen/ATen.h>

#include <QSignalSpy>
#include <QtTest/QtTest>

#include "core/run/run.h"
#include "test_registry.h"
#include "ui/document.h"
#include "ui/job_service.h"
#include "ui/result_export.h"
#include "ui/run_controller.h"
#include "ui/views/heatmap_panel.h"
#include "ui/views/probe_view.h"
#include "ui/qcp.h"

using namespace fl;
using namespace fl::ui;

namespace {

using fl::test::registry;

using Names = std::vector<std::string>;

InputItem noise(int64_t c, int64_t h, int64_t w) {
  InputItem item;
  item.label = QStringLiteral("noise");
  item.tensor = at::randn({1, c, h, w});
  return item;
}

/// The shown result's request (what the document asked the worker for).
const Names& asked(const Document& doc) { return doc.resultContext().request.outputs; }

bool hasProbe(const Document& doc, const char* name) { return doc.result() && doc.result()->findProbe(name); }

}  // namespace

class RunControllerTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  // One change: the run is on the worker before the change returns (no timer). A burst of
  // changes while it computes: exactly one more run, with the last settings, and the picture
  // is the last settings' result.
  void changesDuringARunCoalesce() {
    Document doc(registry());
    RunController runner(&doc);  // auto-run on, as in the app
    ProbeView view(&doc);
    QSignalSpy started(&runner, &RunController::started);
    QSignalSpy failed(&doc, &Document::runFailed);
    doc.setModule(QStringLiteral("ms-cam"));
    QCOMPARE(started.size(), 0);  // nothing to run on yet, and that is no failure
    doc.addInput(noise(16, 96, 96));
    QCOMPARE(started.size(), 1);  // queued synchronously by the change itself
    QVERIFY(runner.busy());
    // The burst, without returning to the event loop: the first run is still in flight.
    for (const char* r : {"2", "8", "1", "16", "2", "8"}) {
      doc.setParam("r", r);
      QCOMPARE(started.size(), 1);
    }
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy(), 60000);
    QCOMPARE(started.size(), 2);
    QCOMPARE(failed.size(), 0);
    QVERIFY(doc.result() != nullptr);
    QCOMPARE(doc.result()->requestId, started.back().front().toULongLong());
    QCOMPARE(doc.resultContext().request.params.at("r"), std::string("8"));

    // The picture: the map on screen is the final settings' gate (seeded init: the same
    // request computed again gives the same numbers).
    const RunResult want = run(registry(), doc.makeRequest(999));
    QVERIFY2(want.ok, want.error.c_str());
    QCOMPARE(view.currentPage(), ViewPage::Heatmap);
    const at::Tensor map = want.findProbe("weight")->value[0].mean(0).to(at::kDouble);
    view.waitForRender();
    const HeatmapPanel* panel = view.heatmap();
    QCOMPARE(panel->mapHeight(), 96);
    QCOMPARE(panel->mapWidth(), 96);
    for (int r = 0; r < 96; r += 7) {
      for (int c = 0; c < 96; c += 5) {
        QVERIFY(std::fabs(panel->colorMap()->data()->cell(c, r) - map[r][c].item<double>()) < 1e-6);
      }
    }
    // The settings of the dropped first run would show another picture.
    RunRequest first = doc.makeRequest(998);
    first.params["r"] = "4";
    const RunResult other = run(registry(), first);
    QVERIFY(!at::allclose(other.findProbe("weight")->value, want.findProbe("weight")->value));

    // A single change after the burst: again at once.
    doc.setParam("r", "4");
    QCOMPARE(started.size(), 3);
    runner.waitForIdle();
  }

  // cmgm: the full attention matrix when the view shows it (the default view: its probe),
  // cam (output.1) only when shown, the fused path (output.0 only) otherwise; a view change
  // that needs nothing new runs nothing.
  void cmgmComputesWhatIsShown() {
    Document doc(registry());
    RunController runner(&doc);
    ProbeView view(&doc);
    QSignalSpy started(&runner, &RunController::started);
    doc.setModule(QStringLiteral("cmgm"));
    doc.addInputs({noise(64, 12, 10), noise(64, 12, 10)});
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy() && doc.result(), 60000);
    QCOMPARE(asked(doc), (Names{"output.0", "attention"}));
    QVERIFY(hasProbe(doc, "attention"));
    QCOMPARE(doc.result()->outputNames, (Names{"output.0"}));
    QCOMPARE(doc.view().tensor, QStringLiteral("probe.attention"));
    QCOMPARE(view.currentPage(), ViewPage::Attention);
    QCOMPARE(doc.notComputed(), QStringList{QStringLiteral("output.1")});

    // The output: the fused path, no matrix, no cam.
    int runs = started.size();
    ViewSettings v = doc.view();
    v.tensor = QStringLiteral("output.0");
    doc.setView(v);
    QCOMPARE(started.size(), runs + 1);
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy(), 60000);
    QCOMPARE(asked(doc), (Names{"output.0"}));
    QVERIFY(!hasProbe(doc, "attention"));
    QCOMPARE(doc.result()->outputNames, (Names{"output.0"}));
    QCOMPARE(doc.view().tensor, QStringLiteral("output.0"));
    QCOMPARE(doc.notComputed(), (QStringList{QStringLiteral("output.1"), QStringLiteral("probe.attention")}));

    // A colormap (or channel, batch, ...) change asks for nothing new: no run.
    runs = started.size();
    v = doc.view();
    v.colormap = QStringLiteral("magma");
    v.channel = 3;
    doc.setView(v);
    QCOMPARE(started.size(), runs);

    // cam when it is shown.
    v.tensor = QStringLiteral("output.1");
    doc.setView(v);
    QCOMPARE(started.size(), runs + 1);
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy(), 60000);
    QCOMPARE(asked(doc), (Names{"output.0", "output.1"}));
    QCOMPARE(doc.result()->outputNames, (Names{"output.0", "output.1"}));
    QVERIFY(!hasProbe(doc, "attention"));
    QCOMPARE(view.currentPage(), ViewPage::Heatmap);

    // A parameter change keeps asking for what is shown.
    doc.setParam("qkv_bias", "false");
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy(), 60000);
    QCOMPARE(asked(doc), (Names{"output.0", "output.1"}));

    // Export of a result that left the matrix out: nothing written, the next run computes
    // everything (no dialog is opened for it), and after it nothing is missing.
    QCOMPARE(doc.notComputed(), QStringList{QStringLiteral("probe.attention")});
    runs = started.size();
    const ExportReport report = exportProbesDialog(nullptr, doc);
    QVERIFY2(!report.error && report.text.contains(QStringLiteral("probe.attention")), qPrintable(report.text));
    QCOMPARE(started.size(), runs + 1);
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy(), 60000);
    QVERIFY(asked(doc).empty());  // everything
    QVERIFY(hasProbe(doc, "attention"));
    QCOMPARE(doc.result()->outputNames, (Names{"output.0", "output.1"}));
    QVERIFY(doc.notComputed().isEmpty());
    // ... until another module is chosen.
    doc.setModule(QStringLiteral("osra"));
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy() && doc.result() && doc.result()->moduleId == "osra", 60000);
    QCOMPARE(asked(doc), (Names{"output", "attention"}));
    v = doc.view();
    v.tensor = QStringLiteral("output");
    doc.setView(v);
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy(), 60000);
    QCOMPARE(asked(doc), Names{"output"});
    QVERIFY(!hasProbe(doc, "attention"));
    runner.waitForIdle();
  }

  // Modules without (HW)^2 work compute everything, whatever is shown.
  void otherModulesComputeEverything() {
    Document doc(registry());
    RunController runner(&doc);
    doc.setModule(QStringLiteral("cbam"));
    doc.addInput(noise(32, 8, 8));
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy() && doc.result(), 60000);
    QVERIFY(asked(doc).empty());
    QVERIFY(hasProbe(doc, "channel_weight") && hasProbe(doc, "spatial_weight"));
    ViewSettings v = doc.view();
    v.tensor = QStringLiteral("output");
    QSignalSpy started(&runner, &RunController::started);
    doc.setView(v);
    QCOMPARE(started.size(), 0);
    runner.waitForIdle();
  }
};

QTEST_MAIN(RunControllerTest)
#include "test_run_controller.moc"
