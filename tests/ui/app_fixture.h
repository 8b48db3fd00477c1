#pragma once
// The main window as the app makes it (document, run controller, input loader), shown and
// active: the fixture of the QtTests that drive the whole window (test_hardening.cpp,
// test_script.cpp). Its destructor lets every load and run finish first.
#include <QApplication>
#include <QElapsedTimer>
#include <QTreeWidget>
#include <QtTest/QtTest>

#include "test_registry.h"
#include "ui/document.h"
#include "ui/input_loader.h"
#include "ui/job_service.h"
#include "ui/main_window.h"
#include "ui/module_panel.h"
#include "ui/points_panel.h"
#include "ui/run_controller.h"
#include "ui/script_controller.h"

namespace fl::test {

struct App {
  ui::Document doc{registry()};
  ui::RunController runner{&doc};
  ui::InputLoader loader;
  ui::MainWindow window{&doc, &runner, &loader};
  App() {
    window.resize(1280, 800);
    window.show();
    window.activateWindow();
    QApplication::setActiveWindow(&window);
  }
  ~App() {
    settle();
    window.modulePanel()->waitForIdle();
  }
  /// Until nothing loads or runs (deliveries included).
  void settle() {
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < 120000) {
      window.scripts()->waitForIdle();
      loader.waitForIdle();
      runner.waitForIdle();
      QTest::qWait(200);
      if (!window.scripts()->busy() && !doc.jobs()->busy()) return;
    }
    QFAIL("the window did not settle in 2 minutes");
  }
  /// The Points dock's tree (a TorchScript file's or capture's points).
  QTreeWidget* tree() const { return window.pointsPanel()->tree(); }
};

}  // namespace fl::test
