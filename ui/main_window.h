#pragma once
// The FusionLens main window: wires menus, docks, the view and the status bar to the
// document and its controllers. No logic of its own.
#include <QMainWindow>

class QLabel;
class QProgressBar;
class QToolButton;
class QMenu;

namespace fl::ui {

class Document;
class RunController;
class InputLoader;
class ModulePanel;
class InputsPanel;
class ProbeView;
class ViewControls;
class ComparePanel;
class CompareController;
class SessionController;
class ScriptController;
class PointsPanel;
struct Example;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  MainWindow(Document* document, RunController* runner, InputLoader* loader, QWidget* parent = nullptr);

  /// Opens files: images through the chosen feature source, tensor files, and TorchScript
  /// files or captures (.flcap) as the script source (ui/script_controller.h).
  void openFiles(const QStringList& paths);
  /// The start-up demo: the trained CBAM network on a Fashion-MNIST garment (ui/examples.h).
  void openDemo();
  /// One of File > Open example: its image, feature backbone, module and weights.
  void openExample(const Example& example);
  /// The feature source used for images opened next.
  void setFeatureSpec(const QString& spec);

  ProbeView* probeView() const { return view_; }
  ModulePanel* modulePanel() const { return modulePanel_; }
  ViewControls* viewControls() const { return controls_; }
  ComparePanel* comparePanel() const { return compare_; }
  /// Shows the Compare dock and gives it half the height of the window.
  void showCompare();
  /// Opens a session file (File > Open session); problems are shown when it is restored.
  void openSession(const QString& path);
  SessionController* sessions() const { return sessions_; }
  ScriptController* scripts() const { return scripts_; }
  PointsPanel* pointsPanel() const { return points_; }

 protected:
  void closeEvent(QCloseEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void buildMenus();
  void updateRecentMenu();
  void showMessage(const QString& text, bool error);
  void saveSessionAs();

  Document* document_;
  RunController* runner_;
  InputLoader* loader_;
  ProbeView* view_;
  ViewControls* controls_;
  ModulePanel* modulePanel_;
  InputsPanel* inputsPanel_;
  CompareController* compareController_ = nullptr;
  ComparePanel* compare_ = nullptr;
  SessionController* sessions_ = nullptr;
  ScriptController* scripts_ = nullptr;
  PointsPanel* points_ = nullptr;
  QMenu* recentMenu_ = nullptr;
  QLabel* stats_;
  QLabel* hover_;
  QProgressBar* busy_;
  QToolButton* cancelRun_;  ///< beside the busy bar: Run > Cancel
};

}  // namespace fl::ui
