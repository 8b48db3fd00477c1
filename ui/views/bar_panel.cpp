#include "ui/views/bar_panel.h"

#include <QVBoxLayout>
#include <algorithm>
#include <numeric>
#include "ui/qcp.h"

namespace fl::ui {

namespace {
const QColor kSeriesColors[] = {QColor(68, 114, 196), QColor(237, 125, 49), QColor(112, 173, 71),
                                QColor(165, 105, 189), QColor(91, 155, 213), QColor(255, 192, 0)};
}

BarPanel::BarPanel(QWidget* parent) : QWidget(parent) {
  plot_ = new QCustomPlot(this);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(plot_);
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot_->axisRect()->setRangeDrag(Qt::Horizontal);
  plot_->axisRect()->setRangeZoom(Qt::Horizontal);
  plot_->xAxis->setLabel(tr("channel"));
  plot_->yAxis->setLabel(tr("weight"));

  auto barAt = [this](QMouseEvent* e, int* pos) {
    if (order_.isEmpty()) return false;
    const double x = plot_->xAxis->pixelToCoord(e->position().x());
    const int p = static_cast<int>(std::lround(x));
    if (p < 0 || p >= order_.size()) return false;
    *pos = p;
    return true;
  };
  connect(plot_, &QCustomPlot::mouseMove, this, [this, barAt](QMouseEvent* e) {
    int p = 0;
    if (!barAt(e, &p)) return;
    QString text = tr("channel %1:").arg(order_[p]);
    for (int s = 0; s < series_.size(); ++s) text += QStringLiteral(" %1").arg(series_[s][order_[p]], 0, 'g', 5);
    Q_EMIT hovered(text);
  });
  connect(plot_, &QCustomPlot::mousePress, this, [this, barAt](QMouseEvent* e) {
    int p = 0;
    if (e->button() == Qt::LeftButton && barAt(e, &p)) Q_EMIT channelClicked(order_[p]);
  });
}

void BarPanel::clear() {
  for (auto* b : bars_) plot_->removePlottable(b);
  bars_.clear();
  if (highlight_) plot_->removePlottable(highlight_);
  highlight_ = nullptr;
  highlightChannel_ = -1;
  series_.clear();
  order_.clear();
  plot_->replot();
}

void BarPanel::showBars(const QVector<QVector<double>>& series, const QStringList& names,
                        bool sorted, int topK, double lo, double hi, const QString& title) {
  clear();
  if (series.isEmpty() || series.front().isEmpty()) return;
  series_ = series;
  const int channels = series.front().size();
  order_.resize(channels);
  std::iota(order_.begin(), order_.end(), 0);
  if (sorted) {
    const auto& key = series.front();
    std::stable_sort(order_.begin(), order_.end(), [&](int a, int b) { return key[a] > key[b]; });
  }
  if (topK > 0 && topK < channels) order_.resize(topK);

  const double width = 0.8 / series.size();
  auto* group = series.size() > 1 ? new QCPBarsGroup(plot_) : nullptr;
  for (int s = 0; s < series.size(); ++s) {
    auto* bars = new QCPBars(plot_->xAxis, plot_->yAxis);
    bars->setWidth(width);
    const QColor color = kSeriesColors[s % 6];
    bars->setBrush(color);
    bars->setPen(QPen(color.darker(130)));
    bars->setName(s < names.size() ? names[s] : QString());
    QVector<double> keys, values;
    for (int p = 0; p < order_.size(); ++p) {
      keys << p;
      values << series[s][order_[p]];
    }
    bars->setData(keys, values, true);
    if (group) bars->setBarsGroup(group);
    bars_ << bars;
  }
  QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
  const int step = std::max(1, static_cast<int>(order_.size()) / 32);
  for (int p = 0; p < order_.size(); p += step) ticker->addTick(p, QString::number(order_[p]));
  plot_->xAxis->setTicker(ticker);
  plot_->xAxis->setLabel(sorted ? tr("channel (sorted by %1)").arg(names.value(0)) : tr("channel"));
  plot_->xAxis->setRange(-1, order_.size());
  const double pad = (hi - lo) * 0.05;
  plot_->yAxis->setRange(lo - (lo < 0 ? pad : 0), hi + pad);
  plot_->legend->setVisible(series.size() > 1);
  plot_->xAxis2->setVisible(true);
  plot_->xAxis2->setTicks(false);
  plot_->xAxis2->setLabel(title);
  plot_->replot();
}

void BarPanel::setHighlight(int channel) {
  if (highlight_) plot_->removePlottable(highlight_);
  highlight_ = nullptr;
  highlightChannel_ = -1;
  const int p = static_cast<int>(order_.indexOf(channel));
  if (channel >= 0 && p >= 0 && !series_.isEmpty()) {
    // One bar over the first series' bar at the channel's position, in a contrasting colour.
    highlight_ = new QCPBars(plot_->xAxis, plot_->yAxis);
    highlight_->setWidth(bars_.isEmpty() ? 0.8 : bars_.front()->width());
    highlight_->setBrush(QColor(214, 39, 40));
    highlight_->setPen(QPen(QColor(214, 39, 40).darker(130)));
    highlight_->setName(tr("selected"));
    highlight_->removeFromLegend();
    highlight_->addData(p, series_.front()[channel]);
    highlightChannel_ = channel;
  }
  plot_->replot();
}

}  // namespace fl::ui
