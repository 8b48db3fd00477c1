#pragma once
// The module dock: modules grouped by kind with citation and summary, a parameter form
// generated from the descriptor, a weights picker with its match report, the device, and
// the constraint check's message before anything runs.
#include <QWidget>
#include <map>
#include <memory>

#include "core/io/state_dict.h"
#include "core/modules/descriptor.h"

class QTreeWidget;
class QLabel;
class QFormLayout;
class QComboBox;
class QPushButton;

namespace fl::ui {

class Document;

struct WeightsLoad {
  QString path;
  std::shared_ptr<const NamedTensors> weights;
  WeightsReport report;
  bool matched = false;  ///< report computed against the module at the current input shapes
  QString error;
  uint64_t ticket = 0;   ///< ModulePanel::moduleTicket_ when the read started
  uint64_t job = 0;      ///< the job that read it (an older job's file was superseded)
};

/// Reads the weights file at `path` and, when `shapes` gives every input of `desc`, matches it
/// to the module at `params` as the CLI's `inspect --module` does (fl::matchWeights: from the
/// descriptor's state list, nothing built). Runs on a worker; errors land in `error`.
WeightsLoad readWeights(const QString& path, const ModuleDescriptor& desc,
                        const std::map<std::string, std::string>& params, const std::vector<Shape>& shapes);

class ModulePanel : public QWidget {
  Q_OBJECT
 public:
  explicit ModulePanel(Document* document, QWidget* parent = nullptr);
  ~ModulePanel() override;

  /// Reads a state_dict off the GUI thread (a background job) and reports how it matches the
  /// current module. A newer file supersedes one still being read.
  void loadWeights(const QString& path);
  /// A weights file is being read (or its report is on its way).
  bool busy() const { return weightsJob_ != 0; }
  /// Blocks until the file being read left the worker (tests only).
  void waitForIdle();
  /// Forgets the weights file: the deterministic seeded init (the "Seeded init" button).
  void clearWeights();
  QString weightsText() const;
  QString checkText() const;
  QString estimateText() const;

 private:
  void rebuildForm();
  void updateCheck();
  /// Greys out the module, its parameters and weights while a TorchScript file or capture
  /// runs instead (Document::moduleUnusedReason), with the reason as note and tooltips.
  void showWhetherUsed();
  void onWeightsLoaded(const WeightsLoad& w);
  /// The weights line: which weights the current module uses (always shown), then `note`
  /// (a file being read, or why a new file was refused), kept until the next weights action.
  void showWeights(const QString& noteHtml = QString());
  QString activeWeightsLine() const;

  Document* document_;
  QTreeWidget* tree_;
  QLabel* unused_;  ///< why the module is not used now; hidden while it is
  QLabel* about_;
  QWidget* formHost_;
  QFormLayout* form_ = nullptr;
  QLabel* weightsLabel_;
  QPushButton* loadWeights_;
  QPushButton* clearWeights_;
  QComboBox* device_;
  QComboBox* budget_;
  QLabel* check_;
  QLabel* estimate_;
  uint64_t weightsJob_ = 0;  ///< the job reading the newest weights file; 0 none
  /// What was learned about each module's active weights (matched tensors), by module id and
  /// weights path: shown again when the module is chosen again.
  std::map<QString, std::pair<QString, QString>> weightsLines_;
  QString weightsNote_;
  QObject* wheelFilter_ = nullptr;
  /// Counts module changes (and restored sessions): weights read for another module are
  /// dropped when they arrive.
  uint64_t moduleTicket_ = 0;  // parameter editors take the wheel only with focus
};

}  // namespace fl::ui
