#pragma once
/// MS-CAM, the multi-scale channel attention module of
/// Dai, Gieseke, Oehmcke, Wu, Barnard, "Attentional Feature Fusion", WACV 2021
/// (arXiv 2009.14082); seed 001, open-aff `aff_pytorch/aff_net/fusion.py`.
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "core/modules/descriptor.h"
#include "core/modules/descriptor_util.h"

namespace fl {

/// Local (point-wise) branch L: Conv1x1(C->inter) BN ReLU Conv1x1(inter->C) BN, state_dict
/// indices 0,1,(2),3,4. [B,C,H,W] -> [B,C,H,W] logits.
torch::nn::Sequential makeLocalAttention(int64_t channels, int64_t inter);
/// L(x) + extra, with each eval-mode BatchNorm folded into the 1x1 conv before it, so the
/// branch is two matrix products per image (bias and ReLU in place) and one full-size output
/// instead of five passes and four full-size temporaries. `extra` ([B,C] or [B,C,1,1], may be
/// undefined) is added through the second product's bias: MS-CAM and AFF pass G(x) there.
/// In training mode (batch statistics) it runs the Sequential and adds `extra`.
at::Tensor localAttentionPlus(torch::nn::Sequential local, const at::Tensor& x,
                              const at::Tensor& extra);
/// Global branch G: GAP then the same stack, indices (0),1,2,(3),4,5. [B,C,H,W] -> [B,C,1,1].
torch::nn::Sequential makeGlobalAttention(int64_t channels, int64_t inter);
/// What makeLocalAttention / makeGlobalAttention register, under `prefix` (descriptor state).
void addLocalAttentionState(desc::StateList& state, const std::string& prefix, int64_t channels, int64_t inter);
void addGlobalAttentionState(desc::StateList& state, const std::string& prefix, int64_t channels, int64_t inter);
/// One MS-CAM's state: local_att and global_att, each name followed by `suffix` (iAFF's
/// second stage registers local_att2, global_att2).
void addMsCamState(desc::StateList& state, int64_t channels, int64_t inter, const std::string& suffix = "");
/// The descriptor state of a module that is one MS-CAM at input 0's channels and parameter
/// "r" (ms-cam itself, aff).
std::vector<StateTensor> msCamState(const Params& p, const std::vector<Shape>& shapes);

struct MsCamOptions {
  explicit MsCamOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, r) = 4;  ///< channel reduction: inter = channels / r
};

class MsCamImpl : public torch::nn::Cloneable<MsCamImpl> {
 public:
  explicit MsCamImpl(const MsCamOptions& options);
  void reset() override;
  /// x [B,C,H,W] -> x * sigmoid(L(x) + G(x)).
  /// Probes: weight [B,C,H,W], local = L(x) [B,C,H,W], global = G(x) [B,C].
  torch::Tensor forward(const torch::Tensor& x);

  MsCamOptions options;
  torch::nn::Sequential local_att{nullptr};
  torch::nn::Sequential global_att{nullptr};
};
TORCH_MODULE(MsCam);

ModuleDescriptor msCamDescriptor();

}  // namespace fl
