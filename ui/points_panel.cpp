#include "ui/points_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QFrame>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <map>

#include "core/common/error.h"
#include "core/features/preprocess.h"
#include "ui/document.h"
#include "ui/error_text.h"

namespace fl::ui {

namespace {

constexpr int kTensorRole = Qt::UserRole;
constexpr int kPointRole = Qt::UserRole + 1;

QString shapeText(at::IntArrayRef shape) {
  QStringList parts;
  for (int64_t s : shape) parts << QString::number(s);
  return QStringLiteral("[") + parts.join(QStringLiteral(", ")) + QStringLiteral("]");
}

QString strideText(double h, double w) {
  if (h <= 0) return {};
  return h == w ? QString::number(h, 'g', 4) : QStringLiteral("%1 x %2").arg(h, 0, 'g', 4).arg(w, 0, 'g', 4);
}

QString listText(const std::vector<double>& v) {
  QStringList parts;
  for (double x : v) parts << QString::number(x, 'g', 6);
  return parts.join(QLatin1Char(':'));
}

}  // namespace

PointsPanel::PointsPanel(Document* document, QWidget* parent) : QWidget(parent), document_(document) {
  auto* layout = new QVBoxLayout(this);

  // The notice: in the window, never a modal dialog (nothing may stall on it).
  notice_ = new QFrame;
  notice_->setObjectName(QStringLiteral("scriptNotice"));
  notice_->setFrameShape(QFrame::StyledPanel);
  notice_->setStyleSheet(QStringLiteral("QFrame#scriptNotice { background: #fff4ce; border: 1px solid #e0c060; }"));
  auto* noticeLayout = new QHBoxLayout(notice_);
  noticeText_ = new QLabel;
  noticeText_->setWordWrap(true);
  auto* gotIt = new QPushButton(tr("OK"));
  gotIt->setObjectName(QStringLiteral("scriptNoticeOk"));
  noticeLayout->addWidget(noticeText_, 1);
  noticeLayout->addWidget(gotIt);
  notice_->hide();
  connect(gotIt, &QPushButton::clicked, notice_, &QWidget::hide);
  layout->addWidget(notice_);

  auto* head = new QHBoxLayout;
  file_ = new QLabel(tr("Open a TorchScript file (.pt) or a capture (.flcap) with File > Open to see its points."));
  file_->setWordWrap(true);
  file_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  close_ = new QPushButton(tr("Back to modules"));
  close_->setObjectName(QStringLiteral("backToModules"));
  close_->setToolTip(tr("Close the TorchScript file or capture and run the built-in module again"));
  head->addWidget(file_, 1);
  head->addWidget(close_);
  layout->addLayout(head);
  connect(close_, &QPushButton::clicked, this, [this] {
    document_->closeScript();
    Q_EMIT closeRequested();
  });

  status_ = new QLabel;
  status_->setObjectName(QStringLiteral("captureStatus"));
  status_->setWordWrap(true);
  layout->addWidget(status_);
  message_ = new QLabel;
  message_->setWordWrap(true);
  layout->addWidget(message_);
  prediction_ = new QLabel;
  prediction_->setObjectName(QStringLiteral("prediction"));
  prediction_->setWordWrap(true);
  layout->addWidget(prediction_);

  auto* form = new QFormLayout;
  input_ = new QComboBox;
  input_->addItem(tr("the first opened photo, preprocessed"), true);
  input_->addItem(tr("the opened inputs' tensors, in order"), false);
  input_->setToolTip(tr("A whole network takes the photo itself; a single module takes features"));
  form->addRow(tr("Input"), input_);
  layout->addLayout(form);

  preprocessBox_ = new QWidget;
  auto* pre = new QFormLayout(preprocessBox_);
  pre->setContentsMargins(0, 0, 0, 0);
  auto* sizeRow = new QHBoxLayout;
  resize_ = new QComboBox;
  resize_->addItem(tr("keep the size"), static_cast<int>(Preprocess::Resize::None));
  resize_->addItem(tr("to W x H"), static_cast<int>(Preprocess::Resize::To));
  resize_->addItem(tr("to a multiple of N"), static_cast<int>(Preprocess::Resize::Multiple));
  width_ = new QSpinBox;
  height_ = new QSpinBox;
  multiple_ = new QSpinBox;
  for (QSpinBox* s : {width_, height_}) {
    s->setRange(1, 8192);
    s->setValue(224);
  }
  multiple_->setRange(1, 4096);
  multiple_->setValue(32);
  width_->setToolTip(tr("width"));
  height_->setToolTip(tr("height"));
  multiple_->setToolTip(tr("each side down to a multiple of N (the network's total stride)"));
  sizeRow->addWidget(resize_);
  sizeRow->addWidget(width_);
  sizeRow->addWidget(height_);
  sizeRow->addWidget(multiple_);
  pre->addRow(tr("Resize"), sizeRow);
  order_ = new QComboBox;
  order_->addItem(QStringLiteral("RGB"), static_cast<int>(Preprocess::Order::Rgb));
  order_->addItem(QStringLiteral("BGR"), static_cast<int>(Preprocess::Order::Bgr));
  order_->addItem(tr("gray (mean of RGB)"), static_cast<int>(Preprocess::Order::Gray));
  pre->addRow(tr("Channels"), order_);
  range_ = new QComboBox;
  range_->addItem(QStringLiteral("[0, 1]"), 1.0);
  range_->addItem(QStringLiteral("[0, 255]"), 255.0);
  pre->addRow(tr("Range"), range_);
  mean_ = new QLineEdit;
  std_ = new QLineEdit;
  mean_->setToolTip(tr("one value, or one per channel separated by ':' (after the range)"));
  std_->setToolTip(mean_->toolTip());
  pre->addRow(tr("Mean"), mean_);
  pre->addRow(tr("Std"), std_);
  imagenet_ = new QPushButton(tr("ImageNet preset"));
  imagenet_->setToolTip(tr("224 x 224, RGB, [0, 1], mean 0.485:0.456:0.406, std 0.229:0.224:0.225"));
  pre->addRow(QString(), imagenet_);
  layout->addWidget(preprocessBox_);

  moduleOutputs_ = new QCheckBox(tr("Also every submodule's output"));
  moduleOutputs_->setToolTip(tr("List each submodule's output as a point too (feature maps)"));
  layout->addWidget(moduleOutputs_);

  tree_ = new QTreeWidget;
  tree_->setObjectName(QStringLiteral("pointsTree"));
  tree_->setColumnCount(4);
  tree_->setHeaderLabels({tr("Point"), tr("Kind"), tr("Shape"), tr("Stride")});
  // Module paths nest deeply (layers > 0 > cbam > SpatialGate > sigmoid): a narrow indent, and
  // the name column as wide as its deepest item (the dock scrolls sideways if it must).
  tree_->setIndentation(10);
  tree_->header()->setStretchLastSection(false);
  for (int c = 0; c < 4; ++c) tree_->header()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
  tree_->setToolTip(tr("Attention points by module path: choose one to show it. Greyed: inside control flow, not capturable."));
  layout->addWidget(tree_, 1);

  connect(tree_, &QTreeWidget::currentItemChanged, this, [this](QTreeWidgetItem* item, QTreeWidgetItem*) {
    if (syncing_ || !item) return;
    const QString tensor = item->data(0, kTensorRole).toString();
    if (tensor.isEmpty() || tensor == document_->view().tensor) return;
    ViewSettings v = document_->view();
    v.tensor = tensor;
    v.channel = -1;
    v.head = -1;
    v.queryX = v.queryY = -1;
    document_->setView(v);
  });
  connect(input_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    if (!syncing_) document_->setScriptImageInput(input_->currentData().toBool());
  });
  for (QComboBox* c : {resize_, order_, range_}) {
    connect(c, qOverload<int>(&QComboBox::currentIndexChanged), this, &PointsPanel::pushPreprocess);
  }
  for (QSpinBox* s : {width_, height_, multiple_}) connect(s, &QSpinBox::editingFinished, this, &PointsPanel::pushPreprocess);
  for (QLineEdit* e : {mean_, std_}) connect(e, &QLineEdit::editingFinished, this, &PointsPanel::pushPreprocess);
  connect(imagenet_, &QPushButton::clicked, this, [this] {
    if (!document_->script()) return;
    Preprocess p = imagenetPreprocess();
    // The preset's statistics are RGB's; a BGR network keeps its order with them reversed.
    try {
      if (parsePreprocess(document_->script()->preprocess).order == Preprocess::Order::Bgr) {
        p.order = Preprocess::Order::Bgr;
        std::swap(p.mean[0], p.mean[2]);
        std::swap(p.std[0], p.std[2]);
      }
    } catch (const Error&) {
    }
    document_->setScriptPreprocess(preprocessText(p));
  });
  connect(moduleOutputs_, &QCheckBox::toggled, this, [this](bool on) {
    if (!syncing_) document_->setScriptModuleOutputs(on);
  });

  connect(document_, &Document::scriptChanged, this, [this] {
    errorText_.clear();
    if (!document_->script()) notice_->hide();  // it speaks of a file no longer open
    syncFromDocument();
  });
  connect(document_, &Document::resultChanged, this, [this] {
    if (document_->scriptRun()) errorText_.clear();
    syncFromDocument();
  });
  connect(document_, &Document::inputsChanged, this, &PointsPanel::syncFromDocument);
  connect(document_, &Document::viewChanged, this, &PointsPanel::selectCurrent);
  syncFromDocument();
}

QString PointsPanel::statusText() const { return status_->text(); }
QString PointsPanel::messageText() const { return message_->text(); }
QString PointsPanel::predictionText() const { return prediction_->text(); }
bool PointsPanel::noticeVisible() const { return !notice_->isHidden(); }

void PointsPanel::showNotice(const QString& path) {
  noticeText_->setText(tr("<b>%1 is a program.</b> TorchScript runs code from the file. FusionLens checked that every "
                          "operator of its forward is plain tensor maths from an allow-list before running it, but "
                          "open only files you trust.")
                           .arg(QFileInfo(path).fileName().toHtmlEscaped()));
  notice_->show();
}

void PointsPanel::showError(const QString& message) {
  errorText_ = message;
  syncFromDocument();
}

void PointsPanel::syncFromDocument() {
  syncing_ = true;
  const ScriptSource* s = document_->script();
  close_->setEnabled(s != nullptr);
  if (!s) {
    file_->setText(tr("Open a TorchScript file (.pt) or a capture (.flcap) with File > Open to see its points."));
    status_->clear();
    prediction_->clear();
  } else {
    file_->setText(tr("<b>%1</b> (%2, SHA-256 %3...)")
                       .arg(QFileInfo(s->path).fileName().toHtmlEscaped(),
                            s->kind == ScriptKind::Capture ? tr("capture from PyTorch") : tr("TorchScript"),
                            s->sha256.left(12)));
    file_->setToolTip(s->path);
    if (s->kind == ScriptKind::Capture) {
      status_->setText(s->status.text);
      status_->setStyleSheet(s->status.matches ? QStringLiteral("color: #1b7f3a; font-weight: bold;")
                                               : QStringLiteral("color: #b00020; font-weight: bold;"));
    } else {
      status_->clear();
    }
    const ScriptRun* run = document_->scriptRun();
    prediction_->setText(run ? run->prediction : QString());
  }
  const QString message = !errorText_.isEmpty() ? errorText_ : (s ? document_->scriptReadiness() : QString());
  message_->setText(message);
  message_->setStyleSheet(!errorText_.isEmpty() ? QStringLiteral("color: #b00020;") : QStringLiteral("color: palette(mid);"));
  message_->setVisible(!message.isEmpty());
  const bool torchscript = s && s->kind == ScriptKind::TorchScript;
  input_->setEnabled(torchscript);
  input_->setCurrentIndex(torchscript && !s->imageInput ? 1 : 0);
  moduleOutputs_->setEnabled(s && s->model);
  moduleOutputs_->setChecked(s && s->moduleOutputs);
  syncPreprocess();
  syncing_ = false;
  rebuildTree();
  selectCurrent();
}

void PointsPanel::syncPreprocess() {
  const ScriptSource* s = document_->script();
  const bool on = s && s->kind == ScriptKind::TorchScript && s->imageInput;
  preprocessBox_->setEnabled(on);
  Preprocess p;
  if (on) {
    try {
      p = parsePreprocess(s->preprocess);
    } catch (const Error&) {
    }
  }
  resize_->setCurrentIndex(resize_->findData(static_cast<int>(p.resize)));
  if (p.resize == Preprocess::Resize::To) {
    width_->setValue(p.width);
    height_->setValue(p.height);
  }
  if (p.resize == Preprocess::Resize::Multiple) multiple_->setValue(p.multiple);
  width_->setVisible(p.resize == Preprocess::Resize::To);
  height_->setVisible(p.resize == Preprocess::Resize::To);
  multiple_->setVisible(p.resize == Preprocess::Resize::Multiple);
  order_->setCurrentIndex(order_->findData(static_cast<int>(p.order)));
  range_->setCurrentIndex(p.range == 255 ? 1 : 0);
  mean_->setText(listText(p.mean));
  std_->setText(listText(p.std));
}

void PointsPanel::pushPreprocess() {
  if (syncing_ || !document_->script()) return;
  const auto mode = static_cast<Preprocess::Resize>(resize_->currentData().toInt());
  QString text;
  switch (mode) {
    case Preprocess::Resize::None: text = QStringLiteral("size=none"); break;
    case Preprocess::Resize::To: text = QStringLiteral("size=%1x%2").arg(width_->value()).arg(height_->value()); break;
    case Preprocess::Resize::Multiple: text = QStringLiteral("size=multiple:%1").arg(multiple_->value()); break;
  }
  const auto order = static_cast<Preprocess::Order>(order_->currentData().toInt());
  text += QStringLiteral(",order=") +
          (order == Preprocess::Order::Rgb ? QStringLiteral("rgb") : order == Preprocess::Order::Bgr ? QStringLiteral("bgr") : QStringLiteral("gray"));
  text += QStringLiteral(",range=") + (range_->currentIndex() == 1 ? QStringLiteral("255") : QStringLiteral("1"));
  text += QStringLiteral(",mean=") + mean_->text().trimmed() + QStringLiteral(",std=") + std_->text().trimmed();
  try {
    // Written back in the canonical form, so one setting is always one text.
    document_->setScriptPreprocess(preprocessText(parsePreprocess(text.toStdString())));
  } catch (const Error& e) {
    showError(guiText(e));
  }
}

void PointsPanel::rebuildTree() {
  const QSignalBlocker block(tree_);
  tree_->clear();
  const ScriptSource* s = document_->script();
  if (!s) return;
  std::map<QString, QTreeWidgetItem*> groups;
  // The group item of a module path, made with its parents ("layer3" > "1" > "cbam").
  const auto groupFor = [&](const std::string& path) -> QTreeWidgetItem* {
    if (path.empty()) return nullptr;
    QTreeWidgetItem* parent = nullptr;
    QString sofar;
    for (const QString& part : QString::fromStdString(path).split(QLatin1Char('.'))) {
      sofar += (sofar.isEmpty() ? QString() : QStringLiteral(".")) + part;
      auto it = groups.find(sofar);
      if (it == groups.end()) {
        auto* item = parent ? new QTreeWidgetItem(parent) : new QTreeWidgetItem(tree_);
        item->setText(0, part);
        item->setToolTip(0, sofar);
        item->setFlags(Qt::ItemIsEnabled);
        it = groups.emplace(sofar, item).first;
      }
      parent = it->second;
    }
    return parent;
  };
  const auto leaf = [&](const std::string& modulePath, const std::string& name) {
    QTreeWidgetItem* parent = groupFor(modulePath);
    auto* item = parent ? new QTreeWidgetItem(parent) : new QTreeWidgetItem(tree_);
    QString label = QString::fromStdString(name);
    if (!modulePath.empty() && name.size() > modulePath.size() && name.compare(0, modulePath.size(), modulePath) == 0) {
      label = QString::fromStdString(name.substr(modulePath.size() + 1));
    } else if (name == modulePath && !name.empty()) {
      label = tr("(module output)");
    }
    item->setText(0, label);
    item->setToolTip(0, QString::fromStdString(name));
    item->setData(0, kPointRole, QString::fromStdString(name));
    return item;
  };
  const auto grey = [&](const script::PointSpec& spec) {
    QTreeWidgetItem* item = leaf(spec.modulePath, spec.name);
    item->setText(1, tr("not capturable"));
    item->setText(2, QString::fromStdString(spec.reason));
    item->setToolTip(1, QString::fromStdString(spec.op + ": " + spec.reason));
    item->setFlags(Qt::ItemIsEnabled);  // listed, not selectable
    for (int c = 0; c < 4; ++c) item->setForeground(c, tree_->palette().brush(QPalette::Disabled, QPalette::Text));
  };
  const ScriptRun* run = document_->scriptRun();
  if (s->builtinResult) {
    // A capture that matched its built-in: the built-in's probes, under the capture's module.
    const std::string where = s->capture && !s->capture->modulePath.empty() ? s->capture->modulePath
                                                                             : (s->capture ? s->capture->className : std::string());
    for (const ProbeResult& p : s->builtinResult->probes) {
      QTreeWidgetItem* item = leaf(where, where.empty() ? p.name : where + "." + p.name);
      item->setText(1, QString::fromStdString(script::pointKindName(p.kind)));
      item->setText(2, shapeText(p.value.sizes()));
      item->setData(0, kTensorRole, QStringLiteral("probe.") + QString::fromStdString(p.name));
    }
  } else if (run) {
    for (const script::ScriptPoint& p : run->result.points) {
      QTreeWidgetItem* item = leaf(p.spec.modulePath, p.spec.name);
      item->setText(1, QString::fromStdString(script::pointKindName(p.kind)));
      item->setText(2, shapeText(p.rawShape));
      item->setText(3, strideText(p.strideH, p.strideW));
      item->setToolTip(1, QString::fromStdString(p.spec.op + (p.note.empty() ? std::string() : "; " + p.note)));
      item->setData(0, kTensorRole, QStringLiteral("probe.") + QString::fromStdString(p.spec.name));
    }
    for (const script::PointSpec& spec : run->result.notCaptured) grey(spec);
  } else if (s->model) {
    // Not run yet: the points the graph names, kinds and shapes after the first run.
    for (const script::PointSpec& spec : s->model->points(s->moduleOutputs)) {
      if (!spec.capturable) {
        grey(spec);
        continue;
      }
      QTreeWidgetItem* item = leaf(spec.modulePath, spec.name);
      item->setText(1, tr("(not run yet)"));
    }
  }
  tree_->expandAll();
}

QTreeWidgetItem* PointsPanel::itemForPoint(const QString& name) const {
  for (QTreeWidgetItemIterator it(tree_); *it; ++it) {
    if ((*it)->data(0, kPointRole).toString() == name) return *it;
  }
  return nullptr;
}

void PointsPanel::selectCurrent() {
  const QString tensor = document_->view().tensor;
  const QSignalBlocker block(tree_);
  for (QTreeWidgetItemIterator it(tree_); *it; ++it) {
    if (!tensor.isEmpty() && (*it)->data(0, kTensorRole).toString() == tensor) {
      tree_->setCurrentItem(*it);
      return;
    }
  }
}

}  // namespace fl::ui
