#include "core/modules/aff.h"

#include <ATen/ATen.h>

#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/ms_cam.h"
#include "core/modules/probe.h"

namespace fl {

AffImpl::AffImpl(const AffOptions& options) : options(options) { reset(); }

void AffImpl::reset() {
  const int64_t inter = options.channels() / options.r();
  local_att = register_module("local_att", makeLocalAttention(options.channels(), inter));
  global_att = register_module("global_att", makeGlobalAttention(options.channels(), inter));
}

torch::Tensor AffImpl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  auto xa = x + residual;
  // G(x) enters through the local branch's bias (localAttentionPlus): no separate add pass.
  auto out = localAttentionPlus(local_att, xa, global_att->forward(xa)).sigmoid_();
  if (probe::active()) probe::record("weight", out);  // a copy: out is updated below
  // x wei + residual (1 - wei) as residual + wei (x - residual); x - residual goes into xa's
  // buffer (no longer needed), so the forward allocates two full-size tensors in all.
  at::sub_out(xa, x, residual);
  out.mul_(xa).add_(residual);
  if (options.scale() != 1.0) out.mul_(options.scale());
  return out;
}

ModuleDescriptor affDescriptor() {
  ModuleDescriptor d;
  d.id = "aff";
  d.displayName = "AFF (attentional feature fusion)";
  d.category = ModuleCategory::Fusion;
  d.summary = "Fuses x and residual with an MS-CAM gate w and its complement 1 - w";
  d.citation = "Dai et al., Attentional Feature Fusion, WACV 2021, arXiv:2009.14082";
  d.inputs = {{"x", "first feature map [B,C,H,W]"},
              {"residual", "second feature map [B,C,H,W], same shape"}};
  d.outputs = {"output"};
  d.params = {
      desc::intParam("r", 4, 1, 4096, "channel reduction: hidden width = C // r"),
      desc::floatParam("scale", 1.0, 0.0, 100.0,
                       "output factor: 1 = seed and paper, 2 = open-aff PyTorch/MXNet code"),
  };
  d.probes = {desc::probe("weight", ProbeKind::Gate, "[B,C,H,W]", 0, 1,
                          "gate w on x; the residual is weighted by 1 - w")};
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) -> Problem {
    Problem err = desc::checkNchwInputs(d, shapes);
    if (err.empty()) err = desc::checkReduction(d.id, shapes[0][1], p.getInt("r"), "r");
    return err;
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    return desc::f32Bytes(9 * desc::numel(shapes[0]));
  };
  d.state = msCamState;  // AFF is one MS-CAM over x + y
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    Aff m(AffOptions(shapes[0][1]).r(p.getInt("r")).scale(p.getFloat("scale")));
    return makeInstance(m, [](Aff& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0], in[1])};
    });
  };
  return d;
}

}  // namespace fl
