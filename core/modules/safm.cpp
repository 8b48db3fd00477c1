#include "core/modules/safm.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/upsampling.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

namespace nn = torch::nn;

SafmImpl::SafmImpl(const SafmOptions& options) : options(options) { reset(); }

void SafmImpl::reset() {
  const int64_t dim = options.dim();
  const int64_t chunk = dim / options.n_levels();
  mfr = register_module("mfr", nn::ModuleList());
  for (int64_t i = 0; i < options.n_levels(); ++i) {
    mfr->push_back(nn::Conv2d(nn::Conv2dOptions(chunk, chunk, 3).padding(1).groups(chunk)));
  }
  aggr = register_module("aggr", nn::Conv2d(nn::Conv2dOptions(dim, dim, 1)));
}

namespace {

/// Legacy nearest source index (F.interpolate(mode='nearest'), ATen's nearest_idx without a
/// scale): floor(dst * in / out) in float, clamped to in - 1.
std::vector<int64_t> nearestIndex(int64_t in, int64_t out) {
  std::vector<int64_t> idx(static_cast<size_t>(out));
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t d = 0; d < out; ++d) {
    idx[static_cast<size_t>(d)] =
        out == in ? d : out == 2 * in ? d >> 1 : std::min(static_cast<int64_t>(std::floor(d * scale)), in - 1);
  }
  return idx;
}

/// out[b,c,y,x] += sum_i small[i][b,c,ry_i(y),rx_i(x)]: the nearest-upsampled levels added in
/// one pass over `out` (contiguous [B,C,H,W]; each small[i] contiguous [B,C,h_i,w_i]). The sum
/// of the levels' row is rebuilt only when one of their source rows changes.
void addUpsampled(at::Tensor& out, const std::vector<at::Tensor>& small) {
  const int64_t planes = out.size(0) * out.size(1), h = out.size(2), w = out.size(3);
  const size_t n = small.size();
  std::vector<std::vector<int64_t>> rows(n), cols(n);
  for (size_t i = 0; i < n; ++i) {
    rows[i] = nearestIndex(small[i].size(2), h);
    cols[i] = nearestIndex(small[i].size(3), w);
  }
  float* o = out.data_ptr<float>();
  at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(w));
    for (int64_t p = begin; p < end; ++p) {
      for (int64_t y = 0; y < h; ++y) {
        const bool rebuild = y == 0 || std::any_of(rows.begin(), rows.end(), [y](const auto& r) {
                               return r[static_cast<size_t>(y)] != r[static_cast<size_t>(y - 1)];
                             });
        if (rebuild) {
          std::fill(row.begin(), row.end(), 0.0f);
          for (size_t i = 0; i < n; ++i) {
            const int64_t sw = small[i].size(3);
            const float* src = small[i].data_ptr<float>() +
                               (p * small[i].size(2) + rows[i][static_cast<size_t>(y)]) * sw;
            const int64_t* cx = cols[i].data();
            for (int64_t x = 0; x < w; ++x) row[static_cast<size_t>(x)] += src[cx[x]];
          }
        }
        float* dst = o + (p * h + y) * w;
        const float* r = row.data();
        for (int64_t x = 0; x < w; ++x) dst[x] += r[x];
      }
    }
  });
}

}  // namespace

torch::Tensor SafmImpl::forward(const torch::Tensor& x) {
  const int64_t n = options.n_levels();
  const int64_t b = x.size(0), dim = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t chunk = dim / n;
  const auto chunks = x.chunk(n, 1);
  // aggr is a 1x1 conv, so aggr(cat(L_0..L_n-1)) = b + sum_i W_i L_i with W_i the weight's
  // columns of chunk i; and a 1x1 conv commutes with nearest upsampling, so for the pooled
  // levels W_i up(s_i) = up(W_i s_i): their products run at the pooled size and are added
  // upsampled in one pass. No per-level full-size maps and no cat: one full-size allocation
  // (the output) instead of five, and a quarter of the full-size matrix product.
  auto& conv0 = *mfr[0]->as<nn::Conv2d>();
  const at::Tensor& weight = aggr->weight;
  if (x.scalar_type() != at::kFloat || !x.is_cpu() || !aggr->bias.defined()) {
    return forwardReference(x, chunks);
  }
  const auto wagg = weight.view({dim, dim});
  const auto level0 = conv0.forward(chunks[0]).contiguous();
  auto m = at::empty({b, dim, h, w}, x.options());
  for (int64_t i = 0; i < b; ++i) {
    auto dst = m[i].view({dim, h * w});
    at::addmm_out(dst, aggr->bias.unsqueeze(1), wagg.narrow(1, 0, chunk),
                  level0[i].view({chunk, h * w}));
  }
  std::vector<at::Tensor> small;
  for (int64_t i = 1; i < n; ++i) {
    auto& conv = *mfr[i]->as<nn::Conv2d>();
    auto s = std::get<0>(at::adaptive_max_pool2d(chunks[i], {h >> i, w >> i}));
    s = conv.forward(s);
    small.push_back(at::matmul(wagg.narrow(1, i * chunk, chunk), s.flatten(2))
                        .view({b, dim, s.size(2), s.size(3)})
                        .contiguous());
  }
  if (!small.empty()) addUpsampled(m, small);
  at::gelu_(m);  // exact (erf) GELU, in place on the fresh output
  if (probe::active()) probe::record("modulation", m);  // a copy: m is reused below
  return m.mul_(x);
}

torch::Tensor SafmImpl::forwardReference(const torch::Tensor& x,
                                         const std::vector<torch::Tensor>& chunks) {
  // The seed's order of operations (other dtypes, devices): levels upsampled, cat, aggr.
  const int64_t n = options.n_levels();
  const int64_t h = x.size(2), w = x.size(3);
  std::vector<torch::Tensor> levels;
  for (int64_t i = 0; i < n; ++i) {
    auto& conv = *mfr[i]->as<nn::Conv2d>();
    if (i == 0) {
      levels.push_back(conv.forward(chunks[0]));
      continue;
    }
    auto s = std::get<0>(at::adaptive_max_pool2d(chunks[i], {h >> i, w >> i}));
    s = conv.forward(s);
    // Legacy nearest (src = floor(dst * in / out)), as F.interpolate(mode='nearest').
    s = nn::functional::interpolate(s, nn::functional::InterpolateFuncOptions()
                                           .size(std::vector<int64_t>{h, w})
                                           .mode(torch::kNearest));
    levels.push_back(s);
  }
  auto m = aggr->forward(torch::cat(levels, 1));
  at::gelu_(m);
  if (probe::active()) probe::record("modulation", m);
  return m.mul_(x);
}

ModuleDescriptor safmDescriptor() {
  ModuleDescriptor d;
  d.id = "safm";
  d.displayName = "SAFM (spatially-adaptive feature modulation)";
  d.category = ModuleCategory::Spatial;
  d.summary =
      "Multi-scale depthwise features (max-pooled per channel group) aggregated into a "
      "modulation map M that multiplies x";
  d.citation =
      "Sun et al., Spatially-Adaptive Feature Modulation for Efficient Image Super-Resolution "
      "(SAFMN), ICCV 2023, arXiv:2302.13800";
  d.inputs = {{"x", "feature map [B,C,H,W]"}};
  d.outputs = {"output"};
  d.params = {desc::intParam("n_levels", 4, 1, 16,
                             "number of scales; C must be divisible by it and H, W >= "
                             "2^(n_levels-1)")};
  d.probes = {desc::unboundedProbe("modulation", ProbeKind::FeatureMap, "[B,C,H,W]",
                                   "modulation map M = GELU(aggr(...)); unbounded (>= -0.17), "
                                   "use a diverging or per-channel scale")};
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) -> Problem {
    Problem err = desc::checkNchwInputs(d, shapes);
    if (!err.empty()) return err;
    const int64_t n = p.getInt("n_levels");
    const int64_t c = shapes[0][1], h = shapes[0][2], w = shapes[0][3];
    // The largest n_levels <= n that fits these channels and this size (1 always does).
    int64_t fit = n;
    while (fit > 1 && (c % fit != 0 || (int64_t{1} << (fit - 1)) > std::min(h, w))) --fit;
    if (c % n != 0) {
      return Problem("safm: " + std::to_string(c) + " channels are not divisible by n_levels " +
                         std::to_string(n) + "; n_levels must divide " + std::to_string(c) +
                         ", or the input needs a multiple of n_levels channels",
                     parameterSubject("n_levels"), setParameter("n_levels", std::to_string(fit)));
    }
    const int64_t need = int64_t{1} << (n - 1);
    if (h < need || w < need) {
      return Problem("safm: input " + shapeText(shapes[0]) + " is too small for n_levels " +
                         std::to_string(n) + ": H and W must be >= " + std::to_string(need) +
                         " (2^(n_levels-1)); a lower n_levels fits, or an input upsampled to at "
                         "least " + std::to_string(need) + "x" + std::to_string(need),
                     parameterSubject("n_levels"), setParameter("n_levels", std::to_string(fit)));
    }
    return {};
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    // input, chunk levels (pooled and upsampled), cat, aggr, GELU, output, probe copy
    return desc::f32Bytes(8 * desc::numel(shapes[0]));
  };
  d.state = [](const Params& p, const std::vector<Shape>& shapes) {
    const int64_t dim = shapes[0][1], n = p.getInt("n_levels"), chunk = dim / n;
    desc::StateList s;
    for (int64_t i = 0; i < n; ++i) s.conv2d("mfr." + std::to_string(i), chunk, chunk, 3, true, chunk);
    return s.conv2d("aggr", dim, dim, 1).list();
  };
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    Safm m(SafmOptions(shapes[0][1]).n_levels(p.getInt("n_levels")));
    return makeInstance(m, [](Safm& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0])};
    });
  };
  return d;
}

}  // namespace fl
