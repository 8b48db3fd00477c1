#pragma once
/// Attention rows for chosen query pixels, and the query-chunk arithmetic shared by the
/// (HW)^2 attention modules (osra, cmgm; architecture.md, "Running work").
///
/// A full attention matrix [B,heads,N,Nk] may not fit in memory (cmgm at 352x352 would need
/// 458 GiB), but the rows of a few query pixels always do: attentionRows() computes exactly
/// those rows, equal to the matching rows of the full matrix.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fl {

struct ModuleInstance;

/// Attention of the query pixels `queryIndices` (flat, p = row * W + col of input x, each in
/// [0, H*W)) over all keys: [B, heads, Q, Nk] with Nk = H'*W' (osra) or H*W (cmgm), on the
/// inputs' device, Q = queryIndices.size() in the given order (repeats allowed). `inputs` are
/// the module's inputs in descriptor order, as for forward; put the module in eval mode and on
/// the inputs' device first (BatchNorm uses its running statistics). Runs without autograd;
/// the memory budget set on the instance bounds the working set (rows come in chunks).
/// Throws fl::Error(Usage) when the module has no attention matrix and fl::Error(Input) for
/// an index out of range or an empty index list.
at::Tensor attentionRows(ModuleInstance& instance, const std::vector<at::Tensor>& inputs,
                         const std::vector<int64_t>& queryIndices);

namespace attn {

/// Query rows per chunk so that rows * bytesPerRow <= availableBytes, clamped to
/// [1, totalRows] (at least one row, even when availableBytes is too small: callers check
/// feasibility first). Pass INT64_MAX as availableBytes for an unlimited budget.
int64_t rowsPerChunk(int64_t availableBytes, int64_t bytesPerRow, int64_t totalRows);

/// Bytes of `budget` that chunk sizes may plan with: 15/16 of it. Chunk buffers below
/// glibc's 32 MiB mmap threshold are recycled through its heap, which keeps freed memory for
/// a while; the rest of the budget absorbs that (measured: cmgm at 64x64 stayed within every
/// budget with it, and went up to 4% over without).
int64_t usableBytes(int64_t budget);
/// The smallest budget whose usableBytes() is at least `usable` (tests, callers sizing a
/// budget for a wanted chunk).
int64_t budgetForUsable(int64_t usable);

/// Validated int64 index tensor of `queryIndices` on `device`; throws fl::Error(Input)
/// naming `moduleId` when one is outside [0, n) or the list is empty.
at::Tensor queryIndexTensor(const std::vector<int64_t>& queryIndices, int64_t n,
                            const std::string& moduleId, const at::Device& device);

/// "3 chunks of 1024 query rows" style text for warnings.
std::string chunkText(int64_t totalRows, int64_t rowsPerChunk);

}  // namespace attn
}  // namespace fl
