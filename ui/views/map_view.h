#pragma once
// Spatial maps, gates and feature maps [B,C,H,W] (SpatialMap, Gate, FeatureMap): a heatmap over
// the image (a gate or feature map: one channel or the mean over channels; a feature map may be
// shown as PCA to RGB), and under it each channel's mean as a strip of bars to pick a channel.
//
// The picture is made on the view's own render thread (issue 15: the map picked, its range,
// its colours, the channel means, PCA), not on the GUI thread and not behind a module run on
// the job service's worker; the GUI thread only hands the finished frame to the plots. Changes
// during a render coalesce: the newest settings render next, older ones are never shown.
#include <QImage>
#include <QString>
#include <QVector>
#include <memory>
#include <optional>
#include <thread>

#include "ui/view_settings.h"
#include "ui/views/kind_view.h"

class QThreadPool;

namespace fl::ui {

class BarPanel;

/// What MapView renders: a snapshot of the tensor and the view settings (no document).
struct MapRenderRequest {
  SelectedTensor tensor;
  ViewSettings view;
  int64_t batch = 0;
  QImage base;  ///< the image under the map (null: none); only its size is read off the GUI thread
};

/// A rendered picture for MapView (made by renderMapFrame on the render thread).
struct MapFrame {
  bool pca = false;
  QImage rgb;  ///< PCA to RGB
  QString title;
  HeatmapFrame heatmap;
  bool channelWise = false;
  QVector<double> means;  ///< each channel's mean (complemented for a complement view)
  double meanLo = 0, meanHi = 1;
  bool complement = false;
  QString error;  ///< non-empty: nothing to show, say this
  std::thread::id thread;  ///< where it was rendered (tests)
};

/// Pure: no widgets, no document; any thread.
MapFrame renderMapFrame(const MapRenderRequest& request);

class MapView : public KindView {
  Q_OBJECT
 public:
  explicit MapView(Document* document, QWidget* parent = nullptr);
  /// Waits for a render still running (a few milliseconds) before the members go.
  ~MapView() override;
  void showTensor(const SelectedTensor& t) override;

  HeatmapPanel* heatmap() const { return heatmap_; }
  BarPanel* channelStrip() const { return channelStrip_; }

  /// Tests and scripted use: blocks until the pending renders are done and shown.
  void waitForRender() override;
  /// A render is running or waiting.
  bool rendering() const override { return inFlight_ || pending_.has_value(); }
  /// The thread that rendered the picture shown last (tests: never the GUI thread).
  std::thread::id lastRenderThread() const { return lastThread_; }

 Q_SIGNALS:
  /// A rendered frame was handed to the plots (`renderMs`: its time on the render thread).
  void frameShown(double renderMs);

 private:
  void startRender();
  void showFrame(MapFrame frame, const QImage& base, double renderMs);
  void showChannelStrip(const MapFrame& f);

  HeatmapPanel* heatmap_;
  BarPanel* channelStrip_;
  QThreadPool* pool_;  ///< one thread: renders run one at a time, in order
  std::optional<MapRenderRequest> pending_;
  bool inFlight_ = false;
  uint64_t serial_ = 0;  ///< of the newest request; older frames are dropped
  std::thread::id lastThread_;
};

}  // namespace fl::ui
