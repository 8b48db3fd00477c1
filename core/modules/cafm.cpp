#include "core/modules/cafm.h"

#include <ATen/ATen.h>

#include "core/modules/descriptor_util.h"
#include "core/modules/fast_ops.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

namespace nn = torch::nn;

CafmImpl::CafmImpl(const CafmOptions& options) : options(options) { reset(); }

void CafmImpl::reset() {
  const int64_t c = options.channels();
  const int64_t hid = options.hidden();
  auto conv1x1 = [](int64_t in, int64_t out) { return nn::Conv2d(nn::Conv2dOptions(in, out, 1)); };
  // Registration order is the state_dict order of the reference (modules.md Appendix A).
  conv1_spatial =
      register_module("conv1_spatial", nn::Conv2d(nn::Conv2dOptions(2, 1, 3).padding(1)));
  conv2_spatial =
      register_module("conv2_spatial", nn::Conv2d(nn::Conv2dOptions(1, 1, 3).padding(1)));
  avg1 = register_module("avg1", conv1x1(c, hid));
  avg2 = register_module("avg2", conv1x1(c, hid));
  max1 = register_module("max1", conv1x1(c, hid));
  max2 = register_module("max2", conv1x1(c, hid));
  avg11 = register_module("avg11", conv1x1(hid, c));
  avg22 = register_module("avg22", conv1x1(hid, c));
  max11 = register_module("max11", conv1x1(hid, c));
  max22 = register_module("max22", conv1x1(hid, c));
}

torch::Tensor CafmImpl::channelLogits(const torch::Tensor& fr, nn::Conv2d& avgIn,
                                      nn::Conv2d& avgOut, nn::Conv2d& maxIn, nn::Conv2d& maxOut) {
  // The 1x1 convs act on [B,C,1,1] descriptors: as matrix products on [B,C] rows.
  const auto avg = fr.mean(-1);       // [B,C]
  const auto max = at::amax(fr, -1);  // [B,C], values only
  const auto a = ops::conv1x1Rows(*avgOut, at::relu(ops::conv1x1Rows(*avgIn, avg)))
                     .add_(ops::conv1x1Rows(*maxOut, at::relu(ops::conv1x1Rows(*maxIn, max))));
  return a.unsqueeze(-1);  // [B,C,1]
}

torch::Tensor CafmImpl::channelPool(const torch::Tensor& a, int64_t h, int64_t w) {
  const auto a4 = a.view({a.size(0), a.size(1), h, w});
  // avg first (AMGCFN's order); amax: values only
  return at::cat({a4.mean(1, /*keepdim=*/true), at::amax(a4, {1}, /*keepdim=*/true)}, 1);
}

torch::Tensor CafmImpl::spatialSoftmax(const torch::Tensor& pooled) {
  const auto s = conv2_spatial->forward(at::relu(conv1_spatial->forward(pooled)));
  return at::softmax(s.flatten(1), -1).unsqueeze(1);  // over all H*W positions
}

std::pair<torch::Tensor, torch::Tensor> CafmImpl::forward(const torch::Tensor& f1,
                                                          const torch::Tensor& f2) {
  TORCH_CHECK(f1.sizes() == f2.sizes(), "cafm: f1 ", f1.sizes(), " and f2 ", f2.sizes(),
              " must have the same shape");
  const int64_t b = f1.size(0), c = f1.size(1), h = f1.size(2), w = f1.size(3);
  const auto f1r = f1.reshape({b, c, h * w});
  const auto f2r = f2.reshape({b, c, h * w});
  const auto a1 = channelLogits(f1r, avg1, avg11, max1, max11);
  const auto a2 = channelLogits(f2r, avg2, avg22, max2, max22);
  const auto cross = at::bmm(a1, a2.transpose(1, 2));  // [B,C,C], rank 1
  // The channel-mixed maps A_k [B,C,N] only feed their pooled [B,2,H,W] descriptors: each is
  // freed once pooled, and the spatial convs (shared) run once over both, stacked as [2B,...].
  const auto pooled1 = channelPool(at::bmm(at::softmax(cross, -1), f1r), h, w);
  const auto pooled2 = channelPool(at::bmm(at::softmax(cross.transpose(1, 2), -1), f2r), h, w);
  const auto s = spatialSoftmax(at::cat({pooled1, pooled2}, 0));  // [2B,1,N]
  const auto s1 = s.narrow(0, 0, b), s2 = s.narrow(0, b, b);
  if (probe::active()) {
    probe::record("cross", cross);
    probe::record("spatial1", s1.reshape({b, 1, h, w}));
    probe::record("spatial2", s2.reshape({b, 1, h, w}));
  }
  // f * s + f as f * (1 + s): the small [B,1,N] map is shifted once, one pass over f.
  auto o1 = f1r * (s1 + 1);
  auto o2 = f2r * (s2 + 1);
  if (options.legacy_layout()) {
    // The seed: o.squeeze(0).transpose(0, 1) on [B,C,N], i.e. [N,C] for B = 1, [C,B,N] else.
    return {o1.squeeze(0).transpose(0, 1), o2.squeeze(0).transpose(0, 1)};
  }
  return {o1.view({b, c, h, w}), o2.view({b, c, h, w})};
}

ModuleDescriptor cafmDescriptor() {
  ModuleDescriptor d;
  d.id = "cafm";
  d.displayName = "CAFM (cross-attention fusion module)";
  d.category = ModuleCategory::Fusion;
  d.summary =
      "Fuses two branches: a rank-1 channel cross matrix mixes channels, a spatial softmax "
      "re-weights each input";
  d.citation =
      "Zhou et al., Attention Multihop Graph and Multiscale Convolutional Fusion Network for "
      "Hyperspectral Image Classification (AMGCFN), IEEE TGRS 2023, doi:10.1109/TGRS.2023.3265879";
  d.inputs = {{"f1", "first branch [B,C,H,W] (AMGCFN: the CNN features)"},
              {"f2", "second branch [B,C,H,W], same shape (AMGCFN: the GCN features)"}};
  d.outputs = {"output.0", "output.1"};
  d.params = {
      desc::intParam("hidden", 64, 1, 65536,
                     "hidden width of the channel MLPs (fixed at 64 in the paper code)"),
      desc::boolParam("legacy_layout", false,
                      "return the seed's batch-dependent layout: [N,C] for B = 1, [C,B,N] for "
                      "B > 1 (o.squeeze(0).transpose(0,1)); default [B,C,H,W]"),
  };
  d.probes = {
      desc::unboundedProbe("cross", ProbeKind::ChannelMatrix, "[B,C,C]",
                           "channel cross matrix a1 a2^T (raw logits, rank 1)"),
      desc::probe("spatial1", ProbeKind::SpatialMap, "[B,1,H,W]", 0, 1,
                  "spatial softmax s1 on f1 (sums to 1 over H*W; output f1 * (1 + s1))"),
      desc::probe("spatial2", ProbeKind::SpatialMap, "[B,1,H,W]", 0, 1,
                  "spatial softmax s2 on f2 (sums to 1 over H*W; output f2 * (1 + s2))"),
  };
  d.check = [d](const Params&, const std::vector<Shape>& shapes) -> Problem {
    // checkNchwInputs also rejects f2 != f1 (the seed silently accepts a transposed f2).
    return desc::checkNchwInputs(d, shapes);
  };
  d.memoryBytes = [](const Params& p, const std::vector<Shape>& shapes) {
    const auto& s = shapes[0];
    const int64_t n = desc::numel(s);
    // inputs, one channel-mixed map at a time, two outputs; the C x C matrix and its two
    // softmaxes; the pooled and spatial maps of both branches.
    return desc::f32Bytes(5 * n + 3 * s[0] * s[1] * s[1] + 16 * s[0] * s[2] * s[3] +
                          4 * s[0] * p.getInt("hidden"));
  };
  d.state = [](const Params& p, const std::vector<Shape>& shapes) {
    const int64_t c = shapes[0][1], hid = p.getInt("hidden");
    desc::StateList s;
    s.conv2d("conv1_spatial", 2, 1, 3).conv2d("conv2_spatial", 1, 1, 3);
    for (const char* name : {"avg1", "avg2", "max1", "max2"}) s.conv2d(name, c, hid, 1);
    for (const char* name : {"avg11", "avg22", "max11", "max22"}) s.conv2d(name, hid, c, 1);
    return s.list();
  };
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    Cafm m(CafmOptions(shapes[0][1])
               .hidden(p.getInt("hidden"))
               .legacy_layout(p.getBool("legacy_layout")));
    return makeInstance(m, [](Cafm& mod, const std::vector<at::Tensor>& in) {
      auto [o1, o2] = mod->forward(in[0], in[1]);
      return std::vector<at::Tensor>{o1, o2};
    });
  };
  return d;
}

}  // namespace fl
