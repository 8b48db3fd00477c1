#include "ui/inputs_panel.h"

#include <ATen/ATen.h>

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QSignalBlocker>
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
  features_->setObjectName(QStringLiteral("featureSpec"));
  features_->setEditable(true);
  features_->addItem(QString::fromStdString(defaultFeatureSpecText()));
  for (const char* spec : {"filterbank:channels=16,stride=2", "random:channels=64,stride=4,seed=0",
                           "random:channels=64,stride=8,seed=0", "rgb"}) {
    features_->addItem(QString::fromLatin1(spec));
  }
  features_->setInsertPolicy(QComboBox::NoInsert);  // a typo must not become a preset
  featureRow->addRow(tr("Image features"), features_);
  layout->addLayout(featureRow);
  // Features are computed when an image is opened: say so, and check what is typed at once.
  featureNote_ = new QLabel;
  featureNote_->setObjectName(QStringLiteral("featureNote"));
  featureNote_->setWordWrap(true);
  layout->addWidget(featureNote_);
  const auto checkFeatures = [this](const QString& text) {
    try {
      parseFeatureSpec(text.toStdString());
      featureStyle_ = QStringLiteral("color: palette(mid);");
      featureText_ = tr("For images opened from now on; open an image again to change its features.");
    } catch (const std::exception& e) {
      featureStyle_ = QStringLiteral("color: #b00020;");
      featureText_ = QString::fromStdString(firstLine(e.what()));
    }
    showWhetherUsed();
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
  connect(document_, &Document::scriptChanged, this, &InputsPanel::showWhetherUsed);
  refresh();
}

void InputsPanel::showWhetherUsed() {
  const QString features = document_->featuresUnusedReason();
  features_->setEnabled(features.isEmpty());
  features_->setToolTip(features.isEmpty() ? QString::fromStdString(featureSpecHelp()) : features);
  featureNote_->setStyleSheet(features.isEmpty() ? featureStyle_ : QStringLiteral("color: palette(mid);"));
  featureNote_->setText(features.isEmpty() ? featureText_ : features);
  if (!slotsHost_) return;
  const QString module = document_->moduleUnusedReason();
  slotsHost_->setEnabled(module.isEmpty());
  slotsHost_->setToolTip(module);
  const ModuleDescriptor* d = document_->descriptor();
  for (size_t s = 0; s < slotCombos_.size(); ++s) {
    const QString help = d && s < d->inputs.size() ? QString::fromStdString(d->inputs[s].help) : QString();
    slotCombos_[s]->setToolTip(module.isEmpty() ? help : module + QStringLiteral("\n\n") + help);
  }
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
  const ModuleDescriptor* d = document_->descriptor();
  QStringList names;
  if (d) {
    for (const auto& in : d->inputs) names << QString::fromStdString(in.name);
  }
  // This runs inside the signals of the slot combos themselves (a pick assigns, the document
  // says inputsChanged): deleting the combo that is still delivering its activated /
  // textActivated signals crashed the app. So the combos are rebuilt only when the module's
  // inputs change (never from a combo's own signal), old ones go with deleteLater, and an
  // assignment or a new file only updates their items in place.
  if (names != slotNames_) {
    slotNames_ = names;
    for (QComboBox* old : slotCombos_) {
      old->setObjectName(QString());
      old->hide();
      old->deleteLater();
    }
    slotCombos_.clear();
    delete slotsHost_->layout();
    for (QWidget* label : slotsHost_->findChildren<QLabel*>(QString(), Qt::FindDirectChildrenOnly)) label->deleteLater();
    auto* form = new QFormLayout(slotsHost_);
    for (int s = 0; s < names.size(); ++s) {
      auto* combo = new QComboBox;
      combo->setObjectName(QStringLiteral("slot_") + names[s]);
      connect(combo, qOverload<int>(&QComboBox::activated), this,
              [this, s, combo] { document_->assign(s, combo->currentData().toInt()); });
      form->addRow(names[s], combo);
      slotCombos_.push_back(combo);
    }
  }
  for (int s = 0; s < static_cast<int>(slotCombos_.size()); ++s) {
    QComboBox* combo = slotCombos_[static_cast<size_t>(s)];
    const QSignalBlocker block(combo);
    QStringList labels{tr("(none)")};
    for (const auto& in : document_->inputs()) labels << in.label;
    QStringList shown;
    for (int i = 0; i < combo->count(); ++i) shown << combo->itemText(i);
    if (shown != labels) {
      // Items are replaced, the combo stays: a popup of this combo may be delivering a pick.
      while (combo->count() > labels.size()) combo->removeItem(combo->count() - 1);
      for (int i = 0; i < labels.size(); ++i) {
        if (i < combo->count()) {
          combo->setItemText(i, labels[i]);
          combo->setItemData(i, i - 1);
        } else {
          combo->addItem(labels[i], i - 1);
        }
      }
    }
    const int assigned = s < static_cast<int>(document_->assignment().size()) ? document_->assignment()[static_cast<size_t>(s)] : -1;
    combo->setCurrentIndex(assigned + 1);
  }
  showWhetherUsed();  // the slots' tooltips
}

}  // namespace fl::ui
