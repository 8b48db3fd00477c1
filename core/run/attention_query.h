#pragma once
/// Attention rows of chosen query pixels for a run request: what the explorer's query mode
/// shows when a run withheld the full `attention` probe over the memory budget (osra, cmgm;
/// architecture.md, "Running work"). Like run(): a request in, a result out, never an
/// exception, callable from any thread.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/modules/registry.h"
#include "core/run/run.h"

namespace fl {

struct AttentionQueryResult {
  uint64_t requestId = 0;  ///< the RunRequest's id, so callers can match rows to a run
  bool ok = false;
  ErrorKind errorKind = ErrorKind::Internal;
  std::string error;  ///< one line, when !ok
  std::string moduleId;
  std::vector<int64_t> queries;  ///< the flat query indices asked for, in order
  /// [B, heads, Q, Nk] CPU float32: rows[b][h][i] is the attention of query pixel
  /// queries[i] over the Nk keys, equal to the matching row of the full `attention` probe.
  at::Tensor rows;
  int64_t queryHeight = 0, queryWidth = 0;  ///< H, W of input x: query p = row * W + col
  std::string device;                       ///< "cpu" or "cuda:0"
  double totalMs = 0;
};

/// Builds the module exactly as run() does for `request` (parameters, seed or weights,
/// device, memory budget) and computes only the attention rows of `queryIndices` (flat
/// indices into x's H*W grid, repeats allowed) in query chunks within the budget. Fails
/// (!ok, one-line message) for a module without an attention matrix (Usage), an index
/// outside [0, H*W) or an empty list (Input), and everything run() refuses.
AttentionQueryResult attentionQuery(const ModuleRegistry& registry, const RunRequest& request,
                                    const std::vector<int64_t>& queryIndices);

}  // namespace fl
