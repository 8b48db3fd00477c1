#pragma once
/// A hard cap on the tensor memory of one job, for work whose size cannot be estimated ahead
/// (a user's TorchScript network: an attention inside it grows as (H*W)^2 with the image).
///
/// While a MemoryLimit is alive on a thread, every LibTorch CPU allocation made on that thread
/// that would bring the tensor bytes held since the limit began above `limitBytes` is refused
/// before it happens: the allocation throws (a c10::Error, which the caller turns into its own
/// error after asking exceeded()). Built-in modules are planned ahead instead (MemoryPlan); this
/// is the guard for what cannot be planned. Counted as MemoryMeter counts (tensors allocated and
/// freed on this thread); an enclosing MemoryMeter still sees every allocation.
///
/// Not seen: scratch buffers that LibTorch's intra-op worker threads allocate themselves, and
/// CUDA memory (the CUDA caching allocator has its own out-of-memory error).
#include <cstdint>
#include <memory>
#include <string>

namespace fl {

class MemoryLimit {
 public:
  /// Starts the cap on this thread until destroyed (on the same thread); limitBytes > 0.
  /// Limits nest: the innermost one is checked.
  explicit MemoryLimit(int64_t limitBytes);
  ~MemoryLimit();
  MemoryLimit(const MemoryLimit&) = delete;
  MemoryLimit& operator=(const MemoryLimit&) = delete;

  int64_t limitBytes() const;
  /// True once an allocation was refused.
  bool exceeded() const;
  /// The first refused allocation, in words: "an allocation of 7.0 GiB with 1.2 GiB already
  /// held would pass the budget of 4.0 GiB" (empty while nothing was refused).
  std::string exceededText() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fl
