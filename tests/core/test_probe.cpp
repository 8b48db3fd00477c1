// The thread-local probe scope: records only inside a scope, innermost wins, copies detach.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <thread>

#include "core/modules/probe.h"

namespace fl {
namespace {

TEST(Probe, RecordsNothingWhenInactive) {
  EXPECT_FALSE(probe::active());
  probe::record("ignored", at::ones({2}));  // must be a no-op, not a crash
  probe::Scope scope;
  EXPECT_TRUE(probe::active());
  EXPECT_TRUE(scope.records().empty());
}

TEST(Probe, RecordsADetachedCopy) {
  probe::Scope scope;
  auto t = at::arange(6, at::kFloat).reshape({2, 3});
  probe::record("a", t.t());  // non-contiguous on purpose
  t.fill_(-1);                // later changes must not leak into the record
  const auto& rec = scope.records().at("a");
  EXPECT_TRUE(rec.is_contiguous());
  EXPECT_TRUE(at::equal(rec, at::arange(6, at::kFloat).reshape({2, 3}).t()));
}

TEST(Probe, NestedScopesAndScopeEnd) {
  probe::Scope outer;
  {
    probe::Scope inner;
    probe::record("x", at::ones({1}));
    EXPECT_EQ(inner.records().size(), 1u);
  }
  EXPECT_TRUE(outer.records().empty());
  probe::record("y", at::ones({1}));
  EXPECT_EQ(outer.records().count("y"), 1u);
}

TEST(Probe, ScopeIsPerThread) {
  probe::Scope scope;
  bool otherActive = true;
  std::thread([&] {
    otherActive = probe::active();
    probe::record("from_other_thread", at::ones({1}));
  }).join();
  EXPECT_FALSE(otherActive);
  EXPECT_TRUE(scope.records().empty());
}

}  // namespace
}  // namespace fl
