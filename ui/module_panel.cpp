#include "ui/module_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <map>

#include "core/common/error.h"
#include "core/common/numbers.h"
#include "core/run/weights_match.h"
#include "core/common/memory.h"
#include "ui/document.h"
#include "ui/error_text.h"
#include "ui/job_service.h"
#include "ui/settings.h"

namespace fl::ui {

namespace {

/// Scrolling the dock must not change a parameter that slides under the pointer (it would
/// re-run the module with a value nobody chose): editors take the wheel only with focus.
class WheelNeedsFocus : public QObject {
 public:
  using QObject::QObject;
  bool eventFilter(QObject* watched, QEvent* event) override {
    if (event->type() == QEvent::Wheel) {
      auto* w = qobject_cast<QWidget*>(watched);
      if (w && !w->hasFocus()) return true;  // dropped: click the editor first to use the wheel
    }
    return false;
  }
};

}  // namespace

ModulePanel::ModulePanel(Document* document, QWidget* parent) : QWidget(parent), document_(document) {
  // The panel scrolls when the dock is short (other docks, small screens) instead of
  // squeezing the tree and the wrapped texts on top of each other.
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  auto* scroll = new QScrollArea;
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  outer->addWidget(scroll);
  auto* content = new QWidget;
  scroll->setWidget(content);
  auto* layout = new QVBoxLayout(content);
  setMinimumWidth(300);  // module names and citations stay readable
  unused_ = new QLabel;
  unused_->setObjectName(QStringLiteral("moduleUnused"));
  unused_->setWordWrap(true);
  unused_->setStyleSheet(QStringLiteral("color: palette(mid); font-style: italic;"));
  unused_->hide();
  layout->addWidget(unused_);
  tree_ = new QTreeWidget;
  tree_->setObjectName(QStringLiteral("moduleTree"));
  tree_->setHeaderHidden(true);
  tree_->setMinimumHeight(220);
  std::map<ModuleCategory, QTreeWidgetItem*> groups;
  for (const auto& d : document_->registry().all()) {
    QTreeWidgetItem*& group = groups[d.category];
    if (!group) {
      group = new QTreeWidgetItem(tree_, {QString::fromLatin1(moduleCategoryName(d.category))});
      group->setFlags(Qt::ItemIsEnabled);
      group->setExpanded(true);
    }
    auto* item = new QTreeWidgetItem(group, {QString::fromStdString(d.displayName)});
    item->setData(0, Qt::UserRole, QString::fromStdString(d.id));
    item->setToolTip(0, QString::fromStdString(d.summary + "\n" + d.citation));
  }
  layout->addWidget(tree_);

  about_ = new QLabel;
  about_->setWordWrap(true);
  about_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(about_);

  formHost_ = new QWidget;
  layout->addWidget(formHost_);

  auto* weightsRow = new QHBoxLayout;
  loadWeights_ = new QPushButton(tr("Load weights..."));
  loadWeights_->setObjectName(QStringLiteral("loadWeights"));  // tooltips: showWhetherUsed
  clearWeights_ = new QPushButton(tr("Seeded init"));
  clearWeights_->setObjectName(QStringLiteral("seededInit"));
  weightsRow->addWidget(loadWeights_);
  weightsRow->addWidget(clearWeights_);
  layout->addLayout(weightsRow);
  weightsLabel_ = new QLabel(tr("Weights: seeded init"));
  weightsLabel_->setTextFormat(Qt::RichText);  // the active weights, and a red line why a file was refused
  weightsLabel_->setWordWrap(true);
  weightsLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(weightsLabel_);

  auto* deviceRow = new QFormLayout;
  device_ = new QComboBox;
  device_->addItem(tr("Auto"), static_cast<int>(DeviceChoice::Auto));
  device_->addItem(tr("CPU"), static_cast<int>(DeviceChoice::Cpu));
  device_->addItem(cudaAvailable() ? tr("CUDA") : tr("CUDA (not available)"),
                   static_cast<int>(DeviceChoice::Cuda));
  deviceRow->addRow(tr("Device"), device_);
  budget_ = new QComboBox;
  budget_->addItem(tr("auto (60% of free memory, %1)").arg(QString::fromStdString(formatBytes(defaultMemoryBudget()))), qint64{0});
  for (const int mib : {512, 1024, 2048, 4096, 8192, 16384}) {
    budget_->addItem(QString::fromStdString(formatBytes(int64_t{mib} << 20)), qint64{mib} << 20);
  }
  budget_->setToolTip(tr("The most memory one run may use. Over it, attention modules run in query chunks and "
                         "withhold the full attention matrix; its rows are then computed per query pixel."));
  deviceRow->addRow(tr("Memory budget"), budget_);
  layout->addLayout(deviceRow);

  check_ = new QLabel;
  check_->setWordWrap(true);
  check_->setStyleSheet(QStringLiteral("color: #b00020;"));
  layout->addWidget(check_);
  estimate_ = new QLabel;
  estimate_->setWordWrap(true);
  estimate_->setStyleSheet(QStringLiteral("color: palette(mid);"));
  layout->addWidget(estimate_);
  layout->addStretch(1);

  connect(tree_, &QTreeWidget::currentItemChanged, this, [this](QTreeWidgetItem* item, QTreeWidgetItem*) {
    if (item && item->data(0, Qt::UserRole).isValid()) document_->setModule(item->data(0, Qt::UserRole).toString());
  });
  connect(loadWeights_, &QPushButton::clicked, this, [this] {
    const QString path = QFileDialog::getOpenFileName(this, tr("Load weights"), prefs::startDirectory(),
        tr("state_dict (*.pt *.pth *.bin *.ckpt *.safetensors);;All files (*)"));
    if (!path.isEmpty()) this->loadWeights(path);
  });
  connect(clearWeights_, &QPushButton::clicked, this, &ModulePanel::clearWeights);
  connect(device_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    document_->setDevice(static_cast<DeviceChoice>(device_->currentData().toInt()));
  });
  {
    const qint64 saved = prefs::kMemoryBudget.get();
    int index = budget_->findData(saved);
    if (index < 0) {  // a value from elsewhere (an older setting): keep it, listed as it is
      budget_->addItem(QString::fromStdString(formatBytes(saved)), saved);
      index = budget_->count() - 1;
    }
    budget_->setCurrentIndex(index);
    document_->setMemoryBudget(saved);
  }
  connect(budget_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    const qint64 bytes = budget_->currentData().toLongLong();
    prefs::kMemoryBudget.set(bytes);
    document_->setMemoryBudget(bytes);
  });
  connect(document_, &Document::moduleChanged, this, [this] {
    ++moduleTicket_;
    rebuildForm();
    // A restored session, or a module chosen again, brings its weights with the module.
    showWeights();
    // keep the tree selection in step when the module is set programmatically
    for (QTreeWidgetItemIterator it(tree_); *it; ++it) {
      if ((*it)->data(0, Qt::UserRole).toString() == document_->moduleId()) tree_->setCurrentItem(*it);
    }
  });
  connect(document_, &Document::requestChanged, this, &ModulePanel::updateCheck);
  // A run says how the weights matched: the line stops saying "checked when the module runs".
  connect(document_, &Document::resultChanged, this, [this] {
    const RunResult* r = document_->result();
    if (!r || document_->weightsPath().isEmpty() || QString::fromStdString(r->moduleId) != document_->moduleId() ||
        r->weights.matched.empty() || !r->weights.ok()) {
      return;
    }
    const QString line = tr("Weights: %1, %2 tensors matched, none missing or unexpected")
                             .arg(QFileInfo(document_->weightsPath()).fileName())
                             .arg(r->weights.matched.size());
    weightsLines_[document_->moduleId()] = {document_->weightsPath(), line};
    showWeights(weightsNote_);
  });
  // A read dropped before it started (a newer file) says nothing; the job that replaced it does.
  connect(document_->jobs(), &JobService::jobEnded, this, [this](uint64_t job) {
    if (job == weightsJob_) weightsJob_ = 0;
  });
  connect(document_, &Document::scriptChanged, this, &ModulePanel::showWhetherUsed);
  showWhetherUsed();
}

void ModulePanel::showWhetherUsed() {
  const QString reason = document_->moduleUnusedReason();
  const bool used = reason.isEmpty();
  unused_->setText(reason);
  unused_->setVisible(!used);
  // The containers: a form rebuilt meanwhile (a session) inherits the state.
  tree_->setEnabled(used);
  formHost_->setEnabled(used);
  loadWeights_->setEnabled(used);
  clearWeights_->setEnabled(used);
  // Tooltips show on disabled widgets too: they say why (the tree's items keep their own).
  tree_->setToolTip(reason);
  formHost_->setToolTip(reason);
  for (QWidget* editor : formHost_->findChildren<QWidget*>()) {
    const QVariant help = editor->property("help");
    if (help.isValid()) editor->setToolTip(used ? help.toString() : reason + QStringLiteral("\n\n") + help.toString());
  }
  loadWeights_->setToolTip(used ? tr("A state_dict: torch.save(model.state_dict(), path) or .safetensors") : reason);
  clearWeights_->setToolTip(used ? tr("Forget the weights file and use the deterministic seeded init") : reason);
}

ModulePanel::~ModulePanel() {
  if (weightsJob_) document_->jobs()->cancel(weightsJob_);  // never waits for the worker
}

void ModulePanel::waitForIdle() {
  if (weightsJob_) document_->jobs()->waitFor({weightsJob_});
}

QString ModulePanel::weightsText() const { return weightsLabel_->text(); }
QString ModulePanel::checkText() const { return check_->text(); }
QString ModulePanel::estimateText() const { return estimate_->text(); }

void ModulePanel::rebuildForm() {
  delete formHost_->layout();
  // deleteLater, not delete: a module change may be delivered while one of these editors is
  // still inside its own signal (a restored session, a module set from a slot). Renamed and
  // hidden at once, so lookups by name find only the new form.
  for (QWidget* old : formHost_->findChildren<QWidget*>(QString(), Qt::FindDirectChildrenOnly)) {
    old->setObjectName(QString());
    old->hide();
    old->setParent(nullptr);
    old->deleteLater();
  }
  form_ = new QFormLayout(formHost_);
  const ModuleDescriptor* d = document_->descriptor();
  if (!d) return;
  about_->setText(QStringLiteral("<b>%1</b><br>%2<br><i>%3</i>")
                      .arg(QString::fromStdString(d->displayName).toHtmlEscaped(),
                           QString::fromStdString(d->summary).toHtmlEscaped(),
                           QString::fromStdString(d->citation).toHtmlEscaped()));
  for (const ParamSpec& p : d->params) {
    const std::string name = p.name;
    // The document's value when it has one (a restored session), else the default.
    const auto set = document_->params().find(name);
    const std::string value = set != document_->params().end() ? set->second : p.defaultValue;
    // The one number parser (core/common/numbers.h): a value that is not a number in full
    // (a hand-edited session) falls back to the default instead of a partial parse.
    const int64_t intValue = toInteger(value).value_or(toInteger(p.defaultValue).value_or(0));
    const double realValue = toReal(value).value_or(toReal(p.defaultValue).value_or(0.0));
    QWidget* editor = nullptr;
    switch (p.type) {
      case ParamType::Int: {
        auto* spin = new QSpinBox;
        spin->setRange(static_cast<int>(p.min), static_cast<int>(std::min(p.max, 1e9)));
        spin->setValue(static_cast<int>(std::clamp<int64_t>(intValue, spin->minimum(), spin->maximum())));
        // Kernel sizes are odd ("odd ... kernel size" in every descriptor): the arrows step
        // 1, 3, 5, ... instead of visiting even sizes the check always refuses.
        if (p.help.rfind("odd ", 0) == 0 && static_cast<int>(p.min) % 2 == 1) {
          spin->setSingleStep(2);
          if (spin->value() % 2 == 0) spin->setValue(spin->value() + 1);
        }
        connect(spin, qOverload<int>(&QSpinBox::valueChanged), this,
                [this, name](int v) { document_->setParam(name, std::to_string(v)); });
        editor = spin;
        break;
      }
      case ParamType::Float: {
        auto* spin = new QDoubleSpinBox;
        spin->setDecimals(4);
        spin->setRange(p.min, p.max);
        spin->setValue(realValue);
        // Descriptors write "0 = <what zero means>" in the help (e.g. qk_scale): zero is
        // "auto", not a scale of 0; the help (the tooltip) says what it stands for.
        const size_t zero = p.help.find("0 = ");
        if (p.min == 0 && zero != std::string::npos && (zero == 0 || p.help[zero - 1] == ' ')) {
          spin->setSpecialValueText(tr("auto"));
        }
        connect(spin, qOverload<double>(&QDoubleSpinBox::valueChanged), this,
                [this, name](double v) { document_->setParam(name, QString::number(v, 'g', 10).toStdString()); });
        editor = spin;
        break;
      }
      case ParamType::Bool: {
        auto* box = new QCheckBox;
        box->setChecked(value == "true");
        connect(box, &QCheckBox::toggled, this,
                [this, name](bool v) { document_->setParam(name, v ? "true" : "false"); });
        editor = box;
        break;
      }
      case ParamType::Choice: {
        auto* combo = new QComboBox;
        for (const auto& c : p.choices) combo->addItem(QString::fromStdString(c));
        combo->setCurrentText(QString::fromStdString(value));
        connect(combo, &QComboBox::currentTextChanged, this,
                [this, name](const QString& v) { document_->setParam(name, v.toStdString()); });
        editor = combo;
        break;
      }
      case ParamType::IntList: {
        auto* line = new QLineEdit(QString::fromStdString(value));
        connect(line, &QLineEdit::editingFinished, this,
                [this, name, line] { document_->setParam(name, line->text().toStdString()); });
        editor = line;
        break;
      }
    }
    editor->setProperty("help", QString::fromStdString(p.help));  // the tooltip: showWhetherUsed
    editor->setFocusPolicy(Qt::StrongFocus);
    if (!wheelFilter_) wheelFilter_ = new WheelNeedsFocus(this);
    editor->installEventFilter(wheelFilter_);
    editor->setObjectName(QString::fromStdString("param_" + p.name));
    form_->addRow(QString::fromStdString(p.name), editor);
  }
  updateCheck();
  showWhetherUsed();
}

void ModulePanel::updateCheck() {
  if (device_->currentData().toInt() != static_cast<int>(document_->device())) {
    const QSignalBlocker block(device_);
    device_->setCurrentIndex(device_->findData(static_cast<int>(document_->device())));
  }
  // The budget may also come from the command line (--memory): show the document's.
  if (budget_->currentData().toLongLong() != document_->memoryBudget()) {
    const QSignalBlocker block(budget_);
    int index = budget_->findData(qint64{document_->memoryBudget()});
    if (index < 0) {
      budget_->addItem(QString::fromStdString(formatBytes(document_->memoryBudget())), qint64{document_->memoryBudget()});
      index = budget_->count() - 1;
    }
    budget_->setCurrentIndex(index);
  }
  check_->setText(document_->readiness());
  estimate_->setText(document_->estimate());
}

void ModulePanel::clearWeights() {
  document_->clearWeights();
  weightsLines_.erase(document_->moduleId());
  showWeights();
}

void ModulePanel::loadWeights(const QString& path) {
  const ModuleDescriptor* d = document_->descriptor();
  if (!d) return;
  // A newer file supersedes the one still being read (dropped if it has not started, its
  // report ignored if it has): no waiting on the GUI thread.
  if (weightsJob_) document_->jobs()->cancel(weightsJob_);
  showWeights(tr("Reading %1 ...").arg(QFileInfo(path).fileName().toHtmlEscaped()));
  // Snapshot what matching needs; the worker touches no QObject.
  const ModuleDescriptor desc = *d;
  const auto params = document_->params();
  std::vector<Shape> shapes;
  const RunRequest req = document_->makeRequest(0);
  for (const auto& t : req.inputs) shapes.push_back(t.sizes().vec());
  const uint64_t ticket = moduleTicket_;
  weightsJob_ = document_->jobs()->submit<WeightsLoad>(JobPriority::Background, this,
      [path, desc, params, shapes, ticket](JobContext& ctx) {
    WeightsLoad out = readWeights(path, desc, params, shapes);  // matched when every input is there
    out.ticket = ticket;
    out.job = ctx.id();
    return out;
  },
      [this](WeightsLoad&& w, const JobReport&) {
        if (w.job != weightsJob_) return;  // superseded by a newer file
        weightsJob_ = 0;
        onWeightsLoaded(w);
      });
}

WeightsLoad readWeights(const QString& path, const ModuleDescriptor& desc, const std::map<std::string, std::string>& params,
                        const std::vector<Shape>& shapes) {
  WeightsLoad out;
  out.path = path;
  try {
    // Every tensor of the file, flattened: nested training checkpoints and DataParallel
    // names work as in the CLI; each run picks the module's tensors out of them.
    auto sd = std::make_shared<NamedTensors>(readCheckpoint(path.toStdString()).tensors);
    out.weights = sd;
    if (shapes.size() == desc.inputs.size()) {
      const Params p = resolveParams(desc.id, desc.params, params);
      if (desc.check(p, shapes).empty()) {
        // As `inspect --module`: keys and shapes from the descriptor's state list, so the
        // module is never built (its weights may be gigabytes).
        out.report = matchWeights(desc, p, shapes, *sd, std::nullopt, path.toStdString());
        out.matched = true;
      }
    }
  } catch (const Error& e) {
    out.error = guiText(e);
  } catch (const std::exception& e) {
    out.error = QString::fromStdString(firstLine(e.what()));
  }
  return out;
}

void ModulePanel::onWeightsLoaded(const WeightsLoad& w) {
  const QString name = QFileInfo(w.path).fileName();
  // Read for the module shown before (the module or session changed meanwhile, and the
  // label already says what this one uses): attaching it here would fail every run.
  if (w.ticket != moduleTicket_) return;
  // A refused file leaves the active weights as they were: say both.
  if (!w.error.isEmpty()) {
    showWeights(tr("<span style='color:#b00020'>%1 refused: %2</span>").arg(name.toHtmlEscaped(), w.error.toHtmlEscaped()));
    return;
  }
  if (w.matched && !w.report.ok()) {
    showWeights(tr("<span style='color:#b00020'>%1 refused, it does not match: %2</span>")
                    .arg(name.toHtmlEscaped(), QString::fromStdString(w.report.summary()).toHtmlEscaped()));
    return;
  }
  document_->setWeights(w.path, w.weights);
  const QString under = w.report.prefix.empty()
                            ? QString()
                            : tr(" (taken from under '%1')").arg(QString::fromStdString(w.report.prefix));
  weightsLines_[document_->moduleId()] = {
      w.path, w.matched ? tr("Weights: %1, %2 tensors matched, none missing or unexpected%3")
                              .arg(name).arg(w.report.matched.size()).arg(under)
                        : tr("Weights: %1 (%2 tensors; checked when the module runs)").arg(name).arg(w.weights->size())};
  showWeights();
}

QString ModulePanel::activeWeightsLine() const {
  const QString path = document_->weightsPath();
  if (path.isEmpty()) return tr("Weights: seeded init");
  const auto known = weightsLines_.find(document_->moduleId());
  if (known != weightsLines_.end() && known->second.first == path) return known->second.second;
  return tr("Weights: %1 (checked when the module runs)").arg(QFileInfo(path).fileName());
}

void ModulePanel::showWeights(const QString& noteHtml) {
  weightsNote_ = noteHtml;
  QString text = activeWeightsLine().toHtmlEscaped();
  if (!noteHtml.isEmpty()) text += QStringLiteral("<br>") + noteHtml;
  weightsLabel_->setText(text);
}

}  // namespace fl::ui
