#pragma once
/// Progress and cancellation of long module forwards.
///
/// A LibTorch call cannot be interrupted, so modules that work in pieces (osra's and cmgm's
/// attention in bands of query rows) call `progress::step(done, total)` between pieces: it
/// reports to the innermost open Scope's callback and throws fl::Error(Cancelled) once the
/// scope's cancel flag is set. Like probe::Scope it is thread-local: whoever runs the module
/// opens the scope on the same thread; outside a scope step() only costs a thread-local load.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace fl::progress {

struct Update {
  std::string phase;  ///< "attention", "cam", ... (which pass of the module)
  int64_t done = 0;   ///< pieces finished in this phase
  int64_t total = 0;  ///< pieces of this phase
  /// Fraction of the whole forward done, in [0, 1] (phases weighted by the module).
  double fraction = 0;
};

using Callback = std::function<void(const Update&)>;

class Scope {
 public:
  /// `callback` may be empty; `cancel` may be null (never cancelled). Both must outlive it.
  Scope(Callback callback, const std::atomic<bool>* cancel);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  friend void step(const char*, int64_t, int64_t, double, double);
  friend bool cancelRequested();
  Callback callback_;
  const std::atomic<bool>* cancel_;
  Scope* previous_;
};

/// Between pieces: throws fl::Error(ErrorKind::Cancelled) when cancellation was requested,
/// else reports `done` of `total` pieces of `phase`, which spans [phaseStart, phaseEnd) of the
/// whole forward. Call it on the thread that opened the scope (not inside parallel_for).
void step(const char* phase, int64_t done, int64_t total, double phaseStart = 0,
          double phaseEnd = 1);

/// True when the innermost scope's cancel flag is set.
bool cancelRequested();

/// True when a scope is open on this thread.
bool active();

}  // namespace fl::progress
