#pragma once
/// A built module, ready to run: the torch module (whose named parameters and buffers are
/// the state_dict) plus a forward with a uniform signature.
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/modules/descriptor.h"

namespace fl {

struct ModuleInstance {
  std::shared_ptr<torch::nn::Module> module;
  /// inputs in descriptor order -> outputs in descriptor order.
  std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)> forward;

  // Optional members, set only by modules whose attention grows as (HW)^2 (osra, cmgm).

  /// Memory budget of one forward in bytes (0 = unlimited). Over it the module computes
  /// attention in query chunks and withholds what does not fit (the full attention probe,
  /// cmgm's cam output, returned as an undefined tensor), saying so in warnings().
  std::function<void(int64_t)> setMemoryBudget;
  /// Messages from the last forward (chunking, withheld probe or output), one line each.
  std::function<std::vector<std::string>()> warnings;
  /// What the next forwards compute (OutputSelection in descriptor.h): osra and cmgm then
  /// skip the full attention probe and cam when they are not selected.
  std::function<void(const OutputSelection&)> select;
  /// Attention rows [B,heads,Q,Nk] for flat query-pixel indices; use attentionRows()
  /// (core/modules/attention_rows.h), which validates and runs it without autograd.
  std::function<at::Tensor(const std::vector<at::Tensor>&, const std::vector<int64_t>&)>
      queryRows;
};

/// Wraps a TORCH_MODULE holder whose forward takes `N` tensors.
template <typename Holder, typename Fn>
std::shared_ptr<ModuleInstance> makeInstance(Holder holder, Fn fn) {
  auto instance = std::make_shared<ModuleInstance>();
  instance->module = holder.ptr();
  instance->forward = [holder, fn](const std::vector<at::Tensor>& in) mutable {
    return fn(holder, in);
  };
  return instance;
}

}  // namespace fl
