#include "ui/inputs_panel.h"

#include <ATen/ATen.h>

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QVBoxLayout>

#include "core/common/error.h"
#include "core/features/features.h"
#include "ui/document.h"

namespace fl::ui {

namespace {
QString shapeString(const at::Tensor& t) {
  QStringList dims;
  for (int64_t d : t.sizes()) dims << QString::number(d);
  return QStringLiteral("[") + dims.join(QStringLiteral(", ")) + QStringLiteral("]");
}
}  // namespace

InputsPanel::InputsPanel(Document* document, QWidget* parent) : QWidget(parent), document_(document) {
  auto* layout = new QVBoxLayout(this);
  auto* buttons = new QHBoxLayout;
  auto* open = new QPushButton(tr("Open..."));
  open->setToolTip(tr("Images (png, jpg, bmp, tiff, webp) or tensors (.npy, .npz, .pt, .safetensors)"));
  auto* remove = new QPushButton(tr("Remove"));
  buttons->addWidget(open);
  buttons->addWidget(remove);
  layout->addLayout(buttons);

  auto* featureRow = new QFormLayout;
  features_ = new QComboBox;
  features_->setEditable(true);
  features_->addItem(QString::fromStdString(defaultFeatureSpecText()));
  for (const char* spec : {"filterbank:channels=16,stride=2", "random:channels=64,stride=4,seed=0",
                           "random:channels=64,stride=8,seed=0", "rgb"}) {
    features_->addItem(QString::fromLatin1(spec));
  }
  features_->setToolTip(QString::fromStdString(featureSpecHelp()));
  features_->setInsertPolicy(QComboBox::NoInsert);  // a typo must not become a preset
  featureRow->addRow(tr("Image features"), features_);
  layout->addLayout(featureRow);
  // Features are computed when an image is opened: say so, and check what is typed at once.
  auto* featureNote = new QLabel;
  featureNote->setWordWrap(true);
  layout->addWidget(featureNote);
  const auto checkFeatures = [this, featureNote](const QString& text) {
    try {
      parseFeatureSpec(text.toStdString());
      featureNote->setStyleSheet(QStringLiteral("color: palette(mid);"));
      featureNote->setText(tr("For images opened from now on; open an image again to change its features."));
    } catch (const std::exception& e) {
      featureNote->setStyleSheet(QStringLiteral("color: #b00020;"));
      featureNote->setText(QString::fromStdString(firstLine(e.what())));
    }
  };
  connect(features_, &QComboBox::currentTextChanged, this, checkFeatures);
  checkFeatures(features_->currentText());

  list_ = new QListWidget;
  list_->setIconSize(QSize(64, 64));
  list_->setMinimumHeight(120);
  layout->addWidget(list_);

  layout->addWidget(new QLabel(tr("<b>Module inputs</b>")));
  slotsHost_ = new QWidget;
  layout->addWidget(slotsHost_);
  layout->addStretch(1);

  connect(open, &QPushButton::clicked, this, &InputsPanel::openRequested);
  connect(remove, &QPushButton::clicked, this, [this] { document_->removeInput(list_->currentRow()); });
  connect(document_, &Document::inputsChanged, this, &InputsPanel::refresh);
  connect(document_, &Document::moduleChanged, this, &InputsPanel::refresh);
  refresh();
}

QString InputsPanel::featureSpec() const { return features_->currentText(); }

void InputsPanel::setFeatureSpec(const QString& spec) { features_->setCurrentText(spec); }

void InputsPanel::refresh() {
  list_->clear();
  for (const auto& in : document_->inputs()) {
    auto* item = new QListWidgetItem(in.label + QStringLiteral("\n") + shapeString(in.tensor), list_);
    item->setToolTip(in.path);
    if (!in.image.isNull()) item->setIcon(QPixmap::fromImage(in.image.scaled(64, 64, Qt::KeepAspectRatio)));
  }
  delete slotsHost_->layout();
  qDeleteAll(slotsHost_->findChildren<QWidget*>(QString(), Qt::FindDirectChildrenOnly));
  auto* form = new QFormLayout(slotsHost_);
  const ModuleDescriptor* d = document_->descriptor();
  if (!d) return;
  for (size_t s = 0; s < d->inputs.size(); ++s) {
    auto* combo = new QComboBox;
    combo->setObjectName(QStringLiteral("slot_") + QString::fromStdString(d->inputs[s].name));
    combo->addItem(tr("(none)"), -1);
    for (size_t i = 0; i < document_->inputs().size(); ++i) {
      combo->addItem(document_->inputs()[i].label, static_cast<int>(i));
    }
    const int assigned = s < document_->assignment().size() ? document_->assignment()[s] : -1;
    combo->setCurrentIndex(assigned + 1);
    combo->setToolTip(QString::fromStdString(d->inputs[s].help));
    connect(combo, qOverload<int>(&QComboBox::activated), this,
            [this, s, combo] { document_->assign(static_cast<int>(s), combo->currentData().toInt()); });
    form->addRow(QString::fromStdString(d->inputs[s].name), combo);
  }
}

}  // namespace fl::ui
