#pragma once
/// The kinds of probe, without torch: descriptors (and so the UI's widgets) name them without
/// pulling in LibTorch's headers.

namespace fl {

/// What a probe tensor is, which picks its view in the UI (architecture.md).
enum class ProbeKind {
  ChannelWeights,   ///< [B,C]          -> bar chart
  SpatialMap,       ///< [B,1,H,W]      -> heatmap overlay
  Gate,             ///< [B,C,H,W]      -> mean map + channel browser (values in a range)
  AttentionMatrix,  ///< [B,heads,Nq,Nk] with query/key grids -> matrix + query-pixel view
  ScaleWeights,     ///< [B,C,S]        -> grouped bars, channel x scale heatmap
  FeatureMap,       ///< [B,C,H,W]      -> channel browser / PCA-RGB (unbounded)
  ChannelMatrix,    ///< [B,C,C]        -> matrix view (channel-to-channel)
};

const char* probeKindName(ProbeKind kind);

}  // namespace fl
