#pragma once
// How the current probe is shown: what the view controls set and the document stores.
#include <QString>

namespace fl::ui {

struct ViewSettings {
  QString tensor;            ///< "probe.NAME", "output", "output.N" or "input.NAME"
  QString colormap = QStringLiteral("viridis");
  QString normalisation = QStringLiteral("natural");  ///< natural | minmax | percentile | symmetric
  double percentileLo = 1.0, percentileHi = 99.0;
  double alpha = 0.6;        ///< heatmap opacity over the image
  int batch = 0;
  int channel = -1;          ///< -1 = mean over channels (gates, features)
  int head = -1;             ///< -1 = mean over heads (attention)
  int queryX = -1, queryY = -1;  ///< query pixel in the query grid (attention)
  bool complement = false;   ///< show 1 - gate (the weight of the other input)
  bool pca = false;          ///< PCA-to-RGB for feature maps
  bool sortBars = false;
  int topK = 0;              ///< 0 = all channels
};

}  // namespace fl::ui
