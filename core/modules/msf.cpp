#include "core/modules/msf.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>

#include "core/common/error.h"
#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

namespace nn = torch::nn;

ScaleSeVariant parseScaleSeVariant(const std::string& text) {
  if (text == "seed") return ScaleSeVariant::Seed;
  if (text == "shisrcnet") return ScaleSeVariant::Shisrcnet;
  throwUsage("se_variant '" + text + "' is not one of seed, shisrcnet");
}

ScaleSeImpl::ScaleSeImpl(const ScaleSeOptions& options) : options(options) { reset(); }

void ScaleSeImpl::reset() {
  const int64_t c = options.channels();
  if (options.variant() == ScaleSeVariant::Seed) {
    conv =
        register_module("conv", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(c, c, 1).bias(false))));
  } else {
    conv = register_module("conv", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(c, c, 1).bias(true)),
                                                  nn::BatchNorm2d(c), nn::ReLU()));
  }
}

torch::Tensor ScaleSeImpl::forward(const torch::Tensor& x) { return conv->forward(x); }

nn::Sequential makeSelectiveProject(int64_t channels) {
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(channels, channels, 1).bias(false)),
                        nn::BatchNorm2d(channels), nn::ReLU());
}

std::array<ScaleSe, 4> registerScaleSes(nn::Module& owner, int64_t channels,
                                        ScaleSeVariant variant) {
  std::array<ScaleSe, 4> ses{
      {ScaleSe{nullptr}, ScaleSe{nullptr}, ScaleSe{nullptr}, ScaleSe{nullptr}}};
  for (size_t i = 0; i < ses.size(); ++i) {
    ses[i] = owner.register_module("SE" + std::to_string(i + 1),
                                   ScaleSe(ScaleSeOptions(channels).variant(variant)));
  }
  return ses;
}

void addSelectiveProjectState(desc::StateList& state, const std::string& prefix, int64_t channels) {
  state.conv2d(prefix + ".0", channels, channels, 1, false).batchNorm(prefix + ".1", channels);
}

void addScaleSesState(desc::StateList& state, int64_t channels, ScaleSeVariant variant) {
  for (int i = 1; i <= 4; ++i) {
    const std::string se = "SE" + std::to_string(i) + ".conv";
    if (variant == ScaleSeVariant::Seed) {
      state.conv2d(se + ".0", channels, channels, 1, false);
    } else {
      state.conv2d(se + ".0", channels, channels, 1, true).batchNorm(se + ".1", channels);
    }
  }
}

SelectiveFusion selectiveFuse(std::array<ScaleSe, 4>& ses,
                              const std::array<torch::Tensor, 4>& feats) {
  std::vector<torch::Tensor> logits;
  for (size_t i = 0; i < feats.size(); ++i) {
    logits.push_back(ses[i]->forward(feats[i].mean({2, 3}, /*keepdim=*/true)));  // [B,C,1,1]
  }
  // Per channel: sigmoid gives each scale an absolute score, softmax makes them relative.
  const auto w = torch::softmax(torch::sigmoid(torch::cat(logits, 2)), 2);  // [B,C,4,1]
  // sum_i w_i f_i accumulated in place (addcmul_: no temporary per term)
  auto fused = w.slice(2, 0, 1) * feats[0];
  for (size_t i = 1; i < feats.size(); ++i) {
    const int64_t s = static_cast<int64_t>(i);
    fused.addcmul_(w.slice(2, s, s + 1), feats[i]);
  }
  return {fused, w.squeeze(-1)};
}

MsfImpl::MsfImpl(const MsfOptions& options) : options(options) { reset(); }

void MsfImpl::reset() {
  // Registration order of the seed: project, then SE1..SE4.
  project = register_module("project", makeSelectiveProject(options.channels()));
  se = registerScaleSes(*this, options.channels(), options.se_variant());
}

torch::Tensor MsfImpl::forward(const torch::Tensor& x0, const torch::Tensor& x1,
                               const torch::Tensor& x2, const torch::Tensor& x3) {
  const SelectiveFusion f = selectiveFuse(se, {x0, x1, x2, x3});
  if (probe::active()) probe::record("scale_weights", f.weights);
  return project->forward(f.fused);
}

ModuleDescriptor msfDescriptor() {
  ModuleDescriptor d;
  d.id = "msf";
  d.displayName = "MSF (multi-scale selective fusion)";
  d.category = ModuleCategory::Fusion;
  d.summary = "Fuses four inputs with per-channel softmax weights over the four scales";
  d.citation =
      "Xie et al., SHISRCNet, MICCAI 2023, arXiv:2306.14119 (seed 002 MSFblock, the selective "
      "fusion of MFEblock)";
  d.inputs = {{"x0", "scale 0 feature map [B,C,H,W]"},
              {"x1", "scale 1 feature map [B,C,H,W], same shape"},
              {"x2", "scale 2 feature map [B,C,H,W], same shape"},
              {"x3", "scale 3 feature map [B,C,H,W], same shape"}};
  d.outputs = {"output"};
  d.params = {};
  d.probes = {desc::probe("scale_weights", ProbeKind::ScaleWeights, "[B,C,4]", 0, 1,
                          "per-channel softmax weight of each input (near 0.25; seed range "
                          "[0.109, 0.475])")};
  d.check = [d](const Params&, const std::vector<Shape>& shapes) -> Problem {
    return desc::checkNchwInputs(d, shapes);
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    // four inputs, weighted terms and running sum, project conv/BN/ReLU outputs
    return desc::f32Bytes(10 * desc::numel(shapes[0]));
  };
  d.state = [](const Params&, const std::vector<Shape>& shapes) {
    desc::StateList s;
    addSelectiveProjectState(s, "project", shapes[0][1]);
    addScaleSesState(s, shapes[0][1], MsfOptions(shapes[0][1]).se_variant());
    return s.list();
  };
  d.make = [](const Params&, const std::vector<Shape>& shapes) {
    Msf m{MsfOptions(shapes[0][1])};
    return makeInstance(m, [](Msf& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0], in[1], in[2], in[3])};
    });
  };
  return d;
}

}  // namespace fl
