#pragma once
// The FusionLens main window: wires menus, docks and actions; holds no logic of its own.
#include <QMainWindow>

#include "core/modules/registry.h"

class QListWidget;
class QTextBrowser;
class QLabel;

namespace fl::ui {

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(const ModuleRegistry& registry, QWidget* parent = nullptr);

 private:
  void showModule(const QString& id);

  const ModuleRegistry& registry_;
  QListWidget* moduleList_ = nullptr;
  QTextBrowser* moduleInfo_ = nullptr;
  QLabel* canvas_ = nullptr;
};

}  // namespace fl::ui
