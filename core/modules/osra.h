#pragma once
/// OSRA, overlapping spatial reduction attention of TransXNet:
/// Lou, Yu, et al., "TransXNet: Learning Both Global and Local Dynamics with a Dual Dynamic
/// Token Mixer for Visual Recognition", IEEE TNNLS (arXiv 2310.19380); seed 002
/// (`OSRAttention`), official `LMMMEng/TransXNet:models/transxnet.py` (`class Attention`).
/// modules.md §6.
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

#include "core/modules/descriptor.h"

namespace fl {

/// Which code the module reproduces: the seed (ReLU in `sr`, keys sr.0, sr.1, sr.3, sr.4) or
/// the official TransXNet (GELU, mmcv ConvModule keys sr.0.conv, sr.0.bn, sr.1.conv, sr.1.bn).
enum class OsraVariant { Seed, TransXNet };

struct OsraOptions {
  explicit OsraOptions(int64_t dim) : dim_(dim) {}
  TORCH_ARG(int64_t, dim);            ///< channels C; C % num_heads == 0
  TORCH_ARG(int64_t, num_heads) = 8;  ///< h; head i owns channels [i*d, (i+1)*d), d = C/h
  TORCH_ARG(int64_t, sr_ratio) = 2;   ///< spatial reduction of keys/values; 1 = none
  TORCH_ARG(double, qk_scale) = 0.0;  ///< 0 = d^-0.5 (the seed's `qk_scale or ...`)
  TORCH_ARG(OsraVariant, variant) = OsraVariant::Seed;
  /// TransXNet's relative position encoding: a learnable bias [1,h,Nr,Nr'] (parameter
  /// `relative_pos_enc`, zeros until weights are loaded, as TransXNet initialises it) added to
  /// the scaled logits before the softmax; resized bicubically (align_corners false) to
  /// [N,Nk] when the input's grid differs, as TransXNet's forward does. Its grid (Hr, Wr):
  /// Nr = Hr*Wr and Nr' = ceil(Hr/sr)*ceil(Wr/sr) (TransXNet's sizes). 0 = no encoding.
  TORCH_ARG(int64_t, pos_enc_height) = 0;
  TORCH_ARG(int64_t, pos_enc_width) = 0;
  /// Peak bytes one forward may use (0 = unlimited). Over the full computation the queries
  /// are processed in chunks and the full `attention` probe is withheld (see warnings()).
  TORCH_ARG(int64_t, memory_budget) = 0;
};

/// mmcv ConvModule as TransXNet uses it: depthwise conv (no bias) `conv`, BatchNorm `bn`,
/// then GELU when `gelu` (no parameters, so the keys are conv.weight and bn.*).
class OsraConvBnImpl : public torch::nn::Cloneable<OsraConvBnImpl> {
 public:
  OsraConvBnImpl(int64_t channels, int64_t kernel, int64_t stride, int64_t padding, bool gelu);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  int64_t channels, kernel, stride, padding;
  bool gelu;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(OsraConvBn);

/// Sizes and memory arithmetic of one OSRA forward (bytes, float32), shared by the
/// descriptor's estimates and the module's chunk choice so that the two always agree.
struct OsraMemory {
  int64_t batch = 0, channels = 0, heads = 0, n = 0, nk = 0;  ///< N = H*W, Nk = H'*W'
  /// everything except attention rows: input, q, k/v maps, output; the position encoding and
  /// its resized [1,h,N,Nk] copy when there is one
  int64_t fixedBytes = 0;
  int64_t rowBytes = 0;     ///< working set of one query row: logits + softmax + output row
  int64_t attentionBytes() const { return 4 * batch * heads * n * nk; }  ///< one [B,h,N,Nk]
  int64_t fullBytes() const { return fixedBytes + n * rowBytes; }  ///< unchunked, with probe
  int64_t minBytes() const { return fixedBytes + rowBytes; }       ///< one query row a chunk
  /// Peak when the queries run in chunks of `rows` rows (no full probe).
  int64_t chunkedBytes(int64_t rows) const { return fixedBytes + rows * rowBytes; }
  /// Extra working set of the fused attention (core/modules/fused_attention.h): O(N + Nk).
  int64_t fusedExtraBytes = 0;
  /// Peak of a forward without the full probe, by the fused attention: O(HW).
  int64_t fusedBytes() const { return fixedBytes + fusedExtraBytes; }
};

/// Key/value grid of the spatial reduction: H' = floor((H + 2p - k) / sr) + 1 with
/// k = sr + 3, p = k / 2 (ceil(H/sr) for even sr, floor(H/sr) + 1 for odd); H when sr = 1.
int64_t osraReducedSize(int64_t size, int64_t srRatio);

/// Memory of a forward over x of `shape` [B,C,H,W].
OsraMemory osraMemory(const OsraOptions& options, const Shape& shape);

/// TransXNet's key count per side of a position encoding made for `size` pixels: ceil(size/sr).
int64_t osraPosEncKeys(int64_t size, int64_t srRatio);

/// Query rows per chunk under `budget` bytes (0 = unlimited): mem.n (no chunking) when the
/// full computation fits, else as many as the usable budget allows, in [1, n - 1].
int64_t osraChunkRows(const OsraMemory& mem, int64_t budget);

class OsraImpl : public torch::nn::Cloneable<OsraImpl> {
 public:
  explicit OsraImpl(const OsraOptions& options);
  void reset() override;
  /// x [B,C,H,W] -> softmax(q k^T * scale [+ relative_pos_enc]) v as [B,C,H,W] (no output
  /// projection), with q = Conv1x1(x) and k, v from kv = Conv1x1(sr(x) + local_conv(sr(x))).
  /// Probe: attention [B,h,H*W,H'*W'] (rows sum to 1), recorded only when the full matrix
  /// fits options.memory_budget; the output is computed in query chunks when it does not.
  /// Without a probe scope, or when `selection` leaves out "attention", the output comes from
  /// the fused attention, which never holds the [N,Nk] matrix.
  torch::Tensor forward(const torch::Tensor& x);
  /// Attention rows of the query pixels `queries` (flat indices into H*W): [B,h,Q,H'*W'],
  /// equal to those rows of the full attention.
  torch::Tensor attentionRows(const torch::Tensor& x, const std::vector<int64_t>& queries);
  /// Messages of the last forward (chunked computation, withheld probe).
  const std::vector<std::string>& warnings() const { return warnings_; }

  OsraOptions options;
  OutputSelection selection;  ///< what forward() computes (the attention probe or not)
  torch::nn::Conv2d q{nullptr};
  torch::nn::Conv2d kv{nullptr};
  /// Seed: Sequential(dwconv, BN, ReLU, dwconv1x1, BN); TransXNet: Sequential(ConvBn+GELU,
  /// ConvBn). Null (and not registered: Python's nn.Identity has no keys) when sr_ratio == 1.
  torch::nn::Sequential sr{nullptr};
  torch::nn::Conv2d local_conv{nullptr};
  /// [1,h,Nr,Nr'] when options.pos_enc_height() > 0, else undefined (and not registered).
  torch::Tensor relative_pos_enc;

 private:
  struct Projected {
    torch::Tensor q;  ///< [B,h,N,d]
    torch::Tensor k;  ///< [B,h,d,Nk]
    torch::Tensor v;  ///< [B,h,Nk,d]
  };
  Projected project(const torch::Tensor& x);
  double scale() const;
  /// relative_pos_enc at the logits' size [1,h,n,nk] (resized when needed), or undefined.
  torch::Tensor positionBias(int64_t n, int64_t nk) const;
  std::vector<std::string> warnings_;
};
TORCH_MODULE(Osra);

ModuleDescriptor osraDescriptor();

}  // namespace fl
