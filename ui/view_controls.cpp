#include "ui/view_controls.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLayout>
#include <QSignalBlocker>
#include <QSlider>
#include <QSpinBox>

#include "core/render/colormap.h"
#include "ui/document.h"

namespace fl::ui {

namespace {

/// Lays items out left to right and wraps to a new row when the width runs out (Qt's flow
/// layout example, reduced to what the view bar needs).
class FlowLayout : public QLayout {
 public:
  explicit FlowLayout(QWidget* parent, int spacing) : QLayout(parent), spacing_(spacing) {}
  ~FlowLayout() override {
    while (QLayoutItem* item = takeAt(0)) delete item;
  }
  void addItem(QLayoutItem* item) override { items_.append(item); }
  int count() const override { return static_cast<int>(items_.size()); }
  QLayoutItem* itemAt(int i) const override { return items_.value(i); }
  QLayoutItem* takeAt(int i) override { return i >= 0 && i < items_.size() ? items_.takeAt(i) : nullptr; }
  Qt::Orientations expandingDirections() const override { return {}; }
  bool hasHeightForWidth() const override { return true; }
  int heightForWidth(int width) const override { return place(QRect(0, 0, width, 0), false); }
  void setGeometry(const QRect& rect) override {
    QLayout::setGeometry(rect);
    place(rect, true);
  }
  QSize sizeHint() const override { return minimumSize(); }
  QSize minimumSize() const override {
    QSize size;
    for (const QLayoutItem* item : items_) size = size.expandedTo(item->minimumSize());
    const QMargins m = contentsMargins();
    return size + QSize(m.left() + m.right(), m.top() + m.bottom());
  }

 private:
  int place(const QRect& rect, bool apply) const {
    const QMargins m = contentsMargins();
    const QRect area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom());
    int x = area.x(), y = area.y(), rowHeight = 0;
    for (QLayoutItem* item : items_) {
      if (item->isEmpty()) continue;
      const QSize hint = item->sizeHint();
      if (x + hint.width() > area.right() + 1 && rowHeight > 0) {
        x = area.x();
        y += rowHeight + spacing_;
        rowHeight = 0;
      }
      if (apply) item->setGeometry(QRect(QPoint(x, y), hint));
      x += hint.width() + spacing_ * 2;
      rowHeight = std::max(rowHeight, hint.height());
    }
    return y + rowHeight - rect.y() + m.bottom();
  }

  QList<QLayoutItem*> items_;
  int spacing_;
};

}  // namespace

ViewControls::ViewControls(Document* document, QWidget* parent) : QWidget(parent), document_(document) {
  auto* flow = new FlowLayout(this, 4);
  flow->setContentsMargins(4, 2, 4, 2);
  // A label and its control stay together on one row.
  auto add = [this, flow](const QString& label, QWidget* w, QWidget* extra = nullptr) {
    auto* group = new QWidget(this);
    auto* row = new QHBoxLayout(group);
    row->setContentsMargins(0, 0, 0, 0);
    row->setSpacing(4);
    if (!label.isEmpty()) row->addWidget(new QLabel(label));
    row->addWidget(w);
    if (extra) row->addWidget(extra);
    flow->addWidget(group);
  };
  tensor_ = new QComboBox;
  tensor_->setMinimumContentsLength(18);
  tensor_->setSizeAdjustPolicy(QComboBox::AdjustToContents);  // "probe: attention (on demand)"
  tensor_->setToolTip(tr("Probe, output or input to show"));
  add(tr("Show"), tensor_);
  batch_ = new QSpinBox;
  batch_->setToolTip(tr("Batch element"));
  add(tr("Batch"), batch_);
  channel_ = new QSpinBox;
  channel_->setMinimum(-1);
  channel_->setSpecialValueText(tr("mean"));
  channel_->setToolTip(tr("Channel of a gate or feature map (mean: average over channels)"));
  add(tr("Channel"), channel_);
  head_ = new QSpinBox;
  head_->setMinimum(-1);
  head_->setSpecialValueText(tr("mean"));
  head_->setToolTip(tr("Attention head (mean: average over heads)"));
  add(tr("Head"), head_);
  colormap_ = new QComboBox;
  for (const auto& name : render::colormapNames()) colormap_->addItem(QString::fromStdString(name));
  add(tr("Colormap"), colormap_);
  norm_ = new QComboBox;
  norm_->addItem(tr("natural range"), QStringLiteral("natural"));
  norm_->addItem(tr("min-max"), QStringLiteral("minmax"));
  norm_->addItem(tr("percentile 1-99"), QStringLiteral("percentile"));
  norm_->addItem(tr("symmetric (signed)"), QStringLiteral("symmetric"));
  add(tr("Scale"), norm_);
  alpha_ = new QSlider(Qt::Horizontal);
  alpha_->setRange(0, 100);
  alpha_->setSingleStep(5);
  alpha_->setPageStep(10);
  // Its own size hint is a few pixels wide inside a row layout: give it a usable width.
  alpha_->setMinimumWidth(120);
  alpha_->setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);
  alpha_->setToolTip(tr("Heatmap opacity over the image"));
  alphaValue_ = new QLabel;
  alphaValue_->setMinimumWidth(alphaValue_->fontMetrics().horizontalAdvance(QStringLiteral("100%")));
  add(tr("Alpha"), alpha_, alphaValue_);
  complement_ = new QCheckBox(tr("1 - gate"));
  complement_->setToolTip(tr("Show the complement: the weight of the other input (AFF-style fusion)"));
  add(QString(), complement_);
  pca_ = new QCheckBox(tr("PCA RGB"));
  pca_->setToolTip(tr("Feature maps: first three principal components as RGB"));
  add(QString(), pca_);
  sort_ = new QCheckBox(tr("Sort"));
  add(QString(), sort_);
  topK_ = new QSpinBox;
  topK_->setRange(0, 4096);
  topK_->setSpecialValueText(tr("all"));
  add(tr("Top-k"), topK_);

  for (QSpinBox* s : {batch_, channel_, head_, topK_}) {
    connect(s, qOverload<int>(&QSpinBox::valueChanged), this, &ViewControls::push);
  }
  for (QComboBox* c : {tensor_, colormap_, norm_}) {
    connect(c, qOverload<int>(&QComboBox::currentIndexChanged), this, &ViewControls::push);
  }
  for (QCheckBox* c : {complement_, pca_, sort_}) connect(c, &QCheckBox::toggled, this, &ViewControls::push);
  connect(alpha_, &QSlider::valueChanged, this, [this](int value) {
    alphaValue_->setText(QStringLiteral("%1%").arg(value));
    push();
  });
  connect(document_, &Document::viewChanged, this, &ViewControls::syncFromDocument);
  connect(document_, &Document::resultChanged, this, &ViewControls::syncFromDocument);
  connect(document_, &Document::queryRowsChanged, this, &ViewControls::syncFromDocument);
  syncFromDocument();
}

void ViewControls::syncFromDocument() {
  syncing_ = true;
  const ViewSettings& v = document_->view();
  const RunResult* res = document_->result();
  {
    const QSignalBlocker block(tensor_);
    tensor_->clear();
    if (res) {
      for (const auto& p : res->probes) {
        tensor_->addItem(QStringLiteral("probe: ") + QString::fromStdString(p.name),
                         QStringLiteral("probe.") + QString::fromStdString(p.name));
      }
      for (const QString& name : document_->onDemandProbes()) {
        tensor_->addItem(QStringLiteral("probe: ") + name.mid(6) + tr(" (on demand)"), name);
      }
      for (const auto& o : res->outputNames) tensor_->addItem(QString::fromStdString(o), QString::fromStdString(o));
      // Outputs computed only when shown (cmgm's cam): choosing one asks the next run for it.
      for (const QString& name : document_->notComputed()) {
        if (!name.startsWith(QStringLiteral("probe."))) tensor_->addItem(name + tr(" (computed when shown)"), name);
      }
      if (const ModuleDescriptor* d = document_->registry().find(res->moduleId)) {
        for (const auto& in : d->inputs) {
          tensor_->addItem(QStringLiteral("input: ") + QString::fromStdString(in.name),
                           QStringLiteral("input.") + QString::fromStdString(in.name));
        }
      }
    }
    tensor_->setCurrentIndex(std::max(0, tensor_->findData(v.tensor)));
  }
  // Limits and visibility follow the selected tensor.
  ProbeKind kind = ProbeKind::FeatureMap;
  int64_t batches = 1, channels = 1, heads = 1;
  if (res) {
    at::Tensor t;
    if (document_->isOnDemandProbe(v.tensor)) {
      // No matrix to size the controls by: batches from the input, heads from the rows or
      // the module's num_heads.
      kind = ProbeKind::AttentionMatrix;
      const at::Tensor x = document_->resultInput(0);
      batches = x.defined() ? x.size(0) : 1;
      const QueryRows& rows = document_->queryRows();
      if (rows.rows.defined()) {
        heads = rows.rows.size(1);
      } else if (const ModuleDescriptor* d = document_->registry().find(res->moduleId)) {
        try {
          const Params p = resolveParams(d->id, d->params, document_->resultContext().request.params);
          if (p.has("num_heads")) heads = p.getInt("num_heads");
        } catch (const std::exception&) {
        }
      }
    } else if (v.tensor.startsWith(QStringLiteral("probe."))) {
      if (const ProbeResult* p = res->findProbe(v.tensor.mid(6).toStdString())) {
        t = p->value;
        kind = p->kind;
      }
    } else if (!res->outputs.empty()) {
      t = res->outputs.front();
    }
    if (t.defined() && t.dim() >= 2) {
      batches = t.size(0);
      channels = t.size(1);
      heads = t.size(1);
    }
  }
  const bool channelWise = kind == ProbeKind::Gate || kind == ProbeKind::FeatureMap || kind == ProbeKind::ChannelWeights;
  const bool attention = kind == ProbeKind::AttentionMatrix;
  const bool bars = kind == ProbeKind::ChannelWeights || kind == ProbeKind::ScaleWeights;
  {
    const QSignalBlocker b1(batch_), b2(channel_), b3(head_), b4(colormap_), b5(norm_), b6(alpha_),
        b7(complement_), b8(pca_), b9(sort_), b10(topK_);
    batch_->setRange(0, static_cast<int>(batches - 1));
    batch_->setValue(v.batch);
    channel_->setRange(-1, static_cast<int>(channels - 1));
    channel_->setValue(v.channel);
    head_->setRange(-1, static_cast<int>(heads - 1));
    head_->setValue(v.head);
    colormap_->setCurrentText(v.colormap);
    norm_->setCurrentIndex(std::max(0, norm_->findData(v.normalisation)));
    alpha_->setValue(static_cast<int>(std::lround(v.alpha * 100)));
    alphaValue_->setText(QStringLiteral("%1%").arg(alpha_->value()));
    complement_->setChecked(v.complement);
    pca_->setChecked(v.pca);
    sort_->setChecked(v.sortBars);
    topK_->setValue(v.topK);
  }
  // Attention rows and query peaks have no fixed range (a softmax row sums to 1): "natural"
  // draws them min-max, and the Scale box says so instead of promising a natural range.
  norm_->setItemText(0, attention ? tr("natural (rows: min-max)") : tr("natural range"));
  channel_->setEnabled(channelWise);
  head_->setEnabled(attention);
  complement_->setEnabled(kind == ProbeKind::Gate);
  pca_->setEnabled(kind == ProbeKind::FeatureMap);
  sort_->setEnabled(bars);
  topK_->setEnabled(bars);
  syncing_ = false;
}

void ViewControls::push() {
  if (syncing_) return;
  ViewSettings v = document_->view();
  const QString tensor = tensor_->currentData().toString();
  if (tensor != v.tensor) {
    v.channel = -1;
    v.head = -1;
  } else {
    v.channel = channel_->value();
    v.head = head_->value();
  }
  v.tensor = tensor;
  v.batch = batch_->value();
  v.colormap = colormap_->currentText();
  v.normalisation = norm_->currentData().toString();
  v.alpha = alpha_->value() / 100.0;
  v.complement = complement_->isChecked();
  v.pca = pca_->isChecked();
  v.sortBars = sort_->isChecked();
  v.topK = topK_->value();
  document_->setView(v);
}

}  // namespace fl::ui
