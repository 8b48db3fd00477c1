#include "core/modules/mfe.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>

#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

namespace nn = torch::nn;

nn::Sequential makeAsppConv(int64_t channels, int64_t rate) {
  return nn::Sequential(
      nn::Conv2d(nn::Conv2dOptions(channels, channels, 3).padding(rate).dilation(rate).bias(false)),
      nn::BatchNorm2d(channels), nn::ReLU());
}

MfeImpl::MfeImpl(const MfeOptions& options) : options(options) { reset(); }

void MfeImpl::reset() {
  const int64_t c = options.channels();
  const auto& rates = options.atrous_rates();
  TORCH_CHECK(rates.size() == 3, "mfe: atrous_rates must hold exactly 3 rates, got ", rates.size());
  // Registration order of the seed: layer1..layer4, project, SE1..SE4.
  layer1 = register_module("layer1", makeAsppConv(c, 1));
  layer2 = register_module("layer2", makeAsppConv(c, rates[0]));
  layer3 = register_module("layer3", makeAsppConv(c, rates[1]));
  layer4 = register_module("layer4", makeAsppConv(c, rates[2]));
  project = register_module("project", makeSelectiveProject(c));
  se = registerScaleSes(*this, c, options.se_variant());
}

torch::Tensor MfeImpl::forward(const torch::Tensor& x) {
  const auto y0 = layer1->forward(x);
  const auto y1 = layer2->forward(y0 + x);
  const auto y2 = layer3->forward(y1 + x);
  const auto y3 = layer4->forward(y2 + x);
  const SelectiveFusion f = selectiveFuse(se, {y0, y1, y2, y3});
  if (probe::active()) probe::record("scale_weights", f.weights);
  return project->forward(f.fused.add_(x));  // fused is a fresh sum: add the residual in place
}

ModuleDescriptor mfeDescriptor() {
  ModuleDescriptor d;
  d.id = "mfe";
  d.displayName = "MFE (multi-feature extraction with selective fusion)";
  d.category = ModuleCategory::Channel;
  d.summary =
      "Four chained dilated-conv branches fused with per-channel softmax weights over the scales";
  d.citation = "Xie et al., SHISRCNet, MICCAI 2023, arXiv:2306.14119 (MFEblock, seed 002)";
  d.inputs = {{"x", "feature map [B,C,H,W]"}};
  d.outputs = {"output"};
  d.params = {
      desc::intListParam("atrous_rates", "2,4,8", 1, 1024,
                         "exactly 3 dilation rates of the branches after the first"),
      desc::choiceParam("se_variant", {"seed", "shisrcnet"},
                        "seed: SE = 1x1 conv without bias; shisrcnet: conv with bias + BN + "
                        "ReLU, as the official code runs (loads official checkpoints)"),
  };
  d.probes = {desc::probe("scale_weights", ProbeKind::ScaleWeights, "[B,C,4]", 0, 1,
                          "per-channel softmax weight of each branch y0..y3 (near 0.25)")};
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) -> Problem {
    Problem err = desc::checkNchwInputs(d, shapes);
    if (!err.empty()) return err;
    const auto& rates = p.getIntList("atrous_rates");
    if (rates.size() != 3) {
      std::string text;
      for (int64_t r : rates) text += (text.empty() ? "" : ",") + std::to_string(r);
      return Problem("mfe: atrous_rates '" + text + "' has " + std::to_string(rates.size()) +
                         " entries; it needs exactly 3 dilation rates",
                     parameterSubject("atrous_rates"), setParameter("atrous_rates", "2,4,8"));
    }
    return {};
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    // input, 4 branch outputs, 3 branch inputs, conv/BN temporaries, fusion, project
    return desc::f32Bytes(16 * desc::numel(shapes[0]));
  };
  d.state = [](const Params& p, const std::vector<Shape>& shapes) {
    const int64_t c = shapes[0][1];
    desc::StateList s;
    for (int i = 1; i <= 4; ++i) {  // makeAsppConv: 0 dilated 3x3 conv, 1 BN
      const std::string layer = "layer" + std::to_string(i);
      s.conv2d(layer + ".0", c, c, 3, false).batchNorm(layer + ".1", c);
    }
    addSelectiveProjectState(s, "project", c);
    addScaleSesState(s, c, parseScaleSeVariant(p.getChoice("se_variant")));
    return s.list();
  };
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    Mfe m(MfeOptions(shapes[0][1])
              .atrous_rates(p.getIntList("atrous_rates"))
              .se_variant(parseScaleSeVariant(p.getChoice("se_variant"))));
    return makeInstance(m, [](Mfe& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0])};
    });
  };
  return d;
}

}  // namespace fl
