#pragma once
/// Peak memory of one job, measured inside the core for that job alone.
///
/// A MemoryMeter counts the tensor memory that LibTorch's allocators hand out and take back
/// on the thread that opened it (LibTorch reports every allocation to a thread-local
/// "memory reporting" hook, the one its profiler uses): the peak is the most bytes this job
/// held at once above what it held at the start. Other jobs and other threads of the process
/// do not count, unlike the process's peak RSS (VmHWM), which is shared by every thread.
///
/// What it does not see: memory outside tensors (module objects, OpenCV images, the
/// allocator's own caches) and scratch buffers that LibTorch's intra-op worker threads
/// allocate themselves (op outputs are allocated on the calling thread, so they count).
#include <cstdint>
#include <memory>

namespace fl {

class MemoryMeter {
 public:
  /// Starts measuring on this thread, until destroyed (on the same thread). Meters nest: an
  /// inner one measures its part, and the outer one stops seeing allocations meanwhile.
  MemoryMeter();
  ~MemoryMeter();
  MemoryMeter(const MemoryMeter&) = delete;
  MemoryMeter& operator=(const MemoryMeter&) = delete;

  /// The most tensor bytes held at once since the start (CPU and CUDA together), >= 0.
  int64_t peakBytes() const;
  /// Tensor bytes allocated since the start and not yet freed (may be negative when the job
  /// freed tensors it was given).
  int64_t currentBytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fl
