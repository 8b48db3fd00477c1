#pragma once
/// Attention that never materialises its [N, Nk] matrix, for the outputs of
/// osra and cmgm when neither the full `attention` probe nor cmgm's `cam` is wanted.
///
/// out = softmax(q k^T * scale + bias) v, computed per (batch, head, block of query rows) with
/// an online softmax over blocks of keys (running max, running sum, rescaled accumulator), so
/// the working set is one [queryBlock, keyBlock] score tile per thread plus the outputs: O(N)
/// rather than O(N * Nk). Equal to the reference up to float rounding (about 1e-6 relative).
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace fl::attn {

/// Query rows and key columns of one score tile (per thread: 64 x 512 floats = 128 KiB).
constexpr int64_t kFusedQueryBlock = 64;
constexpr int64_t kFusedKeyBlock = 512;

/// q [B,h,N,d], k and v [B,h,Nk,d] (any strides), bias [1 or B, h, N, Nk] or undefined;
/// float32 CPU tensors. Returns [B,h,N,d]. When `lse` is given, it receives [B,h,N]: the
/// logsumexp of each row of the scaled logits (cmgm's chunked cam rebuilds columns from it).
/// Between bands of query blocks it reports progress and honours a cancellation request
/// (core/modules/progress.h); work inside a band runs in parallel over LibTorch's threads.
at::Tensor fusedAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          double scale, const at::Tensor& bias, at::Tensor* lse = nullptr);

/// out = softmax(q k^T * scale) v as fusedAttention, but with the whole matrix written to
/// `attn` [B,h,N,Nk] (float32, contiguous, allocated by the caller, e.g. emptyLarge) for those
/// who need it (cmgm's cam, the `attention` probe). Each row is scored, normalised and
/// multiplied by v while it is in cache: one write of the matrix and no temporaries, where
/// matmul, mul_, softmax and matmul make three [N, Nk] passes and a second matrix.
at::Tensor attentionWithMatrix(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               double scale, at::Tensor& attn);

/// at::empty for [N, N]-sized buffers: on Linux, above 32 MiB, its (untouched) memory is
/// advised for transparent huge pages: first touching 300 MiB of fresh 4 KiB pages costs
/// about 1.7 s of page faults on the bench machine (a VM), 2 MiB pages about 50 ms. Allocated
/// by LibTorch's allocator, so memory meters and budgets count it.
at::Tensor emptyLarge(at::IntArrayRef sizes, const at::TensorOptions& options);

/// Extra bytes fusedAttention needs beyond its inputs and output: the transposed key copy
/// (B*h*d*Nk floats), the row statistics (2*B*h*N), per-thread tiles.
int64_t fusedAttentionBytes(int64_t batch, int64_t heads, int64_t n, int64_t nk, int64_t d);

/// Elementary operations of one attention over B*h*N*Nk scores with head size d: the two
/// products (4d flops per score) and the exponential (counted apart): for time estimates.
double attentionFlops(int64_t batch, int64_t heads, int64_t n, int64_t nk, int64_t d);

}  // namespace fl::attn
