#include "core/modules/osra.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/common/error.h"
#include "core/common/memory.h"
#include "core/modules/attention_rows.h"
#include "core/modules/descriptor_util.h"
#include "core/modules/fused_attention.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"
#include "core/modules/progress.h"

namespace fl {

namespace nn = torch::nn;

// ---- OsraConvBn ----------------------------------------------------------------------------

OsraConvBnImpl::OsraConvBnImpl(int64_t channels, int64_t kernel, int64_t stride,
                               int64_t padding, bool gelu)
    : channels(channels), kernel(kernel), stride(stride), padding(padding), gelu(gelu) {
  reset();
}

void OsraConvBnImpl::reset() {
  conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(channels, channels, kernel)
                                                .stride(stride)
                                                .padding(padding)
                                                .groups(channels)
                                                .bias(false)));
  bn = register_module("bn", nn::BatchNorm2d(channels));
}

torch::Tensor OsraConvBnImpl::forward(const torch::Tensor& x) {
  auto y = bn->forward(conv->forward(x));
  return gelu ? at::gelu(y) : y;  // exact (erf) GELU, as nn.GELU()
}

// ---- sizes and memory ----------------------------------------------------------------------

int64_t osraReducedSize(int64_t size, int64_t srRatio) {
  if (srRatio <= 1) return size;
  const int64_t k = srRatio + 3;
  const int64_t pad = k / 2;
  return (size + 2 * pad - k) / srRatio + 1;
}

OsraMemory osraMemory(const OsraOptions& options, const Shape& shape) {
  OsraMemory m;
  m.batch = shape.at(0);
  m.channels = shape.at(1);
  m.heads = std::max<int64_t>(1, options.num_heads());
  m.n = shape.at(2) * shape.at(3);
  m.nk = osraReducedSize(shape.at(2), options.sr_ratio()) *
         osraReducedSize(shape.at(3), options.sr_ratio());
  const int64_t d = std::max<int64_t>(1, m.channels / m.heads);
  const int64_t bcn = m.batch * m.channels * m.n;
  const int64_t bcnk = m.batch * m.channels * m.nk;
  // input x, q, the contiguous q copy inside matmul, the head outputs, the [B,C,H,W] result;
  // sr/local_conv/kv maps (kv has 2C channels) with their transients.
  m.fixedBytes = desc::f32Bytes(5 * bcn + 6 * bcnk);
  if (options.pos_enc_height() > 0) {
    // the parameter, and its copy resized to [1,h,N,Nk] unless it already has that size
    const int64_t hr = options.pos_enc_height(), wr = options.pos_enc_width();
    const int64_t nr = hr * wr, nrk = osraPosEncKeys(hr, options.sr_ratio()) *
                                      osraPosEncKeys(wr, options.sr_ratio());
    m.fixedBytes += desc::f32Bytes(m.heads * nr * nrk);
    if (nr != m.n || nrk != m.nk) m.fixedBytes += desc::f32Bytes(m.heads * m.n * m.nk);
  }
  // per query row, over batch and heads: the q@k^T logits and their softmax (Nk each), the
  // attn@v row and a q row copy (d each). The full probe copy is made after the logits are
  // freed, so the unchunked peak is fixed + N rows (the probe replaces the logits).
  m.rowBytes = desc::f32Bytes(m.batch * m.heads * (2 * m.nk + 2 * d));
  // the fused attention's transposed keys, row statistics and per-thread tiles, and the
  // contiguous q copy it reads
  m.fusedExtraBytes = attn::fusedAttentionBytes(m.batch, m.heads, m.n, m.nk, d) +
                      desc::f32Bytes(bcn);
  return m;
}

int64_t osraPosEncKeys(int64_t size, int64_t srRatio) {
  const int64_t r = std::max<int64_t>(1, srRatio);
  return (size + r - 1) / r;
}

int64_t osraChunkRows(const OsraMemory& mem, int64_t budget) {
  if (budget <= 0 || mem.fullBytes() <= budget) return mem.n;
  return std::max<int64_t>(
      1, std::min(mem.n - 1, attn::rowsPerChunk(attn::usableBytes(budget) - mem.fixedBytes,
                                                mem.rowBytes, mem.n)));
}

// ---- Osra ----------------------------------------------------------------------------------

OsraImpl::OsraImpl(const OsraOptions& options) : options(options) { reset(); }

void OsraImpl::reset() {
  const int64_t c = options.dim();
  const int64_t r = options.sr_ratio();
  TORCH_CHECK(options.num_heads() >= 1 && c % options.num_heads() == 0, "osra: dim ", c,
              " must be divisible by num_heads ", options.num_heads());
  TORCH_CHECK(r >= 1, "osra: sr_ratio must be >= 1, got ", r);
  // Registration order = the reference's state_dict order: q, kv, sr, local_conv.
  q = register_module("q", nn::Conv2d(nn::Conv2dOptions(c, c, 1)));
  kv = register_module("kv", nn::Conv2d(nn::Conv2dOptions(c, 2 * c, 1)));
  sr = nullptr;
  if (r > 1) {
    const int64_t k = r + 3;
    if (options.variant() == OsraVariant::Seed) {
      // 0 dwconv k x k / r, 1 BN, 2 ReLU (placeholder index), 3 dwconv 1x1, 4 BN
      sr = register_module(
          "sr", nn::Sequential(
                    nn::Conv2d(nn::Conv2dOptions(c, c, k).stride(r).padding(k / 2).groups(c).bias(
                        false)),
                    nn::BatchNorm2d(c), nn::ReLU(),
                    nn::Conv2d(nn::Conv2dOptions(c, c, 1).groups(c).bias(false)),
                    nn::BatchNorm2d(c)));
    } else {
      // mmcv ConvModule pair: sr.0.{conv,bn} + GELU, sr.1.{conv,bn}
      sr = register_module("sr", nn::Sequential(OsraConvBn(c, k, r, k / 2, /*gelu=*/true),
                                                OsraConvBn(c, 1, 1, 0, /*gelu=*/false)));
    }
  }
  local_conv =
      register_module("local_conv", nn::Conv2d(nn::Conv2dOptions(c, c, 3).padding(1).groups(c)));
  relative_pos_enc = torch::Tensor();
  if (options.pos_enc_height() > 0) {
    TORCH_CHECK(options.pos_enc_width() > 0, "osra: pos_enc_grid needs a height and a width");
    const int64_t hr = options.pos_enc_height(), wr = options.pos_enc_width();
    relative_pos_enc = register_parameter(
        "relative_pos_enc",
        torch::zeros({1, options.num_heads(), hr * wr,
                      osraPosEncKeys(hr, r) * osraPosEncKeys(wr, r)}));
  }
}

torch::Tensor OsraImpl::positionBias(int64_t n, int64_t nk) const {
  if (!relative_pos_enc.defined()) return torch::Tensor();
  if (relative_pos_enc.size(2) == n && relative_pos_enc.size(3) == nk) return relative_pos_enc;
  // F.interpolate(rpe, size=(N, Nk), mode='bicubic', align_corners=False) of TransXNet
  return at::upsample_bicubic2d(relative_pos_enc, {n, nk}, /*align_corners=*/false);
}

double OsraImpl::scale() const {
  const double d = static_cast<double>(options.dim() / options.num_heads());
  return options.qk_scale() != 0.0 ? options.qk_scale() : std::pow(d, -0.5);
}

OsraImpl::Projected OsraImpl::project(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.dim(), "osra: expected x [B,",
              options.dim(), ",H,W], got ", x.sizes());
  const int64_t b = x.size(0), c = x.size(1);
  const int64_t h = options.num_heads(), d = c / h;
  Projected p;
  p.q = q->forward(x).reshape({b, h, d, -1}).transpose(-1, -2);  // [B,h,N,d]
  const auto kv0 = sr ? sr->forward(x) : x;                       // [B,C,H',W']
  const auto kv1 = local_conv->forward(kv0) + kv0;
  const auto kvs = kv->forward(kv1).chunk(2, /*dim=*/1);  // k = first C channels, v = last C
  p.k = kvs[0].reshape({b, h, d, -1});                     // [B,h,d,Nk]
  p.v = kvs[1].reshape({b, h, d, -1}).transpose(-1, -2);   // [B,h,Nk,d]
  return p;
}

torch::Tensor OsraImpl::forward(const torch::Tensor& x) {
  warnings_.clear();
  const auto p = project(x);
  const int64_t b = x.size(0), c = x.size(1), hgt = x.size(2), wid = x.size(3);
  const OsraMemory mem = osraMemory(options, x.sizes().vec());
  const int64_t budget = options.memory_budget();
  // Unchunked when the full estimate fits; otherwise chunks sized from the usable budget.
  const int64_t rows = osraChunkRows(mem, budget);
  const double s = scale();
  const auto bias = positionBias(mem.n, mem.nk);  // [1,h,N,Nk] or undefined
  auto logits = [&](const torch::Tensor& q, int64_t r0, int64_t count) {  // rows r0..r0+count
    auto l = at::matmul(q, p.k).mul_(s);
    return bias.defined() ? l.add_(bias.narrow(2, r0, count)) : l;
  };

  torch::Tensor out;  // [B,h,N,d]
  const bool probeWanted = probe::active() && selection.wants("attention");
  if (!probeWanted && (budget <= 0 || mem.fusedBytes() <= attn::usableBytes(budget))) {
    // Outputs only: the fused attention never writes the [B,h,N,Nk] matrix.
    out = attn::fusedAttention(p.q, p.k.transpose(-2, -1), p.v, s, bias);
  } else if (rows >= mem.n) {
    const auto attn = at::softmax(logits(p.q, 0, mem.n), -1);  // [B,h,N,Nk]
    if (probe::active()) probe::record("attention", attn);
    out = at::matmul(attn, p.v);
  } else {
    // Softmax is per row, so query chunks give exactly the rows of the full computation.
    out = at::empty({b, options.num_heads(), mem.n, c / options.num_heads()}, x.options());
    for (int64_t r0 = 0; r0 < mem.n; r0 += rows) {
      const int64_t n = std::min(rows, mem.n - r0);
      const auto attn = at::softmax(logits(p.q.narrow(2, r0, n), r0, n), -1);
      out.narrow(2, r0, n).copy_(at::matmul(attn, p.v));
      progress::step("attention", r0 + n, mem.n);
    }
    warnings_.push_back(
        "osra: the full attention [" + std::to_string(b) + ", " +
        std::to_string(options.num_heads()) + ", " + std::to_string(mem.n) + ", " +
        std::to_string(mem.nk) + "] needs about " + formatBytes(mem.fullBytes()) +
        " with the rest of the run, over the memory budget of " + formatBytes(budget) +
        "; computed the output in " + attn::chunkText(mem.n, rows) +
        " and did not record the 'attention' probe (inspect chosen query pixels with "
        "attention rows, downsample the input, or raise the memory budget)");
  }
  return out.transpose(-1, -2).reshape({b, c, hgt, wid});
}

torch::Tensor OsraImpl::attentionRows(const torch::Tensor& x,
                                      const std::vector<int64_t>& queries) {
  const auto p = project(x);
  const int64_t n = x.size(2) * x.size(3);
  const auto idx = attn::queryIndexTensor(queries, n, "osra", x.device());
  const auto qsel = p.q.index_select(2, idx);  // [B,h,Q,d]
  const int64_t nq = qsel.size(2);
  const OsraMemory mem = osraMemory(options, x.sizes().vec());
  const int64_t budget = options.memory_budget();
  const int64_t resultBytes = desc::f32Bytes(mem.batch * mem.heads * nq * mem.nk);  // result
  const int64_t avail = budget > 0 ? attn::usableBytes(budget) - mem.fixedBytes - resultBytes
                                   : std::numeric_limits<int64_t>::max();
  const int64_t rows = attn::rowsPerChunk(avail, mem.rowBytes, nq);
  const double s = scale();
  // the encoding's rows of the chosen queries, [1,h,Q,Nk]
  const auto bias = relative_pos_enc.defined() ? positionBias(n, mem.nk).index_select(2, idx)
                                               : torch::Tensor();
  auto rowsOf = [&](int64_t r0, int64_t m) {
    auto l = at::matmul(qsel.narrow(2, r0, m), p.k).mul_(s);
    if (bias.defined()) l.add_(bias.narrow(2, r0, m));
    return at::softmax(l, -1);
  };
  if (rows >= nq) return rowsOf(0, nq);
  auto result = at::empty({qsel.size(0), qsel.size(1), nq, p.k.size(-1)}, x.options());
  for (int64_t r0 = 0; r0 < nq; r0 += rows) {
    const int64_t m = std::min(rows, nq - r0);
    result.narrow(2, r0, m).copy_(rowsOf(r0, m));
  }
  return result;
}

// ---- descriptor ----------------------------------------------------------------------------

namespace {

OsraOptions osraOptions(const Params& p, const Shape& shape) {
  auto o = OsraOptions(shape.at(1))
               .num_heads(p.getInt("num_heads"))
               .sr_ratio(p.getInt("sr_ratio"))
               .qk_scale(p.getFloat("qk_scale"))
               .variant(p.getChoice("variant") == "transxnet" ? OsraVariant::TransXNet
                                                              : OsraVariant::Seed);
  if (p.getBool("relative_pos_enc")) {
    const auto& grid = p.getIntList("pos_enc_grid");  // checked: two entries, 0,0 = input's
    const bool own = grid.size() != 2 || grid[0] == 0;
    o.pos_enc_height(own ? shape.at(2) : grid[0]).pos_enc_width(own ? shape.at(3) : grid[1]);
  }
  return o;
}

/// Largest divisor of `channels` that is <= `heads` (>= 1).
int64_t headsThatDivide(int64_t channels, int64_t heads) {
  for (int64_t h = std::min(heads, channels); h > 1; --h) {
    if (channels % h == 0) return h;
  }
  return 1;
}

}  // namespace

ModuleDescriptor osraDescriptor() {
  ModuleDescriptor d;
  d.id = "osra";
  d.displayName = "OSRA (overlapping spatial reduction attention)";
  d.category = ModuleCategory::CrossAttention;
  d.summary =
      "Multi-head self-attention whose keys/values come from an overlapping strided "
      "depthwise-conv reduction of the input";
  d.citation = "Lou et al., TransXNet, arXiv:2310.19380 (2023), IEEE TNNLS (seed 002 OSRAttention)";
  d.inputs = {{"x", "feature map [B,C,H,W], C divisible by num_heads"}};
  d.outputs = {"output"};
  d.params = {
      desc::intParam("num_heads", 8, 1, 4096, "attention heads h; C must be divisible by h"),
      desc::intParam("sr_ratio", 2, 1, 64,
                     "key/value spatial reduction: depthwise conv k = sr+3, stride sr; 1 = none"),
      desc::floatParam("qk_scale", 0.0, 0.0, 1e6,
                       "logit scale; 0 = head_dim^-0.5 (the seed's default)"),
      desc::choiceParam("variant", {"seed", "transxnet"},
                        "seed: ReLU in sr, keys sr.0/1/3/4; transxnet: GELU (official), keys "
                        "sr.0.conv, sr.0.bn, sr.1.conv, sr.1.bn"),
      desc::boolParam("relative_pos_enc", false,
                      "add TransXNet's learnable relative position encoding [1,h,Nr,Nr'] (key "
                      "relative_pos_enc; zeros without weights) to the logits"),
      desc::intListParam("pos_enc_grid", "0,0", 0, 65536,
                         "H,W the encoding was made for: Nr = H*W, Nr' = ceil(H/sr)*ceil(W/sr), "
                         "resized bicubically to the input's; 0,0 = the input's H,W (TransXNet "
                         "at 224x224: 56,56 / 28,28 / 14,14 / 7,7 by stage)"),
  };
  d.probes = {desc::probe("attention", ProbeKind::AttentionMatrix, "[B,heads,H*W,H'*W']", 0, 1,
                          "softmax(q k^T * scale): rows are query pixels of x, columns the "
                          "reduced key grid H'xW'; withheld when the full matrix does not fit "
                          "the memory budget")};
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) -> Problem {
    Problem err = desc::checkNchwInputs(d, shapes);
    if (!err.empty()) return err;
    const int64_t c = shapes[0][1], h = p.getInt("num_heads");
    const auto& grid = p.getIntList("pos_enc_grid");
    if (grid.size() != 2 || (grid[0] == 0) != (grid[1] == 0)) {
      return Problem("osra: pos_enc_grid '" + p.text("pos_enc_grid") +
                         "' must be two sizes H,W (e.g. 56,56), or 0,0 for the input's",
                     parameterSubject("pos_enc_grid"), setParameter("pos_enc_grid", "0,0"));
    }
    if (c % h != 0) {
      const int64_t fix = headsThatDivide(c, h);
      return Problem("osra: C = " + std::to_string(c) + " channels are not divisible by num_heads = " +
                         std::to_string(h) + " (each head takes C / num_heads channels); num_heads " +
                         "must divide " + std::to_string(c) + ", or x needs a multiple of " +
                         std::to_string(h) + " channels",
                     parameterSubject("num_heads"), setParameter("num_heads", std::to_string(fix)));
    }
    return {};
  };
  d.memoryBytes = [](const Params& p, const std::vector<Shape>& shapes) {
    return osraMemory(osraOptions(p, shapes[0]), shapes[0]).fullBytes();
  };
  d.minMemoryBytes = [](const Params& p, const std::vector<Shape>& shapes) {
    const OsraMemory mem = osraMemory(osraOptions(p, shapes[0]), shapes[0]);
    return std::min(mem.minBytes(), mem.fusedBytes());
  };
  d.plannedMemoryBytes = [](const Params& p, const std::vector<Shape>& shapes, int64_t budget,
                            const OutputSelection& selection) {
    const OsraMemory mem = osraMemory(osraOptions(p, shapes[0]), shapes[0]);
    if (!selection.wants("attention") &&
        (budget <= 0 || mem.fusedBytes() <= attn::usableBytes(budget))) {
      return mem.fusedBytes();
    }
    const int64_t rows = osraChunkRows(mem, budget);
    return rows >= mem.n ? mem.fullBytes() : mem.chunkedBytes(rows);
  };
  d.work = [](const Params& p, const std::vector<Shape>& shapes, const OutputSelection& sel) {
    const OsraMemory mem = osraMemory(osraOptions(p, shapes[0]), shapes[0]);
    const double b = static_cast<double>(mem.batch), c = static_cast<double>(mem.channels);
    const double n = static_cast<double>(mem.n), nk = static_cast<double>(mem.nk);
    const int64_t r = p.getInt("sr_ratio");
    WorkEstimate w;
    // q (C->C over N), kv (C->2C over Nk), depthwise sr (k = sr+3) and local_conv (3x3)
    w.gemmFlops = b * (2 * n * c * c + 4 * nk * c * c + 2 * c * nk * ((r + 3) * (r + 3) + 9));
    w.attentionScores = b * static_cast<double>(mem.heads) * n * nk;
    w.headDim = mem.channels / mem.heads;
    w.bytes = static_cast<double>(mem.fixedBytes);
    // the materialised matrix: logits, softmax and the probe copy, each written and read
    if (sel.wants("attention")) w.bytes += 6.0 * static_cast<double>(mem.attentionBytes());
    return w;
  };
  d.state = [](const Params& p, const std::vector<Shape>& shapes) {
    const OsraOptions o = osraOptions(p, shapes[0]);
    const int64_t c = o.dim(), r = o.sr_ratio(), k = r + 3;
    desc::StateList s;
    if (o.pos_enc_height() > 0) {  // the module's own parameter comes before its submodules'
      s.param("relative_pos_enc", {1, o.num_heads(), o.pos_enc_height() * o.pos_enc_width(),
                                   osraPosEncKeys(o.pos_enc_height(), r) * osraPosEncKeys(o.pos_enc_width(), r)});
    }
    s.conv2d("q", c, c, 1).conv2d("kv", c, 2 * c, 1);
    if (r > 1 && o.variant() == OsraVariant::Seed) {
      s.conv2d("sr.0", c, c, k, false, c).batchNorm("sr.1", c);
      s.conv2d("sr.3", c, c, 1, false, c).batchNorm("sr.4", c);
    } else if (r > 1) {
      s.conv2d("sr.0.conv", c, c, k, false, c).batchNorm("sr.0.bn", c);
      s.conv2d("sr.1.conv", c, c, 1, false, c).batchNorm("sr.1.bn", c);
    }
    return s.conv2d("local_conv", c, c, 3, true, c).list();
  };
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    Osra m(osraOptions(p, shapes[0]));
    auto inst = makeInstance(m, [](Osra& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in.at(0))};
    });
    inst->setMemoryBudget = [m](int64_t bytes) mutable { m->options.memory_budget(bytes); };
    inst->select = [m](const OutputSelection& s) mutable { m->selection = s; };
    inst->warnings = [m]() { return m->warnings(); };
    inst->queryRows = [m](const std::vector<at::Tensor>& in,
                          const std::vector<int64_t>& queries) mutable {
      if (in.size() != 1) throwInput("osra: attention rows take one input (x)");
      return m->attentionRows(in[0], queries);
    };
    return inst;
  };
  return d;
}

}  // namespace fl
