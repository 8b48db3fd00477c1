#pragma once
// Bar charts of channel scores (ChannelWeights [B,C]) and per-scale weights
// (ScaleWeights [B,C,S] as grouped bars): sorted or by index, top-k, hover, click a channel.
#include <QVector>
#include <QWidget>

class QCustomPlot;
class QCPBars;

namespace fl::ui {

class BarPanel : public QWidget {
  Q_OBJECT
 public:
  explicit BarPanel(QWidget* parent = nullptr);

  /// series[s][c]: value of channel c in series s (one series per scale; one for channel
  /// weights). With `sorted`, channels are ordered by the first series, descending; with
  /// topK > 0 only the first topK channels after ordering are shown.
  void showBars(const QVector<QVector<double>>& series, const QStringList& seriesNames,
                bool sorted, int topK, double lo, double hi, const QString& title);
  void clear();
  /// Marks one channel's bar (the channel shown elsewhere); -1 removes the mark.
  void setHighlight(int channel);
  int highlight() const { return highlightChannel_; }

  /// Channel index shown at each bar position (after sorting / top-k), for tests.
  const QVector<int>& channelOrder() const { return order_; }
  const QVector<QCPBars*>& bars() const { return bars_; }
  QCustomPlot* plot() const { return plot_; }

 Q_SIGNALS:
  void channelClicked(int channel);
  void hovered(const QString& text);

 private:
  QCustomPlot* plot_;
  QVector<QCPBars*> bars_;
  QCPBars* highlight_ = nullptr;  ///< drawn over the series; not one of bars_
  int highlightChannel_ = -1;
  QVector<QVector<double>> series_;
  QVector<int> order_;
};

}  // namespace fl::ui
