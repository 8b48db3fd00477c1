#include "core/modules/cmgm.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/common/error.h"
#include "core/common/memory.h"
#include "core/modules/attention_rows.h"
#include "core/modules/cmgm_cam.h"
#include "core/modules/descriptor_util.h"
#include "core/modules/fused_attention.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"
#include "core/modules/progress.h"

namespace fl {

namespace nn = torch::nn;

Problem cmgmOptionsError(const CmgmOptions& options) {
  const int64_t c = options.dim(), h = options.num_heads();
  if (options.mode() == CmgmMode::Faithful && (c != 64 || h != 8)) {
    return Problem(
        "cmgm: mode=faithful reproduces PGNet's hard-coded sizes (LayerNorm(64), 64-channel "
        "conv2, 8-channel conv/bn) and needs C = 64 and num_heads = 8, got C = " +
            std::to_string(c) + ", num_heads = " + std::to_string(h) +
            "; mode=generalized takes any sizes" +
            // Name only what is wrong: C may already be 64 (then it is num_heads).
            (c != 64 ? std::string(", or give x and y 64 channels") : std::string()) +
            (h != 8 ? std::string(", or num_heads=8") : std::string()),
        parameterSubject("mode"), setParameter("mode", "generalized"));
  }
  if (h < 1 || c % h != 0) {
    // The largest head count <= h that divides C (1 always does).
    int64_t fit = std::max<int64_t>(1, std::min(h, c));
    while (fit > 1 && c % fit != 0) --fit;
    return Problem("cmgm: C = " + std::to_string(c) + " channels are not divisible by num_heads = " +
                       std::to_string(h) + " (each head takes C / num_heads channels); num_heads " +
                       "must divide " + std::to_string(c),
                   parameterSubject("num_heads"), setParameter("num_heads", std::to_string(fit)));
  }
  return {};
}

// ---- memory and plan -----------------------------------------------------------------------

int64_t CmgmMemory::directAttentionBytes(bool probe) const {
  // Softmax input and output (2A, plus the attn@v rows) next to the probe copy. Then cam:
  // on the CPU in eval mode (cmgm_cam.h) attn, cam and one band buffer per thread (2A +
  // bands); LibTorch's composition (training BatchNorm, CUDA) holds attn + attn^T, the conv's
  // input, blocked copies and output (4A; measured peak RSS at 64x64 with LibTorch 1.13's
  // conv: 5.06 A with the probe, as modules.md's 5.1 A for PyTorch). The larger bound holds.
  const int64_t a = attentionBytes();
  return std::max(n * rowBytes, (probe ? 5 : 4) * a + cam::camBandBytes(heads, n));
}

CmgmMemory cmgmMemory(const CmgmOptions& options, const Shape& shape) {
  CmgmMemory m;
  m.batch = shape.at(0);
  m.channels = shape.at(1);
  m.heads = std::max<int64_t>(1, options.num_heads());
  m.n = shape.at(2) * shape.at(3);
  const int64_t d = std::max<int64_t>(1, m.channels / m.heads);
  const int64_t bcn = m.batch * m.channels * m.n;
  const int64_t bhn = m.batch * m.heads * m.n;
  // x, y; LayerNorm copies and outputs; k, qv (2C), a transposed k copy per chunk; head
  // outputs and their [B,N,C] copy; proj, residual sum; conv2 (conv, BN, ReLU twice, im2col
  // or mkldnn buffers) and output.0; the per-row logsumexp.
  m.fixedBytes = desc::f32Bytes(24 * bcn + bhn);
  // logits and softmax (N each), the attn@v row and a q row copy (d each)
  m.rowBytes = desc::f32Bytes(m.batch * m.heads * (2 * m.n + 2 * d));
  // attention rows (logits then softmax), columns, their sum, conv and BN outputs
  m.camRowBytes = desc::f32Bytes(8 * bhn);
  // the fused attention's transposed keys, row statistics and tiles, its contiguous q/k/v
  // copies and the logsumexp the chunked cam reads
  m.fusedExtraBytes = attn::fusedAttentionBytes(m.batch, m.heads, m.n, m.n, d) +
                      desc::f32Bytes(3 * bcn + bhn);
  return m;
}

CmgmPlan cmgmPlan(const CmgmMemory& mem, int64_t budget, bool probeWanted, bool camWanted) {
  CmgmPlan plan;
  plan.rows = mem.n;
  plan.camRows = mem.n;
  plan.probe = probeWanted;
  plan.cam = camWanted;
  const bool fusedFits = budget <= 0 || mem.fusedBytes() <= attn::usableBytes(budget);
  if (!probeWanted && !camWanted && fusedFits) {
    // Nothing asks for the [N,N] matrix: output.0 alone, never materialised.
    plan.direct = false;
    plan.fused = true;
    return plan;
  }
  if (budget <= 0 || mem.fixedBytes + mem.directAttentionBytes(probeWanted) <= budget) {
    return plan;
  }
  plan.direct = false;
  const int64_t avail = attn::usableBytes(budget) - mem.fixedBytes;  // allocator slack kept
  const int64_t a = mem.attentionBytes();
  const int64_t camChunkMin = 3 * mem.camRowBytes;  // one row and its two halo rows
  // The cam output comes first (it is an output), then the probe: a buffer filled by the
  // output pass plus the copy probe::record makes, then held while the cam pass runs.
  plan.cam = camWanted && avail - a >= camChunkMin;
  plan.probe = probeWanted && avail >= 2 * a && avail - a >= mem.rowBytes &&
               (!plan.cam || avail - 2 * a >= camChunkMin);
  const int64_t held = plan.probe ? a : 0;
  plan.rows = attn::rowsPerChunk(avail - held, mem.rowBytes, mem.n);
  if (plan.cam) {
    plan.camRows = std::clamp<int64_t>((avail - held - a) / mem.camRowBytes - 2, 1, mem.n);
  }
  // Without the probe buffer to fill, output.0 needs no attention rows at all.
  plan.fused = !plan.probe && fusedFits;
  return plan;
}

int64_t cmgmPlannedBytes(const CmgmMemory& mem, const CmgmPlan& plan) {
  if (plan.direct) return mem.fixedBytes + mem.directAttentionBytes(plan.probe);
  const int64_t a = mem.attentionBytes();
  const int64_t held = plan.probe ? a : 0;  // the probe buffer, later its recorded copy
  int64_t peak = held + (plan.fused ? mem.fusedExtraBytes : plan.rows * mem.rowBytes);
  if (plan.probe) peak = std::max(peak, 2 * a);     // buffer and copy while recording
  if (plan.cam) peak = std::max(peak, held + a + (plan.camRows + 2) * mem.camRowBytes);
  return mem.fixedBytes + peak;
}

// ---- module --------------------------------------------------------------------------------

CmgmImpl::CmgmImpl(const CmgmOptions& options) : options(options) { reset(); }

void CmgmImpl::reset() {
  const Problem err = cmgmOptionsError(options);
  TORCH_CHECK(err.empty(), err.message());
  const int64_t c = options.dim(), h = options.num_heads();
  k = register_module("k", nn::Linear(nn::LinearOptions(c, c).bias(options.qkv_bias())));
  qv = register_module("qv", nn::Linear(nn::LinearOptions(c, 2 * c).bias(options.qkv_bias())));
  proj = register_module("proj", nn::Linear(c, c));
  conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(h, h, 3).padding(1)));
  lnx = register_module("lnx", nn::LayerNorm(nn::LayerNormOptions({c})));
  lny = register_module("lny", nn::LayerNorm(nn::LayerNormOptions({c})));
  bn = register_module("bn", nn::BatchNorm2d(h));
  conv2 = register_module(
      "conv2", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(c, c, 3).padding(1)),
                              nn::BatchNorm2d(c), nn::ReLU(),
                              nn::Conv2d(nn::Conv2dOptions(c, c, 3).padding(1)),
                              nn::BatchNorm2d(c), nn::ReLU()));
}

double CmgmImpl::scale() const {
  const double d = static_cast<double>(options.dim() / options.num_heads());
  return options.qk_scale() != 0.0 ? options.qk_scale() : std::pow(d, -0.5);
}

CmgmImpl::Projected CmgmImpl::project(const torch::Tensor& x, const torch::Tensor& y) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.dim(), "cmgm: expected x [B,",
              options.dim(), ",H,W], got ", x.sizes());
  TORCH_CHECK(y.sizes() == x.sizes(), "cmgm: y ", y.sizes(), " must have the shape of x ",
              x.sizes());
  const int64_t b = x.size(0), c = x.size(1), n = x.size(2) * x.size(3);
  const int64_t h = options.num_heads(), d = c / h;
  Projected p;
  p.tokens = x.reshape({b, c, n}).permute({0, 2, 1});  // [B,N,C]
  const auto xn = lnx->forward(p.tokens);
  const auto yn = lny->forward(y.reshape({b, c, n}).permute({0, 2, 1}));
  p.k = k->forward(yn).reshape({b, n, h, d}).permute({0, 2, 1, 3});  // keys from y
  const auto qvs = qv->forward(xn).reshape({b, n, 2, h, d}).permute({2, 0, 3, 1, 4});
  p.q = qvs[0];  // qv features [0, C): queries from x
  p.v = qvs[1];  // [C, 2C): values from x
  return p;
}

torch::Tensor CmgmImpl::camFromAttention(torch::Tensor attn) {
  if (cam::usable(*conv, *bn, attn)) return cam::camFromAttention(attn, cam::fold(*conv, *bn));
  // LibTorch's composition: training-mode BatchNorm, CUDA, autograd
  auto sym = attn + attn.transpose(-2, -1);
  attn = torch::Tensor();  // the caller moved its reference in: free attn before the conv
  auto c = conv->forward(sym);
  sym = torch::Tensor();
  c = bn->forward(c);
  return at::relu_(c);
}

torch::Tensor CmgmImpl::camChunked(const Projected& p, const torch::Tensor& lse, int64_t rows) {
  const int64_t n = p.q.size(2);
  const double s = scale();
  const auto kT = p.k.transpose(-2, -1);
  const auto qT = p.q.transpose(-2, -1);
  auto cam = attn::emptyLarge({p.q.size(0), p.q.size(1), n, n}, p.q.options());
  const bool direct = cam::usable(*conv, *bn, p.q);
  const cam::FoldedConv folded = direct ? cam::fold(*conv, *bn) : cam::FoldedConv();
  for (int64_t r0 = 0; r0 < n; r0 += rows) {
    const int64_t m = std::min(rows, n - r0);
    // The 3x3 conv needs one halo row on each side; at 0 and N its zero padding is exact.
    const int64_t s0 = std::max<int64_t>(0, r0 - 1);
    const int64_t len = std::min<int64_t>(n, r0 + m + 1) - s0;
    // attn[S,:] from the rows' softmax; attn[:,S]^T from exp(logit - logsumexp of its row).
    auto sym = at::softmax(at::matmul(p.q.narrow(2, s0, len), kT).mul_(s), -1);
    {
      auto cols = at::matmul(p.k.narrow(2, s0, len), qT).mul_(s);  // [i,j] = logit[j, s0+i]
      cols.sub_(lse.unsqueeze(2)).exp_();
      sym.add_(cols);
    }
    if (direct) {
      cam::camRowsFromSym(sym, s0, r0, m, folded, cam);
      progress::step("cam", r0 + m, n);
      continue;
    }
    auto c = conv->forward(sym);
    sym = torch::Tensor();
    c = bn->forward(c);
    at::relu_(c);
    cam.narrow(2, r0, m).copy_(c.narrow(2, r0 - s0, m));
    progress::step("cam", r0 + m, n);
  }
  return cam;
}

std::pair<torch::Tensor, torch::Tensor> CmgmImpl::forward(const torch::Tensor& x,
                                                          const torch::Tensor& y) {
  warnings_.clear();
  auto p = project(x, y);
  const int64_t b = x.size(0), c = x.size(1), hgt = x.size(2), wid = x.size(3);
  const int64_t h = options.num_heads(), n = hgt * wid;
  const CmgmMemory mem = cmgmMemory(options, x.sizes().vec());
  const bool probing = probe::active() && selection.wants("attention");
  const bool camWanted = selection.wants("output.1");
  const CmgmPlan plan = cmgmPlan(mem, options.memory_budget(), probing, camWanted);
  const double s = scale();
  const auto kT = p.k.transpose(-2, -1);

  torch::Tensor heads;  // attn @ v, [B,h,N,d]
  torch::Tensor attn;   // direct only
  torch::Tensor lse;    // chunked cam only: logsumexp of each attention row, [B,h,N]
  const bool cpuKernels = x.device().is_cpu() && x.scalar_type() == at::kFloat &&
                          !(at::GradMode::is_enabled() && p.q.requires_grad());
  if (plan.direct && cpuKernels) {
    // scores, softmax and attn @ v row by row into one matrix (fused_attention.h)
    attn = attn::emptyLarge({b, h, n, n}, x.options());
    heads = attn::attentionWithMatrix(p.q, p.k, p.v, s, attn);
    if (probing) probe::record("attention", attn);
    if (!camWanted) attn = torch::Tensor();
  } else if (plan.direct) {
    attn = at::softmax(at::matmul(p.q, kT).mul_(s), -1);
    if (probing) probe::record("attention", attn);
    heads = at::matmul(attn, p.v);
    if (!camWanted) attn = torch::Tensor();  // nothing else needs the matrix
  } else if (plan.fused) {
    heads = attn::fusedAttention(p.q, p.k, p.v, s, torch::Tensor(), plan.cam ? &lse : nullptr);
  } else {
    heads = at::empty({b, h, n, c / h}, x.options());
    if (plan.cam) lse = at::empty({b, h, n}, x.options());
    torch::Tensor full = plan.probe && probing ? at::empty({b, h, n, n}, x.options())
                                               : torch::Tensor();
    for (int64_t r0 = 0; r0 < n; r0 += plan.rows) {
      const int64_t m = std::min(plan.rows, n - r0);
      const auto logits = at::matmul(p.q.narrow(2, r0, m), kT).mul_(s);
      if (lse.defined()) lse.narrow(2, r0, m).copy_(at::logsumexp(logits, {-1}));
      const auto a = at::softmax(logits, -1);
      if (full.defined()) full.narrow(2, r0, m).copy_(a);
      heads.narrow(2, r0, m).copy_(at::matmul(a, p.v));
      progress::step("attention", r0 + m, n);
    }
    if (full.defined()) probe::record("attention", full);
  }

  auto out = proj->forward(heads.transpose(1, 2).reshape({b, n, c})) + p.tokens;
  heads = torch::Tensor();
  out = out.permute({0, 2, 1}).reshape({b, c, hgt, wid});
  out = conv2->forward(out) + out;

  torch::Tensor cam;
  if (plan.direct) {
    if (camWanted) cam = camFromAttention(std::move(attn));
  } else if (plan.cam) {
    cam = camChunked(p, lse, plan.camRows);
  }

  // Say what the budget cost; a fused plan that nothing else was asked of costs nothing.
  if (!plan.direct && (camWanted || probing)) {
    const std::string shape = "[" + std::to_string(b) + ", " + std::to_string(h) + ", " +
                              std::to_string(n) + ", " + std::to_string(n) + "]";
    std::string w = "cmgm: the direct computation needs about " +
                    formatBytes(mem.fullBytes()) + " (one attention tensor " + shape +
                    " is " + formatBytes(mem.attentionBytes()) +
                    "), over the memory budget of " + formatBytes(options.memory_budget()) +
                    "; ran chunked: output.0 from " +
                    (plan.fused ? std::string("the fused attention (no [N, N] matrix)")
                                : attn::chunkText(n, plan.rows));
    if (!camWanted) {
      w += "; cam (output.1) was not asked for";
    } else {
      w += plan.cam ? "; cam (output.1) from " + attn::chunkText(n, plan.camRows)
                  : "; cam (output.1) " + shape + " does not fit and was not produced";
    }
    if (probing) {
      w += plan.probe ? "; the 'attention' probe was recorded"
                      : "; the 'attention' probe does not fit and was not recorded";
    }
    w += " (inspect chosen query pixels with attention rows, downsample the inputs, or raise "
         "the memory budget)";
    warnings_.push_back(w);
  }
  return {out, cam};
}

torch::Tensor CmgmImpl::attentionRows(const torch::Tensor& x, const torch::Tensor& y,
                                      const std::vector<int64_t>& queries) {
  const auto p = project(x, y);
  const int64_t n = x.size(2) * x.size(3);
  const auto idx = attn::queryIndexTensor(queries, n, "cmgm", x.device());
  const auto qsel = p.q.index_select(2, idx);  // [B,h,Q,d]
  const auto kT = p.k.transpose(-2, -1);
  const int64_t nq = qsel.size(2);
  const CmgmMemory mem = cmgmMemory(options, x.sizes().vec());
  const int64_t budget = options.memory_budget();
  const int64_t resultBytes = desc::f32Bytes(mem.batch * mem.heads * nq * n);
  const int64_t avail = budget > 0 ? attn::usableBytes(budget) - mem.fixedBytes - resultBytes
                                   : std::numeric_limits<int64_t>::max();
  const int64_t rows = attn::rowsPerChunk(avail, mem.rowBytes, nq);
  const double s = scale();
  if (rows >= nq) return at::softmax(at::matmul(qsel, kT).mul_(s), -1);
  auto result = at::empty({qsel.size(0), qsel.size(1), nq, n}, x.options());
  for (int64_t r0 = 0; r0 < nq; r0 += rows) {
    const int64_t m = std::min(rows, nq - r0);
    result.narrow(2, r0, m).copy_(at::softmax(at::matmul(qsel.narrow(2, r0, m), kT).mul_(s), -1));
  }
  return result;
}

// ---- descriptor ----------------------------------------------------------------------------

namespace {

CmgmOptions cmgmOptions(const Params& p, int64_t channels) {
  return CmgmOptions(channels)
      .num_heads(p.getInt("num_heads"))
      .qk_scale(p.getFloat("qk_scale"))
      .qkv_bias(p.getBool("qkv_bias"))
      .mode(p.getChoice("mode") == "generalized" ? CmgmMode::Generalized : CmgmMode::Faithful);
}

}  // namespace

ModuleDescriptor cmgmDescriptor() {
  ModuleDescriptor d;
  d.id = "cmgm";
  d.displayName = "CMGM (cross-model grafting module)";
  d.category = ModuleCategory::CrossAttention;
  d.summary =
      "Cross-attention fusion of a CNN feature (queries, values) with a Transformer feature "
      "(keys), plus a symmetrised attention map (cam)";
  d.citation = "Xie et al., Pyramid Grafting Network, CVPR 2022, arXiv:2204.05041 (seed 003)";
  d.inputs = {{"x", "CNN feature [B,C,H,W] (queries and values); C = 64 when faithful"},
              {"y", "Transformer feature [B,C,H,W] (keys), same shape as x"}};
  d.outputs = {"output.0", "output.1"};
  d.params = {
      desc::intParam("num_heads", 8, 1, 4096,
                     "attention heads h, also the channels of conv/bn; 8 when faithful"),
      desc::floatParam("qk_scale", 0.0, 0.0, 1e6, "logit scale; 0 = (C/h)^-0.5"),
      desc::boolParam("qkv_bias", true, "bias in the k and qv Linear layers"),
      desc::choiceParam("mode", {"faithful", "generalized"},
                        "faithful: PGNet's hard-coded C = 64, 8 heads; generalized: "
                        "LayerNorm(C), conv2 with C, conv/bn with num_heads channels"),
  };
  d.probes = {desc::probe("attention", ProbeKind::AttentionMatrix, "[B,heads,H*W,H*W]", 0, 1,
                          "softmax(q k^T * scale): rows are query pixels of x, columns key "
                          "pixels of y; withheld when the full matrix does not fit the memory "
                          "budget")};
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) -> Problem {
    Problem err = desc::checkNchwInputs(d, shapes);
    if (err.empty()) err = cmgmOptionsError(cmgmOptions(p, shapes[0][1]));
    return err;
  };
  d.memoryBytes = [](const Params& p, const std::vector<Shape>& shapes) {
    return cmgmMemory(cmgmOptions(p, shapes[0][1]), shapes[0]).fullBytes();
  };
  d.minMemoryBytes = [](const Params& p, const std::vector<Shape>& shapes) {
    return cmgmMemory(cmgmOptions(p, shapes[0][1]), shapes[0]).minBytes();
  };
  d.plannedMemoryBytes = [](const Params& p, const std::vector<Shape>& shapes, int64_t budget,
                            const OutputSelection& sel) {
    const CmgmMemory mem = cmgmMemory(cmgmOptions(p, shapes[0][1]), shapes[0]);
    return cmgmPlannedBytes(
        mem, cmgmPlan(mem, budget, sel.wants("attention"), sel.wants("output.1")));
  };
  d.work = [](const Params& p, const std::vector<Shape>& shapes, const OutputSelection& sel) {
    const CmgmMemory mem = cmgmMemory(cmgmOptions(p, shapes[0][1]), shapes[0]);
    const double b = static_cast<double>(mem.batch), c = static_cast<double>(mem.channels);
    const double n = static_cast<double>(mem.n), h = static_cast<double>(mem.heads);
    WorkEstimate w;
    // k, qv, proj (4 C x C per token) and conv2's two 3x3 C->C convolutions (18 C x C)
    w.gemmFlops = b * n * 2 * (4 * c * c + 18 * c * c);
    w.attentionScores = b * h * n * n;
    w.headDim = mem.channels / mem.heads;
    w.bytes = static_cast<double>(mem.fixedBytes);
    const bool cam = sel.wants("output.1");
    if (cam) w.gemmFlops += b * n * n * 2 * 9 * h * h;  // the h->h 3x3 conv over [N,N]
    // materialised: logits written and read, softmax written, read by attn@v; cam reads
    // attn's rows and columns once per band and writes cam (cmgm_cam.h); probe copy
    if (cam || sel.wants("attention")) {
      w.bytes += (cam ? 7.0 : 4.0) * static_cast<double>(mem.attentionBytes());
    }
    return w;
  };
  d.state = [](const Params& p, const std::vector<Shape>& shapes) {
    const CmgmOptions o = cmgmOptions(p, shapes[0][1]);
    const int64_t c = o.dim(), h = o.num_heads();
    desc::StateList s;
    s.linear("k", c, c, o.qkv_bias()).linear("qv", c, 2 * c, o.qkv_bias()).linear("proj", c, c);
    s.conv2d("conv", h, h, 3).layerNorm("lnx", c).layerNorm("lny", c).batchNorm("bn", h);
    s.conv2d("conv2.0", c, c, 3).batchNorm("conv2.1", c).conv2d("conv2.3", c, c, 3).batchNorm("conv2.4", c);
    return s.list();
  };
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    Cmgm m(cmgmOptions(p, shapes[0][1]));
    auto inst = makeInstance(m, [](Cmgm& mod, const std::vector<at::Tensor>& in) {
      auto [out, cam] = mod->forward(in.at(0), in.at(1));
      return std::vector<at::Tensor>{out, cam};  // cam undefined when withheld
    });
    inst->setMemoryBudget = [m](int64_t bytes) mutable { m->options.memory_budget(bytes); };
    inst->select = [m](const OutputSelection& s) mutable { m->selection = s; };
    inst->warnings = [m]() { return m->warnings(); };
    inst->queryRows = [m](const std::vector<at::Tensor>& in,
                          const std::vector<int64_t>& queries) mutable {
      if (in.size() != 2) throwInput("cmgm: attention rows take two inputs (x, y)");
      return m->attentionRows(in[0], in[1], queries);
    };
    return inst;
  };
  return d;
}

}  // namespace fl
