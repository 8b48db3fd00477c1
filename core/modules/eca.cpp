#include "core/modules/eca.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/modules/descriptor_util.h"
#include "core/modules/fast_ops.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

int64_t ecaAdaptiveKernel(int64_t channels) {
  constexpr double gamma = 2.0, b = 1.0;
  const auto t = static_cast<int64_t>(
      std::fabs((std::log2(static_cast<double>(channels)) + b) / gamma));
  return t % 2 == 1 ? t : t + 1;
}

EcaImpl::EcaImpl(const EcaOptions& options) : options(options) { reset(); }

void EcaImpl::reset() {
  conv = register_module(
      "conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(1, 1, options.kernel_size())
                                    .padding(options.padding())
                                    .bias(options.variant() == EcaVariant::Seed)));
}

torch::Tensor EcaImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1);
  torch::Tensor y;  // [B,C]
  if (options.variant() == EcaVariant::Official) {
    y = at::sigmoid(conv->forward(ops::globalMean(x).unsqueeze(1)).squeeze(1));
  } else {
    // The conv is linear: conv(m) + conv(a) = conv(m + a) + bias, one call on the summed
    // descriptors (a conv over a [2B,1,C] stack takes a much slower path than two of [B,1,C]).
    auto z = conv->forward(ops::globalMax(x).add_(ops::globalMean(x)).unsqueeze(1));
    y = at::sigmoid(z.add_(conv->bias)).squeeze(1);
  }
  TORCH_CHECK(y.size(1) == c, "eca: the conv maps ", c, " channels to ", y.size(1),
              " (kernel ", options.kernel_size(), ", padding ", options.padding(), ")");
  if (probe::active()) probe::record("channel_weight", y);
  return x * y.view({b, c, 1, 1});
}

namespace {

int64_t ecaKernel(const Params& p, int64_t channels) {
  return p.getBool("adaptive_kernel") ? ecaAdaptiveKernel(channels) : p.getInt("kernel_size");
}

int64_t ecaPadding(const Params& p, int64_t kernel) {
  return p.getChoice("padding") == "same" ? (kernel - 1) / 2 : 3;
}

}  // namespace

ModuleDescriptor ecaDescriptor() {
  ModuleDescriptor d;
  d.id = "eca";
  d.displayName = "ECA (efficient channel attention)";
  d.category = ModuleCategory::Channel;
  d.summary = "Channel weights from a 1-D conv across pooled channel descriptors";
  d.citation =
      "Wang et al., ECA-Net, CVPR 2020, arXiv:1910.03151 (default: seed 004's avg+max variant; "
      "variant=official: BangguWu/ECANet eca_layer)";
  d.inputs = {{"x", "feature map [B,C,H,W]"}};
  d.outputs = {"output"};
  d.params = {
      desc::intParam("kernel_size", 7, 1, 255,
                     "odd 1-D kernel size across channels (ignored with adaptive_kernel)"),
      desc::choiceParam("padding", {"seed", "same"},
                        "seed: the seed's fixed padding 3 (runs only with kernel 7); same: "
                        "padding (k-1)/2, as ECA-Net (identical at k = 7)"),
      desc::boolParam("adaptive_kernel", false,
                      "kernel from C by ECA-Net's formula: t = int(|log2(C) + 1| / 2), next odd "
                      "(C = 64 -> 3, 256 -> 5); needs padding=same unless it gives 7"),
      desc::choiceParam("variant", {"seed", "official"},
                        "seed: GAP and GMP through one shared Conv1d with bias (seed 004); "
                        "official: GAP only, Conv1d without bias (BangguWu/ECANet eca_layer, "
                        "key conv.weight)"),
  };
  d.probes = {desc::probe("channel_weight", ProbeKind::ChannelWeights, "[B,C]", 0, 1,
                          "per-channel sigmoid weight y")};
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) -> Problem {
    Problem err = desc::checkNchwInputs(d, shapes);
    if (!err.empty()) return err;
    const bool adaptive = p.getBool("adaptive_kernel");
    const int64_t k = ecaKernel(p, shapes[0][1]);
    if (!adaptive && k % 2 == 0) {
      return desc::evenKernel(d.id, k, "the channel count would change");
    }
    if (p.getChoice("padding") == "seed" && k != 7) {
      const std::string which =
          adaptive ? "the adaptive kernel for C = " + std::to_string(shapes[0][1]) + " is " +
                         std::to_string(k)
                   : "kernel_size is " + std::to_string(k);
      return Problem("eca: padding=seed is the seed's fixed padding 3, which keeps the channel "
                     "count only for kernel 7, but " + which + " (the conv would give " +
                         std::to_string(shapes[0][1] + 6 - k + 1) +
                         " channels); padding=same (padding (k-1)/2) or kernel_size=7 keeps it",
                     parameterSubject("padding"), setParameter("padding", "same"));
    }
    return {};
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    // input and output; the pooled descriptors and weights are O(B*C)
    const auto& s = shapes[0];
    return desc::f32Bytes(2 * desc::numel(s) + 8 * s[0] * s[1]);
  };
  d.state = [](const Params& p, const std::vector<Shape>& shapes) {
    // official: Conv1d without bias (key conv.weight only)
    return desc::StateList()
        .conv1d("conv", 1, 1, ecaKernel(p, shapes[0][1]), p.getChoice("variant") != "official")
        .list();
  };
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    const int64_t k = ecaKernel(p, shapes[0][1]);
    Eca m(EcaOptions()
              .kernel_size(k)
              .padding(ecaPadding(p, k))
              .variant(p.getChoice("variant") == "official" ? EcaVariant::Official
                                                            : EcaVariant::Seed));
    return makeInstance(m, [](Eca& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0])};
    });
  };
  return d;
}

}  // namespace fl
