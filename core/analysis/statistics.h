#pragma once
/// Statistics that compare attention between modules ("Statistics beside the
/// pictures"; visualization-anchors.md, "Quantitative comparison next to the pictures"):
/// per module the entropy and Gini sparsity of channel weights and spatial maps, between
/// modules the Spearman correlation of channel rankings and the IoU of top-k% spatial masks,
/// and a table of them as CSV.
///
/// Every function takes a tensor of any shape, dtype (bool, integer or floating, not complex)
/// and device, flattens it in row-major order and computes in float64 on the CPU, so a float32
/// probe and its float64 copy give the same figures. Nothing here depends on Qt.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace fl::analysis {

/// Normalised Shannon entropy of a distribution of non-negative masses.
///
/// values: any shape, N = numel elements v_i >= 0, read as masses p_i = v_i / sum(v), e.g. a
/// channel-weight vector [C] or a spatial map [H,W]. Returns
///   H = -sum_i p_i log p_i / log N   in [0, 1]
/// (Shannon 1948, normalised by the entropy log N of the uniform distribution, as in
/// Pielou's evenness index, 1966): 1 for uniform masses, 0 when all the mass is on one
/// element. 0 log 0 is taken as 0 (zero masses contribute nothing). N == 1 gives 0.
/// The result does not depend on the scale of the values (they are divided by their maximum
/// first, so huge values do not overflow the sum).
///
/// Throws fl::Error(Input), naming the problem, for an empty tensor, a negative, NaN or
/// infinite value (with its flat index), an all-zero tensor (no distribution) or a complex
/// tensor.
double normalizedEntropy(const at::Tensor& values);

/// Gini index of |values| as a sparsity measure (Hurley & Rickard, "Comparing Measures of
/// Sparsity", IEEE Trans. Information Theory 55(10), 2009, eq. for G).
///
/// values: any shape, N = numel elements; c = |values| sorted ascending, c_(1) <= ... <= c_(N):
///   G = 1 - 2 * sum_{k=1..N} (c_(k) / ||c||_1) * (N - k + 1/2) / N   in [0, 1 - 1/N].
/// 0 for a constant vector (no sparsity), 1 - 1/N for a one-hot vector (the sparsest); scale
/// and permutation invariant. An all-zero tensor gives 0 (a constant vector). Equal to the
/// classic Gini coefficient sum_ij |c_i - c_j| / (2 N ||c||_1).
///
/// Throws fl::Error(Input) for an empty tensor, a NaN or infinite value (with its flat index)
/// or a complex tensor.
double giniSparsity(const at::Tensor& values);

/// Spearman rank correlation of two rankings, e.g. of the channel scores of two modules.
///
/// a, b: any shapes with the same numel N, compared element by element in row-major order.
/// Each tensor is replaced by its ranks 1..N (ascending; tied values all get the average of
/// the ranks they span, the "fractional ranking" of Spearman 1904 / Kendall), and the result
/// is the Pearson correlation of the two rank vectors, in [-1, 1]: 1 for the same order, -1
/// for the reversed one. Invariant under any strictly increasing transform of either tensor.
/// Infinities rank as the extremes.
///
/// Returns NaN when either ranking is constant (all values tied, or N < 2): the correlation
/// is undefined there, and formatStat() writes it as "nan".
///
/// Throws fl::Error(Input) when the numels differ, for a NaN value (it has no rank; flat index
/// given) or a complex tensor.
double spearman(const at::Tensor& a, const at::Tensor& b);

/// Intersection over union of the top-k% masks of two maps, e.g. two modules' spatial
/// attention maps [H,W].
///
/// a, b: any shapes with the same numel N >= 1, compared element by element in row-major
/// order. Each mask holds the k = ceil(percent / 100 * N) largest values (k >= 1; computed as
/// percent * N / 100 with a relative tolerance of 1e-12 so that 7% of 100 elements is 7, not 8
/// through rounding). Ties at the threshold are broken by the lower flat index first, so the
/// masks always hold exactly k elements and are deterministic. Returns
///   IoU = |A ∩ B| / |A ∪ B|   in [0, 1]   (= m / (2k - m) with m = |A ∩ B|);
/// percent = 100 gives 1. Infinities rank as the extremes.
///
/// Throws fl::Error(Usage) for percent outside (0, 100] (or NaN), fl::Error(Input) when the
/// numels differ, for empty tensors, a NaN value (flat index given) or a complex tensor.
double topKIoU(const at::Tensor& a, const at::Tensor& b, double percent);

/// A table of statistics as text: a header and rows of cells, the numbers already formatted
/// by the caller (see formatStat()). Every row has as many cells as there are columns.
struct StatisticsTable {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
};

/// The table as CSV (RFC 4180): the header line, then one line per row, each line ended by
/// CRLF; a cell containing a comma, a double quote, CR or LF is enclosed in double quotes with
/// its quotes doubled, every other cell is written as it is.
///
/// Throws fl::Error(Internal) for a table without columns or a row whose cell count differs
/// from the column count (a bug in whoever built the table; the row is named).
std::string toCsv(const StatisticsTable& table);

/// A statistic as printf's "%.6g" would write it in the C locale (always a '.' decimal point,
/// whatever the process locale): 0.5 -> "0.5", 1/3 -> "0.333333", 1e-7 -> "1e-07",
/// infinities -> "inf" / "-inf"; NaN (of either sign) -> "nan".
std::string formatStat(double v);

}  // namespace fl::analysis
