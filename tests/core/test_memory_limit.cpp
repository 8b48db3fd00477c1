// The hard cap on a job's tensors (core/run/memory_limit.h), the guard for TorchScript runs
// whose memory cannot be planned ahead.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <thread>

#include "core/run/memory_limit.h"
#include "core/run/memory_meter.h"

namespace fl {

TEST(MemoryLimit, RefusesTheAllocationThatWouldPassIt) {
  const MemoryLimit limit(10'000'000);
  at::Tensor a = at::empty({1000, 1000}, at::kFloat);  // 4 MB: fits
  EXPECT_FALSE(limit.exceeded());
  EXPECT_THROW(at::empty({2000, 1000}, at::kFloat), c10::Error);  // 8 MB more: 12 > 10
  EXPECT_TRUE(limit.exceeded());
  EXPECT_NE(limit.exceededText().find("an allocation of 7.63 MiB with 3.81 MiB already held"), std::string::npos)
      << limit.exceededText();
  EXPECT_NE(limit.exceededText().find("budget of 9.54 MiB"), std::string::npos) << limit.exceededText();
}

TEST(MemoryLimit, FreedTensorsGiveTheirBytesBack) {
  const MemoryLimit limit(10'000'000);
  for (int i = 0; i < 5; ++i) {
    at::Tensor a = at::empty({1500, 1000}, at::kFloat);  // 6 MB, freed each time
    a.fill_(1);
  }
  EXPECT_FALSE(limit.exceeded());
}

TEST(MemoryLimit, EndsWithItsScopeAndSparesOtherThreads) {
  {
    const MemoryLimit limit(1'000'000);
    std::thread other([] { at::Tensor big = at::empty({4000, 1000}, at::kFloat); });  // 16 MB elsewhere
    other.join();
    EXPECT_FALSE(limit.exceeded());
  }
  at::Tensor after = at::empty({4000, 1000}, at::kFloat);  // no limit any more
  EXPECT_EQ(after.numel(), 4'000'000);
}

TEST(MemoryLimit, AnEnclosingMeterStillCounts) {
  MemoryMeter meter;
  {
    const MemoryLimit limit(100'000'000);
    at::Tensor a = at::empty({1000, 1000}, at::kFloat);
  }
  EXPECT_EQ(meter.peakBytes(), 4'000'000);
}

TEST(MemoryLimit, TheInnermostLimitIsChecked) {
  const MemoryLimit outer(100'000'000);
  {
    const MemoryLimit inner(1'000'000);
    EXPECT_THROW(at::empty({1000, 1000}, at::kFloat), c10::Error);
    EXPECT_TRUE(inner.exceeded());
  }
  at::Tensor a = at::empty({1000, 1000}, at::kFloat);
  EXPECT_FALSE(outer.exceeded());
}

}  // namespace fl
