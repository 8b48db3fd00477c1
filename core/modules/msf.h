#pragma once
/// MSF, the multi-scale selective fusion block (seed 002 "MSFblock"), extracted from the
/// MFEblock of Xie et al., "SHISRCNet: Super-resolution And Classification Network For
/// Low-resolution Breast Cancer Histopathology Image", MICCAI 2023 (arXiv 2306.14119);
/// official `xiely-123/SHISRCNet:SRResNet_class.py` (modules.md §4).
///
/// Also declares the selective-fusion piece that MSF and MFE (mfe.h) share: the per-scale
/// SE transforms `SE1..SE4`, the `project` stack and selectiveFuse().
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <string>

#include "core/modules/descriptor.h"
#include "core/modules/descriptor_util.h"

namespace fl {

/// Which `oneConv` the SEk transforms use (modules.md §4, "oneConv is defined twice").
enum class ScaleSeVariant {
  Seed,       ///< conv.0 = Conv1x1(C->C, no bias): the seed (first upstream definition)
  Shisrcnet,  ///< conv.0 = Conv1x1(C->C, bias), conv.1 = BN, (2) ReLU: what official code runs
};

/// "seed" | "shisrcnet" -> variant; throws fl::Error(Usage) otherwise.
ScaleSeVariant parseScaleSeVariant(const std::string& text);

struct ScaleSeOptions {
  explicit ScaleSeOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(ScaleSeVariant, variant) = ScaleSeVariant::Seed;
};

/// One scale-descriptor transform `SEk` (the seed's `oneConv(C, C, 1, 0, 1)`): its only child
/// is the Sequential `conv`. [B,C,1,1] -> [B,C,1,1] logits.
class ScaleSeImpl : public torch::nn::Cloneable<ScaleSeImpl> {
 public:
  explicit ScaleSeImpl(const ScaleSeOptions& options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  ScaleSeOptions options;
  torch::nn::Sequential conv{nullptr};
};
TORCH_MODULE(ScaleSe);

/// The output stack `project`: Conv1x1(C->C, no bias) BN ReLU, indices 0,1,(2).
torch::nn::Sequential makeSelectiveProject(int64_t channels);

/// Registers SE1..SE4 on `owner` (in that order) and returns them.
std::array<ScaleSe, 4> registerScaleSes(torch::nn::Module& owner, int64_t channels,
                                        ScaleSeVariant variant);

/// What makeSelectiveProject (under `prefix`) and registerScaleSes register (descriptor state).
void addSelectiveProjectState(desc::StateList& state, const std::string& prefix, int64_t channels);
void addScaleSesState(desc::StateList& state, int64_t channels, ScaleSeVariant variant);

/// Result of selectiveFuse().
struct SelectiveFusion {
  torch::Tensor fused;    ///< sum_i w_i * f_i, [B,C,H,W]
  torch::Tensor weights;  ///< w, [B,C,4]
};

/// Multi-scale selective fusion: g_i = SE_i(GAP(f_i)) [B,C,1,1];
/// w = softmax over the 4 scales of sigmoid(cat_i g_i) (per channel); fused = sum_i w_i f_i.
/// Each weight lies in [1/(1+3e), e/(e+3)] (seed SE) or [0.168, 0.355] (shisrcnet SE).
SelectiveFusion selectiveFuse(std::array<ScaleSe, 4>& ses,
                              const std::array<torch::Tensor, 4>& feats);

struct MsfOptions {
  explicit MsfOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(ScaleSeVariant, se_variant) = ScaleSeVariant::Seed;
};

class MsfImpl : public torch::nn::Cloneable<MsfImpl> {
 public:
  explicit MsfImpl(const MsfOptions& options);
  void reset() override;
  /// x0..x3 [B,C,H,W] (same shape) -> project(sum_i w_i x_i) [B,C,H,W] (no residual).
  /// Probe: scale_weights = w [B,C,4].
  torch::Tensor forward(const torch::Tensor& x0, const torch::Tensor& x1, const torch::Tensor& x2,
                        const torch::Tensor& x3);

  MsfOptions options;
  torch::nn::Sequential project{nullptr};
  std::array<ScaleSe, 4> se{
      {ScaleSe{nullptr}, ScaleSe{nullptr}, ScaleSe{nullptr}, ScaleSe{nullptr}}};
};
TORCH_MODULE(Msf);

ModuleDescriptor msfDescriptor();

}  // namespace fl
