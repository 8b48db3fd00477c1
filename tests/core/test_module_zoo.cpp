// The module zoo beyond AFF: CAFM, gated fusion, MSF, MFE, SAFM, CBAM (joint MLP), SE, CBAM,
// and the documented variants of ECA, spatial attention, gated fusion and CAFM (modules.md
// §11). Parameter counts, state_dict keys and shapes in order (Appendix A), the constraint
// checks and their messages, and a smoke run of each through fl::run.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "test_registry.h"
#include "core/io/state_dict.h"
#include "core/modules/eca.h"
#include "core/modules/module_instance.h"
#include "core/modules/registry.h"
#include "core/run/run.h"

namespace fl {
namespace {

using test::registry;

std::shared_ptr<ModuleInstance> build(const std::string& id, const Shape& shape,
                                      const std::map<std::string, std::string>& overrides = {}) {
  const ModuleDescriptor& d = registry().get(id);
  const Params p = resolveParams(id, d.params, overrides);
  const std::vector<Shape> shapes(d.inputs.size(), shape);
  EXPECT_EQ(d.check(p, shapes).message(), "") << id;
  return d.make(p, shapes);
}

int64_t paramCount(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& t : m.parameters()) n += t.numel();
  return n;
}

std::string keyShape(const std::string& name, const at::Tensor& t) {
  std::string s = name + " (";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "," : "") + std::to_string(t.size(i));
  return s + ")";
}

/// "key (d0,d1,...)" lines ("()" for scalars) in Python's state_dict order: modules in
/// registration pre-order, each module's own parameters then its own buffers. Also checks
/// that this is exactly the set of keys the loader uses (moduleStateDict).
std::vector<std::string> keyShapes(const torch::nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& item : m.named_modules()) {
    const std::string prefix = item.key().empty() ? "" : item.key() + ".";
    for (const auto& p : item.value()->named_parameters(/*recurse=*/false)) {
      out.push_back(keyShape(prefix + p.key(), p.value()));
    }
    for (const auto& b : item.value()->named_buffers(/*recurse=*/false)) {
      out.push_back(keyShape(prefix + b.key(), b.value()));
    }
  }
  std::vector<std::string> loader;
  for (const auto& [name, t] : moduleStateDict(m)) loader.push_back(keyShape(name, t));
  auto sortedOut = out;
  std::sort(sortedOut.begin(), sortedOut.end());
  std::sort(loader.begin(), loader.end());
  EXPECT_EQ(sortedOut, loader);
  return out;
}

std::vector<std::string> bn(const std::string& prefix, int64_t c) {
  const std::string n = std::to_string(c);
  return {prefix + ".weight (" + n + ")", prefix + ".bias (" + n + ")",
          prefix + ".running_mean (" + n + ")", prefix + ".running_var (" + n + ")",
          prefix + ".num_batches_tracked ()"};
}

std::vector<std::string> concat(std::vector<std::vector<std::string>> parts) {
  std::vector<std::string> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const Shape kC64{1, 64, 8, 8};

// ---------------------------------------------------------------------------------------------
// Parameter counts at C = 64 (modules.md §11)

TEST(ModuleZoo, ParameterCountsAtC64) {
  EXPECT_EQ(paramCount(*build("cafm", kC64)->module), 33309);
  EXPECT_EQ(paramCount(*build("gated-fusion", kC64)->module), 8320);
  EXPECT_EQ(paramCount(*build("msf", kC64)->module), 20608);
  EXPECT_EQ(paramCount(*build("mfe", kC64)->module), 168576);
  EXPECT_EQ(paramCount(*build("safm", kC64)->module), 4800);
  EXPECT_EQ(paramCount(*build("cbam-joint", {1, 64, 7, 7})->module), 2931);
  // SE: 2 C^2 / r = 2 * 64 * 4
  EXPECT_EQ(paramCount(*build("se", kC64)->module), 2 * 64 * 4);
  // CBAM: (C*C/r + C/r) + (C/r*C + C) + 2*k*k + 2 (BN affine)
  EXPECT_EQ(paramCount(*build("cbam", kC64)->module), (64 * 4 + 4) + (4 * 64 + 64) + 2 * 49 + 2);
  // MFE shisrcnet SE: each SEk gains a conv bias and a BN affine pair: 4 * 3C more.
  EXPECT_EQ(paramCount(*build("mfe", kC64, {{"se_variant", "shisrcnet"}})->module),
            168576 + 4 * 3 * 64);
}

TEST(ModuleZoo, ParameterCountsFollowTheirOptions) {
  // CAFM: 2*(2*9+1)+... with hidden h: 4*(C*h+h) + 4*(h*C+C) + (18+1) + (9+1)
  const int64_t c = 16, h = 8;
  EXPECT_EQ(paramCount(*build("cafm", {1, c, 4, 4}, {{"hidden", "8"}})->module),
            4 * (c * h + h) + 4 * (h * c + c) + 19 + 10);
  // CBAMBlock joint MLP grows with H*W: 2 (C+HW) C/r + the sub-modules.
  EXPECT_EQ(paramCount(*build("cbam-joint", {1, 64, 8, 8})->module),
            2 * (64 + 64) * 8 + 2 * 64 * 8 + 99);
}

// ---------------------------------------------------------------------------------------------
// state_dict keys and shapes, in registration order (modules.md Appendix A)

TEST(ModuleZoo, CafmKeys) {
  std::vector<std::string> want = {"conv1_spatial.weight (1,2,3,3)", "conv1_spatial.bias (1)",
                                   "conv2_spatial.weight (1,1,3,3)", "conv2_spatial.bias (1)"};
  for (const char* n : {"avg1", "avg2", "max1", "max2"}) {
    want.push_back(std::string(n) + ".weight (64,64,1,1)");
    want.push_back(std::string(n) + ".bias (64)");
  }
  for (const char* n : {"avg11", "avg22", "max11", "max22"}) {
    want.push_back(std::string(n) + ".weight (64,64,1,1)");
    want.push_back(std::string(n) + ".bias (64)");
  }
  EXPECT_EQ(keyShapes(*build("cafm", kC64)->module), want);
  // hidden width shows in the MLP shapes (C = 32, hidden = 16)
  const auto keys = keyShapes(*build("cafm", {1, 32, 4, 4}, {{"hidden", "16"}})->module);
  EXPECT_EQ(keys[4], "avg1.weight (16,32,1,1)");
  EXPECT_EQ(keys[12], "avg11.weight (32,16,1,1)");
}

TEST(ModuleZoo, GatedFusionKeys) {
  EXPECT_EQ(keyShapes(*build("gated-fusion", kC64)->module),
            (std::vector<std::string>{"fc1.weight (64,64)", "fc1.bias (64)", "fc2.weight (64,64)",
                                      "fc2.bias (64)"}));
}

TEST(ModuleZoo, GatedFusionGmanKeysFollowGmanPyTorch) {
  // VincLee8188/GMAN-PyTorch gatedFusion: FC_xs (conv without bias), FC_xt, FC_h (2 layers),
  // each layer conv2d_ = conv + batch_norm.
  const auto m = build("gated-fusion", kC64, {{"variant", "gman"}});
  EXPECT_EQ(keyShapes(*m->module),
            concat({{"FC_xs.convs.0.conv.weight (64,64,1,1)"},
                    bn("FC_xs.convs.0.batch_norm", 64),
                    {"FC_xt.convs.0.conv.weight (64,64,1,1)", "FC_xt.convs.0.conv.bias (64)"},
                    bn("FC_xt.convs.0.batch_norm", 64),
                    {"FC_h.convs.0.conv.weight (64,64,1,1)", "FC_h.convs.0.conv.bias (64)"},
                    bn("FC_h.convs.0.batch_norm", 64),
                    {"FC_h.convs.1.conv.weight (64,64,1,1)", "FC_h.convs.1.conv.bias (64)"},
                    bn("FC_h.convs.1.batch_norm", 64)}));
  EXPECT_EQ(paramCount(*m->module), 4 * 64 * 64 + 3 * 64 + 4 * 2 * 64);  // 17,088
}

TEST(ModuleZoo, EcaVariantsKeysAndAdaptiveKernel) {
  // ECA-Net: t = int(|log2 C + 1| / 2), next odd
  for (const auto& [c, k] : std::map<int64_t, int64_t>{
           {16, 3}, {64, 3}, {128, 5}, {256, 5}, {512, 5}, {1024, 5}, {2048, 7}}) {
    EXPECT_EQ(ecaAdaptiveKernel(c), k) << "C = " << c;
  }
  EXPECT_EQ(keyShapes(*build("eca", kC64)->module),
            (std::vector<std::string>{"conv.weight (1,1,7)", "conv.bias (1)"}));
  // official eca_layer: no bias; adaptive k = 5 at C = 256
  EXPECT_EQ(keyShapes(*build("eca", {1, 256, 4, 4},
                             {{"variant", "official"}, {"adaptive_kernel", "true"},
                              {"padding", "same"}})
                           ->module),
            (std::vector<std::string>{"conv.weight (1,1,5)"}));
}

TEST(ModuleZoo, MsfKeys) {
  EXPECT_EQ(keyShapes(*build("msf", kC64)->module),
            concat({{"project.0.weight (64,64,1,1)"},
                    bn("project.1", 64),
                    {"SE1.conv.0.weight (64,64,1,1)", "SE2.conv.0.weight (64,64,1,1)",
                     "SE3.conv.0.weight (64,64,1,1)", "SE4.conv.0.weight (64,64,1,1)"}}));
}

TEST(ModuleZoo, MfeKeys) {
  std::vector<std::vector<std::string>> parts;
  for (const char* l : {"layer1", "layer2", "layer3", "layer4"}) {
    parts.push_back({std::string(l) + ".0.weight (64,64,3,3)"});
    parts.push_back(bn(std::string(l) + ".1", 64));
  }
  parts.push_back({"project.0.weight (64,64,1,1)"});
  parts.push_back(bn("project.1", 64));
  std::vector<std::vector<std::string>> seed = parts, official = parts;
  for (int k = 1; k <= 4; ++k) {
    const std::string p = "SE" + std::to_string(k) + ".conv.";
    seed.push_back({p + "0.weight (64,64,1,1)"});
    official.push_back({p + "0.weight (64,64,1,1)", p + "0.bias (64)"});
    official.push_back(bn(p + "1", 64));
  }
  EXPECT_EQ(keyShapes(*build("mfe", kC64)->module), concat(seed));
  EXPECT_EQ(keyShapes(*build("mfe", kC64, {{"se_variant", "shisrcnet"}})->module),
            concat(official));
}

TEST(ModuleZoo, SafmKeys) {
  std::vector<std::string> want;
  for (int i = 0; i < 4; ++i) {
    want.push_back("mfr." + std::to_string(i) + ".weight (16,1,3,3)");
    want.push_back("mfr." + std::to_string(i) + ".bias (16)");
  }
  want.push_back("aggr.weight (64,64,1,1)");
  want.push_back("aggr.bias (64)");
  EXPECT_EQ(keyShapes(*build("safm", kC64)->module), want);
}

TEST(ModuleZoo, CbamJointKeys) {
  EXPECT_EQ(
      keyShapes(*build("cbam-joint", {1, 64, 7, 7})->module),
      (std::vector<std::string>{
          "ChannelAttention.se.0.weight (8,64,1,1)", "ChannelAttention.se.2.weight (64,8,1,1)",
          "SpatialAttention.conv.weight (1,2,7,7)", "SpatialAttention.conv.bias (1)",
          "MLP.0.weight (8,113,1,1)", "MLP.2.weight (113,8,1,1)"}));
}

TEST(ModuleZoo, SeKeys) {
  EXPECT_EQ(keyShapes(*build("se", kC64)->module),
            (std::vector<std::string>{"fc.0.weight (4,64)", "fc.2.weight (64,4)"}));
}

TEST(ModuleZoo, CbamKeys) {
  EXPECT_EQ(keyShapes(*build("cbam", kC64)->module),
            concat({{"ChannelGate.mlp.1.weight (4,64)", "ChannelGate.mlp.1.bias (4)",
                     "ChannelGate.mlp.3.weight (64,4)", "ChannelGate.mlp.3.bias (64)",
                     "SpatialGate.spatial.conv.weight (1,2,7,7)"},
                    bn("SpatialGate.spatial.bn", 1)}));
}

// ---------------------------------------------------------------------------------------------
// Descriptors: registration, inputs, outputs, probes

TEST(ModuleZoo, RegisteredInOrder) {
  const std::vector<std::string> mine = {"cafm", "gated-fusion", "msf", "mfe",
                                         "safm", "cbam-joint",   "se",  "cbam"};
  std::vector<std::string> ids;
  for (const auto& d : registry().all()) {
    if (std::find(mine.begin(), mine.end(), d.id) != mine.end()) ids.push_back(d.id);
  }
  EXPECT_EQ(ids, mine);
  // and after ms-cam/aff/iaff, with se and cbam after spatial-attention
  std::vector<std::string> all;
  for (const auto& d : registry().all()) all.push_back(d.id);
  auto pos = [&](const std::string& id) {
    return std::find(all.begin(), all.end(), id) - all.begin();
  };
  EXPECT_LT(pos("iaff"), pos("cafm"));
  EXPECT_LT(pos("cbam-joint"), pos("eca"));
  EXPECT_LT(pos("spatial-attention"), pos("se"));
}

TEST(ModuleZoo, DescriptorsDeclareTheArchitectureNames) {
  struct Want {
    std::vector<std::string> inputs, outputs, probes;
  };
  const std::map<std::string, Want> want = {
      {"cafm", {{"f1", "f2"}, {"output.0", "output.1"}, {"cross", "spatial1", "spatial2"}}},
      {"gated-fusion", {{"x1", "x2"}, {"output"}, {"gate"}}},
      {"msf", {{"x0", "x1", "x2", "x3"}, {"output"}, {"scale_weights"}}},
      {"mfe", {{"x"}, {"output"}, {"scale_weights"}}},
      {"safm", {{"x"}, {"output"}, {"modulation"}}},
      {"cbam-joint", {{"x"}, {"output.0", "output.1"}, {"channel_weight", "spatial_weight"}}},
      {"se", {{"x"}, {"output"}, {"channel_weight"}}},
      {"cbam", {{"x"}, {"output"}, {"channel_weight", "spatial_weight"}}},
  };
  for (const auto& [id, w] : want) {
    const ModuleDescriptor& d = registry().get(id);
    std::vector<std::string> inputs, probes;
    for (const auto& i : d.inputs) inputs.push_back(i.name);
    for (const auto& p : d.probes) probes.push_back(p.name);
    EXPECT_EQ(inputs, w.inputs) << id;
    EXPECT_EQ(d.outputs, w.outputs) << id;
    EXPECT_EQ(probes, w.probes) << id;
    EXPECT_FALSE(d.displayName.empty() || d.summary.empty() || d.citation.empty()) << id;
  }
  EXPECT_EQ(registry().get("cafm").findProbe("cross")->kind, ProbeKind::ChannelMatrix);
  EXPECT_FALSE(registry().get("cafm").findProbe("cross")->bounded());
  EXPECT_EQ(registry().get("cafm").findProbe("spatial1")->kind, ProbeKind::SpatialMap);
  EXPECT_EQ(registry().get("gated-fusion").findProbe("gate")->kind, ProbeKind::Gate);
  EXPECT_EQ(registry().get("msf").findProbe("scale_weights")->kind, ProbeKind::ScaleWeights);
  EXPECT_EQ(registry().get("safm").findProbe("modulation")->kind, ProbeKind::FeatureMap);
  EXPECT_FALSE(registry().get("safm").findProbe("modulation")->bounded());
  EXPECT_EQ(registry().get("cbam").findProbe("spatial_weight")->kind, ProbeKind::SpatialMap);
  EXPECT_EQ(registry().get("se").findProbe("channel_weight")->kind, ProbeKind::ChannelWeights);
}

// ---------------------------------------------------------------------------------------------
// Constraint checks: bad shapes are refused with a message, about a parameter or input, and
// a fix (a parameter value that works) where there is one

Problem checkOf(const std::string& id, const std::vector<Shape>& shapes,
                const std::map<std::string, std::string>& overrides = {}) {
  const ModuleDescriptor& d = registry().get(id);
  return d.check(resolveParams(id, d.params, overrides), shapes);
}

// A check's problem or a plain message (an error's what()).
std::string messageOf(const Problem& p) { return p.message(); }
std::string messageOf(const std::string& s) { return s; }

#define EXPECT_HAS(problem, part)                                                 \
  EXPECT_NE(messageOf(problem).find(part), std::string::npos) << "message: " \
                                                              << messageOf(problem)

// The fix sets `param` to `value`, and the problem is about that parameter.
#define EXPECT_FIX(problem, param, value)                                                 \
  do {                                                                                    \
    const Problem& pr_ = (problem);                                                       \
    EXPECT_EQ(pr_.subject(), parameterSubject(param)) << pr_.message();                   \
    ASSERT_TRUE(pr_.fix().has_value()) << pr_.message();                                  \
    EXPECT_EQ(*pr_.fix(), setParameter(param, value)) << pr_.message();                   \
    EXPECT_EQ(pr_.message().find("--"), std::string::npos) << "no flag: " << pr_.message(); \
  } while (false)

TEST(ModuleZoo, CafmRejectsMismatchedInputs) {
  // a transposed f2 with the same element count: the seed accepts it silently
  const Problem err = checkOf("cafm", {{1, 16, 7, 9}, {1, 16, 9, 7}});
  EXPECT_HAS(err, "'f2'");
  EXPECT_HAS(err, "same shape");
  EXPECT_HAS(checkOf("cafm", {{1, 16, 7, 9}}), "2 input(s)");
  EXPECT_EQ(checkOf("cafm", {{2, 16, 1, 1}, {2, 16, 1, 1}}).message(), "");
}

TEST(ModuleZoo, GatedFusionAndMsfRejectMismatchedInputs) {
  EXPECT_HAS(checkOf("gated-fusion", {{1, 16, 7, 9}, {1, 8, 7, 9}}), "same shape");
  EXPECT_HAS(checkOf("msf", {{1, 16, 7, 9}, {1, 16, 7, 9}, {1, 16, 7, 9}, {1, 16, 7, 8}}), "'x3'");
  EXPECT_HAS(checkOf("msf", {{1, 16, 7, 9}, {1, 16, 7, 9}}), "4 input(s)");
}

TEST(ModuleZoo, MfeNeedsExactlyThreeAtrousRates) {
  for (const char* rates : {"2,4", "2,4,8,16", "3"}) {
    const Problem err = checkOf("mfe", {{1, 16, 8, 8}}, {{"atrous_rates", rates}});
    EXPECT_HAS(err, "exactly 3");
    EXPECT_FIX(err, "atrous_rates", "2,4,8");
  }
  EXPECT_EQ(checkOf("mfe", {{1, 16, 5, 5}}, {{"atrous_rates", "1,3,5"}}).message(), "");
}

TEST(ModuleZoo, SafmChecksChannelsAndSize) {
  Problem err = checkOf("safm", {{1, 30, 16, 16}});
  EXPECT_HAS(err, "not divisible by n_levels 4");
  EXPECT_FIX(err, "n_levels", "3");  // the largest level count that fits 30 channels
  err = checkOf("safm", {{1, 32, 7, 16}});
  EXPECT_HAS(err, "H and W must be >= 8");
  EXPECT_FIX(err, "n_levels", "2");  // 3 does not divide 32; 2 needs H, W >= 2
  EXPECT_HAS(err, "upsampled to at least 8x8");
  EXPECT_HAS(checkOf("safm", {{1, 30, 16, 3}}, {{"n_levels", "3"}}), ">= 4");
  EXPECT_EQ(checkOf("safm", {{1, 32, 8, 8}}).message(), "");
  EXPECT_EQ(checkOf("safm", {{1, 30, 4, 4}}, {{"n_levels", "3"}}).message(), "");
}

TEST(ModuleZoo, CbamJointChecksKernelAndReduction) {
  Problem err = checkOf("cbam-joint", {{1, 64, 7, 7}}, {{"kernel_size", "6"}});
  EXPECT_HAS(err, "even");
  EXPECT_FIX(err, "kernel_size", "7");
  err = checkOf("cbam-joint", {{1, 4, 7, 7}});  // 4 // 8 = 0 hidden channels
  EXPECT_HAS(err, "no hidden channels");
  EXPECT_FIX(err, "reduction", "4");
}

TEST(ModuleZoo, SeedPaddingRunsOnlyAtKernel7WithTheFixInTheMessage) {
  // ECA and spatial attention default to the seed's fixed padding 3 (modules.md §9, §10).
  EXPECT_EQ(checkOf("eca", {{1, 64, 7, 7}}).message(), "");
  Problem err = checkOf("eca", {{1, 64, 7, 7}}, {{"kernel_size", "3"}});
  EXPECT_HAS(err, "padding=seed");
  EXPECT_HAS(err, "68 channels");  // C + 2*3 - 3 + 1
  EXPECT_FIX(err, "padding", "same");
  EXPECT_EQ(checkOf("eca", {{1, 64, 7, 7}}, {{"kernel_size", "3"}, {"padding", "same"}}).message(), "");
  err = checkOf("eca", {{1, 64, 7, 7}}, {{"adaptive_kernel", "true"}});
  EXPECT_HAS(err, "adaptive kernel for C = 64 is 3");
  EXPECT_FIX(err, "padding", "same");
  EXPECT_HAS(checkOf("eca", {{1, 64, 7, 7}}, {{"kernel_size", "4"}}), "odd");  // even first
  err = checkOf("spatial-attention", {{1, 8, 9, 11}}, {{"kernel_size", "5"}});
  EXPECT_HAS(err, "padding=seed");
  EXPECT_HAS(err, "11 x 13");
  EXPECT_FIX(err, "padding", "same");
  EXPECT_EQ(
      checkOf("spatial-attention", {{1, 8, 9, 11}}, {{"kernel_size", "5"}, {"padding", "same"}}).message(),
      "");
}

TEST(ModuleZoo, SeAndCbamCheckReductionAndKernel) {
  Problem err = checkOf("se", {{1, 8, 7, 7}});
  EXPECT_HAS(err, "no hidden channels");
  EXPECT_FIX(err, "reduction", "8");
  err = checkOf("cbam", {{1, 8, 7, 7}});
  EXPECT_FIX(err, "reduction", "8");
  err = checkOf("cbam", {{1, 64, 7, 7}}, {{"kernel_size", "4"}});
  EXPECT_HAS(err, "even");
  EXPECT_FIX(err, "kernel_size", "5");
  EXPECT_HAS(checkOf("se", {{1, 64, 7}}), "4 dimensions");
}

// ---------------------------------------------------------------------------------------------
// Smoke runs through fl::run: outputs and probes have the declared shapes and ranges

RunResult runDefault(const std::string& id, const Shape& shape,
                     const std::map<std::string, std::string>& params = {}) {
  const ModuleDescriptor& d = registry().get(id);
  RunRequest req;
  req.moduleId = id;
  req.params = params;
  req.seed = 3;
  req.device = DeviceChoice::Cpu;
  torch::manual_seed(11);
  for (size_t i = 0; i < d.inputs.size(); ++i) req.inputs.push_back(at::randn(shape));
  return run(registry(), req);
}

TEST(ModuleZoo, SmokeRunShapesAndRanges) {
  const Shape s{2, 16, 9, 13};
  {
    const RunResult r = runDefault("cafm", s);
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.outputs.size(), 2u);
    EXPECT_EQ(r.outputs[0].sizes().vec(), s);
    EXPECT_EQ(r.findProbe("cross")->value.sizes().vec(), (Shape{2, 16, 16}));
    const auto s1 = r.findProbe("spatial1")->value;
    EXPECT_EQ(s1.sizes().vec(), (Shape{2, 1, 9, 13}));
    EXPECT_TRUE(at::allclose(s1.sum({1, 2, 3}), at::ones({2}), 1e-5, 1e-5));
  }
  {
    // legacy_layout: the seed's batch-dependent shapes, the same values and probes
    const RunResult canon = runDefault("cafm", s);
    const RunResult legacy = runDefault("cafm", s, {{"legacy_layout", "true"}});
    ASSERT_TRUE(canon.ok && legacy.ok) << canon.error << legacy.error;
    EXPECT_EQ(legacy.outputs[0].sizes().vec(), (Shape{16, 2, 9 * 13}));  // [C,B,N] for B > 1
    EXPECT_TRUE(at::equal(legacy.outputs[1].transpose(0, 1).reshape(s), canon.outputs[1]));
    EXPECT_TRUE(at::equal(legacy.findProbe("spatial2")->value, canon.findProbe("spatial2")->value));
    const RunResult one = runDefault("cafm", {1, 16, 9, 13}, {{"legacy_layout", "true"}});
    ASSERT_TRUE(one.ok) << one.error;
    EXPECT_EQ(one.outputs[0].sizes().vec(), (Shape{9 * 13, 16}));  // [N,C] for B = 1
  }
  for (const std::string variant : {"seed", "gman"}) {
    const RunResult r = runDefault("gated-fusion", s, {{"variant", variant}});
    ASSERT_TRUE(r.ok) << variant << ": " << r.error;
    EXPECT_EQ(r.outputs[0].sizes().vec(), s);
    const auto z = r.findProbe("gate")->value;
    EXPECT_EQ(z.sizes().vec(), s);
    EXPECT_GE(z.min().item<double>(), 0.0);
    EXPECT_LE(z.max().item<double>(), 1.0);
  }
  for (const std::string id : {"msf", "mfe"}) {
    const RunResult r = runDefault(id, s);
    ASSERT_TRUE(r.ok) << id << ": " << r.error;
    EXPECT_EQ(r.outputs[0].sizes().vec(), s);
    const auto w = r.findProbe("scale_weights")->value;
    EXPECT_EQ(w.sizes().vec(), (Shape{2, 16, 4})) << id;
    EXPECT_TRUE(at::allclose(w.sum(2), at::ones({2, 16}), 1e-5, 1e-5)) << id;
    // seed SE: each weight in [1/(1+3e), e/(e+3)]
    EXPECT_GE(w.min().item<double>(), 0.1092) << id;
    EXPECT_LE(w.max().item<double>(), 0.4753) << id;
  }
  {
    const RunResult r = runDefault("safm", s);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.findProbe("modulation")->value.sizes().vec(), s);
    EXPECT_GE(r.findProbe("modulation")->value.min().item<double>(), -0.18);
  }
  {
    const RunResult r = runDefault("cbam-joint", s);
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.outputs.size(), 2u);
    EXPECT_EQ(r.findProbe("channel_weight")->value.sizes().vec(), (Shape{2, 16}));
    EXPECT_EQ(r.findProbe("spatial_weight")->value.sizes().vec(), (Shape{2, 1, 9, 13}));
  }
  for (const std::string id : {"se", "cbam"}) {
    const RunResult r = runDefault(id, s, {{"reduction", "4"}});
    ASSERT_TRUE(r.ok) << id << ": " << r.error;
    EXPECT_EQ(r.outputs[0].sizes().vec(), s);
    EXPECT_EQ(r.findProbe("channel_weight")->value.sizes().vec(), (Shape{2, 16})) << id;
  }
}

TEST(ModuleZoo, SafmTooSmallIsAClearErrorNotACrash) {
  const RunResult r = runDefault("safm", {1, 16, 7, 7});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.errorKind, ErrorKind::Input);
  EXPECT_HAS(r.error, ">= 8");
}

TEST(ModuleZoo, CbamJointWeightsOnlyLoadAtTheirResolution) {
  // Weights made at 7x7 (HW = 49) do not fit an 8x8 input: the strict loader names MLP.0.
  auto weights = std::make_shared<NamedTensors>(
      moduleStateDict(*build("cbam-joint", {1, 16, 7, 7}, {{"reduction", "4"}})->module));
  RunRequest req;
  req.moduleId = "cbam-joint";
  req.params = {{"reduction", "4"}};
  req.weights = weights;
  req.device = DeviceChoice::Cpu;
  req.inputs = {at::randn({1, 16, 8, 8})};
  const RunResult bad = run(registry(), req);
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.errorKind, ErrorKind::Weights);
  EXPECT_HAS(bad.error, "MLP.0.weight");
  req.inputs = {at::randn({1, 16, 7, 7})};
  const RunResult good = run(registry(), req);
  EXPECT_TRUE(good.ok) << good.error;
}

}  // namespace
}  // namespace fl
