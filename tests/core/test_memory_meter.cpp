// The per-job memory meter (core/run/memory_meter.h): it counts this thread's tensors only.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <thread>

#include "core/run/memory_meter.h"
#include "core/run/run.h"
#include "test_registry.h"

namespace fl {

TEST(MemoryMeter, PeakIsTheMostBytesHeldAtOnce) {
  MemoryMeter meter;
  {
    at::Tensor a = at::empty({1000, 1000}, at::kFloat);  // 4 MB
    at::Tensor b = at::empty({500, 1000}, at::kFloat);   // 2 MB
  }
  at::Tensor c = at::empty({250, 1000}, at::kFloat);  // 1 MB, after the others were freed
  EXPECT_EQ(meter.peakBytes(), 6000000);
  EXPECT_EQ(meter.currentBytes(), 1000000);
}

TEST(MemoryMeter, AnotherThreadsTensorsDoNotCount) {
  MemoryMeter meter;
  std::thread other([] {
    at::Tensor big = at::empty({4000, 1000}, at::kFloat);  // 16 MB on another thread
    big.fill_(1);
  });
  other.join();
  at::Tensor mine = at::empty({100, 1000}, at::kFloat);  // 400 kB here
  EXPECT_EQ(meter.peakBytes(), 400000);
}

TEST(MemoryMeter, NestedMetersMeasureTheirOwnPart) {
  MemoryMeter outer;
  at::Tensor a = at::empty({1000, 1000}, at::kFloat);
  {
    MemoryMeter inner;
    at::Tensor b = at::empty({500, 1000}, at::kFloat);
    EXPECT_EQ(inner.peakBytes(), 2000000);
  }
  EXPECT_EQ(outer.peakBytes(), 4000000);
}

TEST(MemoryMeter, MeasuresARun) {
  RunRequest req;
  req.moduleId = "ms-cam";
  req.inputs = {at::randn({1, 16, 64, 64})};
  MemoryMeter meter;
  const RunResult r = run(test::registry(), req);
  ASSERT_TRUE(r.ok) << r.error;
  // At least its output (1x16x64x64 float32) and at most a generous multiple of the estimate.
  EXPECT_GE(meter.peakBytes(), 16 * 64 * 64 * 4);
  EXPECT_LE(meter.peakBytes(), 20 * std::max<int64_t>(r.estimatedBytes, 1 << 20));
}

}  // namespace fl
