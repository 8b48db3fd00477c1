#include "core/analysis/statistics.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <locale>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/io/tensor_io.h"

namespace fl::analysis {
namespace {

std::string number(double v) {
  std::ostringstream os;
  os.imbue(std::locale::classic());
  os.precision(17);
  os << v;
  return os.str();
}

/// The tensor's elements in row-major order as float64 on the CPU (exact for every real
/// dtype torch has except 64-bit integers beyond 2^53, which no attention map holds).
std::vector<double> flatDoubles(const at::Tensor& t, const char* where, const char* what) {
  if (!t.defined()) throwInput(std::string(where) + ": the " + what + " tensor is undefined");
  if (at::isComplexType(t.scalar_type())) {
    throwInput(std::string(where) + ": the " + what + " tensor is complex (" +
               std::string(c10::toString(t.scalar_type())) + "); statistics need real values");
  }
  const at::Tensor d = t.detach().to(at::kCPU).to(at::kDouble).contiguous().reshape({-1});
  const double* p = d.data_ptr<double>();
  return std::vector<double>(p, p + d.numel());
}

void requireFinite(const std::vector<double>& v, const char* where, const char* what) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      throwInput(std::string(where) + ": the " + what + " tensor holds " + number(v[i]) +
                 " at flat index " + std::to_string(i) + "; only finite values are allowed");
    }
  }
}

void requireNoNaN(const std::vector<double>& v, const char* where, const char* what) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(v[i])) {
      throwInput(std::string(where) + ": the " + what + " tensor holds NaN at flat index " +
                 std::to_string(i) + "; NaN has no rank");
    }
  }
}

void requireSameNumel(const at::Tensor& a, const at::Tensor& b, const char* where) {
  if (a.numel() != b.numel()) {
    throwInput(std::string(where) + ": the tensors have different element counts (" +
               std::to_string(a.numel()) + " in " + compactShapeText(a) + " vs " +
               std::to_string(b.numel()) + " in " + compactShapeText(b) + ")");
  }
}

/// Fractional ranks 1..N: ascending, tied values share the mean of the ranks they span.
std::vector<double> fractionalRanks(const std::vector<double>& v) {
  const size_t n = v.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
  std::vector<double> ranks(n);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && v[order[j + 1]] == v[order[i]]) ++j;
    // Positions i..j (0-based) are ranks i+1..j+1; their mean is (i + j) / 2 + 1.
    const double r = 0.5 * static_cast<double>(i + j) + 1.0;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = r;
    i = j + 1;
  }
  return ranks;
}

/// The k largest values' flat indices as a mask; the strict total order (value descending,
/// then index ascending) makes ties deterministic.
std::vector<char> topMask(const std::vector<double>& v, size_t k) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k - 1), order.end(),
                   [&](size_t i, size_t j) { return v[i] > v[j] || (v[i] == v[j] && i < j); });
  std::vector<char> mask(v.size(), 0);
  for (size_t i = 0; i < k; ++i) mask[order[i]] = 1;
  return mask;
}

}  // namespace

double normalizedEntropy(const at::Tensor& values) {
  constexpr const char* kWhere = "normalizedEntropy";
  const std::vector<double> v = flatDoubles(values, kWhere, "input");
  if (v.empty()) throwInput(std::string(kWhere) + ": the input tensor " + compactShapeText(values) + " is empty");
  requireFinite(v, kWhere, "input");
  double vmax = 0.0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] < 0.0) {
      throwInput(std::string(kWhere) + ": value " + number(v[i]) + " at flat index " +
                 std::to_string(i) + " is negative; entropy needs non-negative masses");
    }
    vmax = std::max(vmax, v[i]);
  }
  if (vmax == 0.0) {
    throwInput(std::string(kWhere) + ": all " + std::to_string(v.size()) +
               " values are zero; there is no distribution to take the entropy of");
  }
  if (v.size() == 1) return 0.0;
  // Dividing by the maximum first keeps the sum finite for values near DBL_MAX.
  double sum = 0.0;
  for (double x : v) sum += x / vmax;
  double h = 0.0;
  for (double x : v) {
    const double p = (x / vmax) / sum;
    if (p > 0.0) h -= p * std::log(p);
  }
  // Rounding may step a hair outside [0, 1] for uniform or one-hot masses.
  return std::clamp(h / std::log(static_cast<double>(v.size())), 0.0, 1.0);
}

double giniSparsity(const at::Tensor& values) {
  constexpr const char* kWhere = "giniSparsity";
  std::vector<double> c = flatDoubles(values, kWhere, "input");
  if (c.empty()) throwInput(std::string(kWhere) + ": the input tensor " + compactShapeText(values) + " is empty");
  requireFinite(c, kWhere, "input");
  double cmax = 0.0;
  for (double& x : c) {
    x = std::abs(x);
    cmax = std::max(cmax, x);
  }
  if (cmax == 0.0) return 0.0;  // all zero: a constant vector
  std::sort(c.begin(), c.end());
  double norm1 = 0.0;
  for (double& x : c) {
    x /= cmax;  // scale invariance lets us avoid overflow in the l1 norm
    norm1 += x;
  }
  const double n = static_cast<double>(c.size());
  double weighted = 0.0;
  for (size_t i = 0; i < c.size(); ++i) {
    const double k = static_cast<double>(i + 1);
    weighted += (c[i] / norm1) * ((n - k + 0.5) / n);
  }
  return std::clamp(1.0 - 2.0 * weighted, 0.0, 1.0);
}

double spearman(const at::Tensor& a, const at::Tensor& b) {
  constexpr const char* kWhere = "spearman";
  requireSameNumel(a, b, kWhere);
  const std::vector<double> va = flatDoubles(a, kWhere, "first");
  const std::vector<double> vb = flatDoubles(b, kWhere, "second");
  requireNoNaN(va, kWhere, "first");
  requireNoNaN(vb, kWhere, "second");
  const size_t n = va.size();
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> ra = fractionalRanks(va);
  const std::vector<double> rb = fractionalRanks(vb);
  // Fractional ranks always have mean (N + 1) / 2; ranks are half-integers, so the
  // deviations below are exact and a constant ranking gives exactly zero variance.
  const double mean = 0.5 * (static_cast<double>(n) + 1.0);
  double cov = 0.0, varA = 0.0, varB = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double da = ra[i] - mean, db = rb[i] - mean;
    cov += da * db;
    varA += da * da;
    varB += db * db;
  }
  if (varA == 0.0 || varB == 0.0) return std::numeric_limits<double>::quiet_NaN();
  return std::clamp(cov / std::sqrt(varA * varB), -1.0, 1.0);
}

double topKIoU(const at::Tensor& a, const at::Tensor& b, double percent) {
  constexpr const char* kWhere = "topKIoU";
  if (!(percent > 0.0 && percent <= 100.0)) {
    throwUsage(std::string(kWhere) + ": percent " + number(percent) + " is outside (0, 100]");
  }
  requireSameNumel(a, b, kWhere);
  if (a.numel() == 0) {
    throwInput(std::string(kWhere) + ": the tensors " + compactShapeText(a) + " and " + compactShapeText(b) +
               " are empty; there is no mask to compare");
  }
  const std::vector<double> va = flatDoubles(a, kWhere, "first");
  const std::vector<double> vb = flatDoubles(b, kWhere, "second");
  requireNoNaN(va, kWhere, "first");
  requireNoNaN(vb, kWhere, "second");
  const size_t n = va.size();
  // Multiplying before dividing keeps integer percentages exact (7 * 100 / 100 = 7, whereas
  // 0.07 * 100 = 7.000000000000001); the tolerance covers what rounding is left.
  const double x = percent * static_cast<double>(n) / 100.0;
  const double kd = std::ceil(x - 1e-12 * x);
  const size_t k = std::clamp(static_cast<size_t>(std::max(kd, 1.0)), size_t{1}, n);
  const std::vector<char> ma = topMask(va, k);
  const std::vector<char> mb = topMask(vb, k);
  size_t inter = 0;
  for (size_t i = 0; i < n; ++i) inter += (ma[i] && mb[i]) ? 1 : 0;
  return static_cast<double>(inter) / static_cast<double>(2 * k - inter);
}

std::string toCsv(const StatisticsTable& table) {
  if (table.columns.empty()) {
    throw Error(ErrorKind::Internal, "toCsv: the statistics table has no columns");
  }
  for (size_t r = 0; r < table.rows.size(); ++r) {
    if (table.rows[r].size() != table.columns.size()) {
      throw Error(ErrorKind::Internal,
                  "toCsv: row " + std::to_string(r) + " of the statistics table has " +
                      std::to_string(table.rows[r].size()) + " cells for " +
                      std::to_string(table.columns.size()) + " columns");
    }
  }
  std::string out;
  const auto appendLine = [&out](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i) out += ',';
      const std::string& cell = cells[i];
      if (cell.find_first_of(",\"\r\n") == std::string::npos) {
        out += cell;
        continue;
      }
      out += '"';
      for (char ch : cell) {
        if (ch == '"') out += '"';
        out += ch;
      }
      out += '"';
    }
    out += "\r\n";
  };
  appendLine(table.columns);
  for (const auto& row : table.rows) appendLine(row);
  return out;
}

std::string formatStat(double v) {
  if (std::isnan(v)) return "nan";
  // A stream in the classic locale: snprintf would follow LC_NUMERIC, which Qt sets from the
  // environment, and write "0,5" under a German locale. Precision 6 with no floatfield is
  // exactly %.6g.
  std::ostringstream os;
  os.imbue(std::locale::classic());
  os.precision(6);
  os << v;
  return os.str();
}

}  // namespace fl::analysis
