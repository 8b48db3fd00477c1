#pragma once
/// CMGM, the cross-model grafting module of PGNet:
/// Xie, Xia, et al., "Pyramid Grafting Network for One-Stage High Resolution Saliency
/// Detection", CVPR 2022 (arXiv 2204.05041); seed 003, official `iCVTEAM/PGNet:src/PGNet.py`
/// (`class Grafting`). modules.md §8.
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "core/modules/descriptor.h"

namespace fl {

/// faithful: PGNet's hard-coded sizes, C must be 64 and num_heads 8. generalized:
/// LayerNorm(C), conv2 with C channels, conv/bn with num_heads channels (same keys at 64/8).
enum class CmgmMode { Faithful, Generalized };

struct CmgmOptions {
  explicit CmgmOptions(int64_t dim) : dim_(dim) {}
  TORCH_ARG(int64_t, dim);            ///< channels C of x and y
  TORCH_ARG(int64_t, num_heads) = 8;  ///< h; the heads are the channels of conv/bn
  TORCH_ARG(bool, qkv_bias) = true;   ///< bias of the k and qv Linear layers
  TORCH_ARG(double, qk_scale) = 0.0;  ///< 0 = (C/h)^-0.5
  TORCH_ARG(CmgmMode, mode) = CmgmMode::Faithful;
  /// Peak bytes one forward may use (0 = unlimited). Over the full computation the module
  /// runs chunked: output.0 from query chunks; cam (output.1) and the `attention` probe only
  /// when they fit (cam from row chunks), else withheld (see warnings()).
  TORCH_ARG(int64_t, memory_budget) = 0;
};

/// Empty when the options can be built (faithful: C == 64 and h == 8; C % h == 0), else a
/// Problem about the parameter at fault, with a fix.
Problem cmgmOptionsError(const CmgmOptions& options);

/// Memory arithmetic of one CMGM forward (bytes, float32), shared by the descriptor's
/// estimates and the module's plan. A = one [B,h,N,N] attention tensor.
struct CmgmMemory {
  int64_t batch = 0, channels = 0, heads = 0, n = 0;  ///< N = H*W
  int64_t fixedBytes = 0;   ///< inputs, LayerNorms, k/q/v, proj, conv2, output.0, lse
  int64_t rowBytes = 0;     ///< one query row of the output pass: logits, softmax, attn@v
  int64_t camRowBytes = 0;  ///< one row of the chunked cam pass: rows, columns, conv, BN
  /// Extra working set of the fused attention (core/modules/fused_attention.h), O(N).
  int64_t fusedExtraBytes = 0;
  /// Peak of output.0 alone by the fused attention: O(HW), no [N,N] tensor.
  int64_t fusedBytes() const { return fixedBytes + fusedExtraBytes; }
  int64_t attentionBytes() const { return 4 * batch * heads * n * n; }
  /// Attention-sized peak of the direct (unchunked) computation with cam and probe.
  int64_t directAttentionBytes(bool probe) const;
  int64_t fullBytes() const { return fixedBytes + directAttentionBytes(true); }
  /// output.0 only: 1-row chunks or the fused attention, whichever is smaller
  int64_t minBytes() const { return std::min(fixedBytes + rowBytes, fusedBytes()); }
};

CmgmMemory cmgmMemory(const CmgmOptions& options, const Shape& shape);

/// How a forward runs under a budget (CmgmImpl::plan).
struct CmgmPlan {
  bool direct = true;    ///< one pass, everything as in the reference
  int64_t rows = 0;      ///< query rows per chunk of the output pass
  bool cam = true;       ///< output.1 produced
  int64_t camRows = 0;   ///< rows per chunk of the cam pass (chunked only)
  bool probe = true;     ///< full attention probe recorded (when a probe scope is open)
  /// output.0 from the fused attention (no [N,N] tensor; chunked plans without the probe
  /// buffer, when its working set fits); else from `rows`-row chunks
  bool fused = false;
};

/// The plan for `mem` under `budget` bytes (0 = unlimited); `probeWanted` when a probe scope
/// is open. Never fails: below minBytes() it still returns 1-row chunks and no cam/probe.
/// `camWanted`: cam (output.1) is asked for; without cam and probe nothing needs the [N,N]
/// matrix and the plan is the fused attention.
CmgmPlan cmgmPlan(const CmgmMemory& mem, int64_t budget, bool probeWanted,
                  bool camWanted = true);

/// Estimated peak of a forward that follows `plan` (a probe scope open when plan.probe):
/// the direct computation's fixed + attention-sized peak, or the largest phase of the chunked
/// one (output pass with its probe buffer and copy, cam pass with the cam output).
int64_t cmgmPlannedBytes(const CmgmMemory& mem, const CmgmPlan& plan);

class CmgmImpl : public torch::nn::Cloneable<CmgmImpl> {
 public:
  explicit CmgmImpl(const CmgmOptions& options);
  void reset() override;
  /// x (CNN), y (Transformer) [B,C,H,W] -> {output.0 [B,C,H,W], cam [B,h,N,N]}:
  /// attn = softmax(q k^T * scale) with q, v from LN(x) and k from LN(y) (N = H*W);
  /// o = proj(attn v) + x tokens; output.0 = conv2(o) + o;
  /// cam = ReLU(BN(conv3x3(attn + attn^T))) with the heads as channels, computed only when
  /// `selection` wants "output.1" (else undefined).
  /// Probe: attention [B,h,N,N]. Under options.memory_budget the cam may be an undefined
  /// tensor and the probe withheld; warnings() says so.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& y);
  /// Attention rows of the query pixels `queries` (flat indices into H*W of x):
  /// [B,h,Q,N], equal to those rows of the full attention.
  torch::Tensor attentionRows(const torch::Tensor& x, const torch::Tensor& y,
                              const std::vector<int64_t>& queries);
  const std::vector<std::string>& warnings() const { return warnings_; }

  CmgmOptions options;
  OutputSelection selection;  ///< what forward() computes: cam (output.1), the probe
  // Registration order = the reference's state_dict order (the parameter-free `act` omitted).
  torch::nn::Linear k{nullptr};
  torch::nn::Linear qv{nullptr};
  torch::nn::Linear proj{nullptr};
  torch::nn::Conv2d conv{nullptr};
  torch::nn::LayerNorm lnx{nullptr};
  torch::nn::LayerNorm lny{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  /// 0 conv3x3, 1 BN, 2 ReLU, 3 conv3x3, 4 BN, 5 ReLU
  torch::nn::Sequential conv2{nullptr};

 private:
  struct Projected {
    torch::Tensor tokens;  ///< x as [B,N,C] (the residual, before LayerNorm)
    torch::Tensor q;       ///< [B,h,N,d] from x
    torch::Tensor k;       ///< [B,h,N,d] from y
    torch::Tensor v;       ///< [B,h,N,d] from x
  };
  Projected project(const torch::Tensor& x, const torch::Tensor& y);
  double scale() const;
  torch::Tensor camFromAttention(torch::Tensor attn);
  torch::Tensor camChunked(const Projected& p, const torch::Tensor& lse, int64_t rows);
  std::vector<std::string> warnings_;
};
TORCH_MODULE(Cmgm);

ModuleDescriptor cmgmDescriptor();

}  // namespace fl
