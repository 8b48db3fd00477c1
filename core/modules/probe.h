#pragma once
/// Probes: named intermediate tensors that modules record while they run.
///
/// C++ modules have no forward hooks, so a module calls
///   `if (probe::active()) probe::record("weight", w);`
/// and whoever runs the module opens a `probe::Scope` on the same thread. Outside a
/// scope nothing is recorded and the cost is one thread-local load.
#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "core/modules/probe_kind.h"

namespace fl {
namespace probe {

/// Recorded probes of one forward pass, by probe name (detached CPU copies).
using Records = std::map<std::string, at::Tensor>;

/// True when a Scope is open on this thread.
bool active();

/// Stores a detached, contiguous CPU copy of `value` under `name` in the innermost open
/// Scope. Does nothing when no Scope is open. Recording the same name twice keeps the last.
void record(const std::string& name, const at::Tensor& value);

/// RAII: while alive, probe::record() on this thread stores into this scope.
/// Scopes nest; the innermost one receives records.
class Scope {
 public:
  Scope();
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

  const Records& records() const { return records_; }
  Records take() { return std::move(records_); }

 private:
  friend void record(const std::string&, const at::Tensor&);
  Records records_;
  Scope* previous_;
};

}  // namespace probe
}  // namespace fl
