#pragma once
/// Reductions from probe tensors to the 2-D maps and images the views show, in the core so the
/// GUI and the CLI compute exactly the same thing (architecture.md, "Probe kinds and their
/// views").
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <opencv2/core.hpp>

namespace fl::render {

/// The channel mean of a Gate (or FeatureMap) probe for one batch element:
/// gate [B,C,H,W] -> mean over C of gate[batch] -> [H,W], float32 on the input's device.
/// Non-finite values propagate (a NaN channel gives NaN pixels; computeRange reports them).
/// Throws fl::Error(Input) for another rank and fl::Error(Usage) for a batch index out of
/// [0, B).
at::Tensor gateMeanMap(const at::Tensor& gate, int64_t batch);

/// One query row of an AttentionMatrix probe as a key-grid map:
/// attn [B,heads,Nq,Nk] -> attn[batch, head, queryIndex, :] reshaped to [keyH, keyW]
/// (row-major: key k = row * keyW + col), float32 on the input's device. head = -1 averages
/// the row over all heads. For a softmax matrix each row sums to 1, so the map's natural range
/// is [0, 1]. Throws fl::Error(Input) for another rank or keyH * keyW != Nk and
/// fl::Error(Usage) for an index out of range (batch, head, queryIndex).
at::Tensor attentionRowMap(const at::Tensor& attn, int64_t batch, int64_t head, int64_t queryIndex,
                           int64_t keyH, int64_t keyW);

/// The key grid (rows, cols) of Nk attention keys for a query grid of qh x qw: the
/// factorisation of Nk whose aspect is closest to the query grid's (OSRA reduces both sides by
/// sr, so its keys form an (H/sr) x (W/sr) grid). Used to draw a query's row over the keys.
std::pair<int64_t, int64_t> attentionKeyGrid(int64_t nk, int64_t qh, int64_t qw);

/// PCA-RGB of a feature map: features [C,H,W] (a FeatureMap probe's batch element) ->
/// CV_8UC3 **RGB** H x W. The pixels are the samples, the channels the variables: channel
/// means are subtracted, the C x C covariance is diagonalised (float64), and the scores of the
/// first three principal components (largest variance first) become R, G and B, each mapped to
/// [0, 255] by clipping to its own 1st-99th percentile (round(255 t)). Deterministic: each
/// component's sign is chosen so that its largest-|loading| channel (the first on ties) has a
/// positive loading. A component with no variance (C < 3, constant data) is mid-grey 128.
/// Non-finite feature values are treated as the channel mean. Throws fl::Error(Input) for a
/// tensor that is not 3-D or is empty.
cv::Mat pcaRgb(const at::Tensor& features);

}  // namespace fl::render
