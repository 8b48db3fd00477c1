#include "core/modules/attention_rows.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <algorithm>

#include "core/common/error.h"
#include "core/modules/module_instance.h"

namespace fl {

at::Tensor attentionRows(ModuleInstance& instance, const std::vector<at::Tensor>& inputs,
                         const std::vector<int64_t>& queryIndices) {
  if (!instance.queryRows) {
    throwUsage("this module has no attention matrix; attention rows exist for osra and cmgm");
  }
  torch::NoGradGuard noGrad;
  return instance.queryRows(inputs, queryIndices);
}

namespace attn {

int64_t rowsPerChunk(int64_t availableBytes, int64_t bytesPerRow, int64_t totalRows) {
  if (totalRows <= 0) return 0;
  if (bytesPerRow <= 0) return totalRows;
  const int64_t rows = availableBytes <= 0 ? 1 : availableBytes / bytesPerRow;
  return std::clamp<int64_t>(rows, 1, totalRows);
}

int64_t usableBytes(int64_t budget) { return budget - budget / 16; }

int64_t budgetForUsable(int64_t usable) {
  int64_t budget = usable + usable / 15;
  while (usableBytes(budget) < usable) ++budget;
  while (budget > 0 && usableBytes(budget - 1) >= usable) --budget;
  return budget;
}

at::Tensor queryIndexTensor(const std::vector<int64_t>& queryIndices, int64_t n,
                            const std::string& moduleId, const at::Device& device) {
  if (queryIndices.empty()) throwInput(moduleId + ": no query pixels given for attention rows");
  for (const int64_t p : queryIndices) {
    if (p < 0 || p >= n) {
      throwInput(moduleId + ": query pixel index " + std::to_string(p) + " is outside [0, " +
                 std::to_string(n) + ") (flat index row * W + col over H*W = " +
                 std::to_string(n) + " pixels)");
    }
  }
  return at::tensor(queryIndices, at::TensorOptions().dtype(at::kLong)).to(device);
}

std::string chunkText(int64_t totalRows, int64_t rowsPerChunk) {
  const int64_t chunks = (totalRows + rowsPerChunk - 1) / rowsPerChunk;
  return std::to_string(chunks) + " chunks of " + std::to_string(rowsPerChunk) +
         " query rows";
}

}  // namespace attn
}  // namespace fl
