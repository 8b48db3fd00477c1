#include "core/modules/iaff.h"

#include <ATen/ATen.h>

#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/ms_cam.h"
#include "core/modules/probe.h"

namespace fl {

IaffImpl::IaffImpl(const IaffOptions& options) : options(options) { reset(); }

void IaffImpl::reset() {
  const int64_t c = options.channels();
  const int64_t inter = c / options.r();
  // Registration order is the state_dict order of the reference.
  local_att = register_module("local_att", makeLocalAttention(c, inter));
  global_att = register_module("global_att", makeGlobalAttention(c, inter));
  local_att2 = register_module("local_att2", makeLocalAttention(c, inter));
  global_att2 = register_module("global_att2", makeGlobalAttention(c, inter));
}

torch::Tensor IaffImpl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  auto xa = x + residual;
  // x w + residual (1 - w) as residual + w (x - residual): fewer full-size passes. G enters
  // through the local branch's bias (localAttentionPlus), and each gate becomes, in place,
  // the product it feeds; x - residual reuses xa's buffer: three full-size tensors in all.
  auto xi = localAttentionPlus(local_att, xa, global_att->forward(xa)).sigmoid_();
  if (probe::active()) probe::record("weight", xi);  // a copy: xi is updated below
  const auto& diff = at::sub_out(xa, x, residual);
  xi.mul_(diff).add_(residual);
  auto& second_global = options.use_global_att2() ? global_att2 : global_att;
  auto out = localAttentionPlus(local_att2, xi, second_global->forward(xi)).sigmoid_();
  if (probe::active()) probe::record("weight2", out);
  return out.mul_(diff).add_(residual);
}

ModuleDescriptor iaffDescriptor() {
  ModuleDescriptor d;
  d.id = "iaff";
  d.displayName = "iAFF (iterative attentional feature fusion)";
  d.category = ModuleCategory::Fusion;
  d.summary = "Two-stage AFF: a first gate builds an initial fusion that drives a second gate";
  d.citation = "Dai et al., Attentional Feature Fusion, WACV 2021, arXiv:2009.14082";
  d.inputs = {{"x", "first feature map [B,C,H,W]"},
              {"residual", "second feature map [B,C,H,W], same shape"}};
  d.outputs = {"output"};
  d.params = {
      desc::intParam("r", 4, 1, 4096, "channel reduction: hidden width = C // r"),
      desc::boolParam("use_global_att2", false,
                      "stage 2 uses global_att2 (MXNet original) instead of reusing global_att "
                      "(seed and open-aff PyTorch); PyTorch-trained checkpoints have an "
                      "untrained global_att2"),
  };
  d.probes = {
      desc::probe("weight", ProbeKind::Gate, "[B,C,H,W]", 0, 1, "first-stage gate w"),
      desc::probe("weight2", ProbeKind::Gate, "[B,C,H,W]", 0, 1,
                  "second-stage gate w2 on x; the residual is weighted by 1 - w2"),
  };
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) -> Problem {
    Problem err = desc::checkNchwInputs(d, shapes);
    if (err.empty()) err = desc::checkReduction(d.id, shapes[0][1], p.getInt("r"), "r");
    return err;
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    return desc::f32Bytes(14 * desc::numel(shapes[0]));
  };
  d.state = [](const Params& p, const std::vector<Shape>& shapes) {
    // All four branches are registered, whether or not stage 2 uses global_att2.
    const int64_t c = shapes[0][1], inter = c / p.getInt("r");
    desc::StateList s;
    addMsCamState(s, c, inter);
    addMsCamState(s, c, inter, "2");
    return s.list();
  };
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    Iaff m(IaffOptions(shapes[0][1]).r(p.getInt("r")).use_global_att2(
        p.getBool("use_global_att2")));
    return makeInstance(m, [](Iaff& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0], in[1])};
    });
  };
  return d;
}

}  // namespace fl
