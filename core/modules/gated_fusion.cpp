#include "core/modules/gated_fusion.h"

#include <ATen/ATen.h>

#include <utility>

#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

namespace nn = torch::nn;

// ---- GMAN layers ---------------------------------------------------------------------------

GmanConvImpl::GmanConvImpl(int64_t dim, bool bias, bool relu) : dim(dim), bias(bias), relu(relu) {
  reset();
}

void GmanConvImpl::reset() {
  conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(dim, dim, 1).bias(bias)));
  batch_norm = register_module("batch_norm", nn::BatchNorm2d(dim));
}

torch::Tensor GmanConvImpl::forward(const torch::Tensor& x) {
  auto y = batch_norm->forward(conv->forward(x));
  return relu ? at::relu_(y) : y;
}

GmanFcImpl::GmanFcImpl(int64_t dim, bool bias, std::vector<bool> relus)
    : dim(dim), bias(bias), relus(std::move(relus)) {
  reset();
}

void GmanFcImpl::reset() {
  convs = register_module("convs", nn::ModuleList());
  for (const bool r : relus) convs->push_back(GmanConv(dim, bias, r));
}

torch::Tensor GmanFcImpl::forward(torch::Tensor x) {
  for (const auto& m : *convs) x = m->as<GmanConv>()->forward(x);
  return x;
}

// ---- GatedFusion ---------------------------------------------------------------------------

GatedFusionImpl::GatedFusionImpl(const GatedFusionOptions& options) : options(options) { reset(); }

void GatedFusionImpl::reset() {
  const int64_t dim = options.dim();
  if (options.variant() == GatedFusionVariant::Seed) {
    fc1 = register_module("fc1", nn::Linear(nn::LinearOptions(dim, dim).bias(true)));
    fc2 = register_module("fc2", nn::Linear(nn::LinearOptions(dim, dim).bias(true)));
  } else {
    // GMAN-PyTorch gatedFusion: FC_xs (use_bias=False), FC_xt, FC_h = [relu, None]
    FC_xs = register_module("FC_xs", GmanFc(dim, /*bias=*/false, std::vector<bool>{false}));
    FC_xt = register_module("FC_xt", GmanFc(dim, /*bias=*/true, std::vector<bool>{false}));
    FC_h = register_module("FC_h", GmanFc(dim, /*bias=*/true, std::vector<bool>{true, false}));
  }
}

torch::Tensor GatedFusionImpl::seedGate(const torch::Tensor& x1, const torch::Tensor& x2) {
  const int64_t b = x1.size(0), c = x1.size(1), n = x1.size(2) * x1.size(3);
  const auto b1 = fc1->bias.unsqueeze(1), b2 = fc2->bias.unsqueeze(1);  // [C,1]
  auto z = at::empty({b, c, n}, x1.options());
  for (int64_t i = 0; i < b; ++i) {
    auto zi = z.select(0, i);  // [C,N]
    at::addmm_out(zi, b1, fc1->weight, x1.select(0, i).reshape({c, n}));
    zi.addmm_(fc2->weight, x2.select(0, i).reshape({c, n})).add_(b2);
  }
  return z.sigmoid_().view({b, c, x1.size(2), x1.size(3)});
}

torch::Tensor GatedFusionImpl::forward(const torch::Tensor& x1, const torch::Tensor& x2) {
  TORCH_CHECK(x1.dim() == 4 && x1.sizes() == x2.sizes() && x1.size(1) == options.dim(),
              "gated-fusion: x1 ", x1.sizes(), " and x2 ", x2.sizes(), " must both be [B,",
              options.dim(), ",H,W]");
  const auto z = options.variant() == GatedFusionVariant::Seed
                     ? seedGate(x1, x2)
                     : FC_xs->forward(x1).add_(FC_xt->forward(x2)).sigmoid_();
  if (probe::active()) probe::record("gate", z);
  // z x1 + (1 - z) x2 as x2 + z (x1 - x2): three passes instead of four, one allocation.
  auto fused = x1 - x2;
  fused.mul_(z).add_(x2);
  return options.variant() == GatedFusionVariant::Seed ? fused : FC_h->forward(fused);
}

ModuleDescriptor gatedFusionDescriptor() {
  ModuleDescriptor d;
  d.id = "gated-fusion";
  d.displayName = "Gated fusion (GMAN gatedFusion)";
  d.category = ModuleCategory::Fusion;
  d.summary = "Per-pixel, per-channel sigmoid gate z mixes x1 (weight z) and x2 (weight 1 - z)";
  d.citation =
      "Zheng et al., GMAN: A Graph Multi-Attention Network for Traffic Prediction, AAAI 2020, "
      "arXiv:1911.08415 (default: seed 002's simplified gatedFusion; variant=gman: "
      "VincLee8188/GMAN-PyTorch)";
  d.inputs = {{"x1", "first feature map [B,C,H,W] (GMAN: HS, the spatial attention output)"},
              {"x2", "second feature map [B,C,H,W], same shape (GMAN: HT, the temporal one)"}};
  d.outputs = {"output"};
  d.params = {desc::choiceParam(
      "variant", {"seed", "gman"},
      "seed: z = sigmoid(fc1(x1) + fc2(x2)), output z x1 + (1-z) x2 (keys fc1, fc2); gman: "
      "GMAN's original with BatchNorm on both branches (no conv bias on x1's) and the two-layer "
      "output FC_h (keys FC_xs, FC_xt, FC_h of GMAN-PyTorch)")};
  d.probes = {desc::probe("gate", ProbeKind::Gate, "[B,C,H,W]", 0, 1,
                          "gate z on x1; x2 is weighted by 1 - z")};
  d.check = [d](const Params&, const std::vector<Shape>& shapes) -> Problem {
    return desc::checkNchwInputs(d, shapes);
  };
  d.memoryBytes = [](const Params& p, const std::vector<Shape>& shapes) {
    // two inputs, the gate and its probe copy, the fused output; gman: FC_h's conv and BN
    // outputs on top (the branch maps become the gate in place)
    const int64_t n = desc::numel(shapes[0]);
    return desc::f32Bytes((p.getChoice("variant") == "gman" ? 7 : 5) * n);
  };
  d.state = [](const Params& p, const std::vector<Shape>& shapes) {
    const int64_t c = shapes[0][1];
    desc::StateList s;
    if (p.getChoice("variant") != "gman") return s.linear("fc1", c, c).linear("fc2", c, c).list();
    // GmanFc: convs.I.conv (1x1) and convs.I.batch_norm per layer
    s.conv2d("FC_xs.convs.0.conv", c, c, 1, false).batchNorm("FC_xs.convs.0.batch_norm", c);
    s.conv2d("FC_xt.convs.0.conv", c, c, 1).batchNorm("FC_xt.convs.0.batch_norm", c);
    s.conv2d("FC_h.convs.0.conv", c, c, 1).batchNorm("FC_h.convs.0.batch_norm", c);
    s.conv2d("FC_h.convs.1.conv", c, c, 1).batchNorm("FC_h.convs.1.batch_norm", c);
    return s.list();
  };
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    GatedFusion m{GatedFusionOptions(shapes[0][1]).variant(
        p.getChoice("variant") == "gman" ? GatedFusionVariant::Gman : GatedFusionVariant::Seed)};
    return makeInstance(m, [](GatedFusion& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0], in[1])};
    });
  };
  return d;
}

}  // namespace fl
