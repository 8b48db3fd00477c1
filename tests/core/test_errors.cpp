// Errors with structure: core errors carry their kind, subject and fix, and their message
// states the fact without naming a front end's flag or widget (the CLI and the GUI word
// the fix: app/cli_wording.h, ui/error_text.h).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "test_registry.h"
#include "core/common/error.h"
#include "core/features/features.h"
#include "core/run/run.h"

namespace fl {
namespace {

using test::registry;

RunResult runWith(const std::string& id, std::vector<at::Tensor> inputs,
                  const std::map<std::string, std::string>& params = {}, int64_t budget = 0) {
  RunRequest req;
  req.moduleId = id;
  req.params = params;
  req.device = DeviceChoice::Cpu;
  req.inputs = std::move(inputs);
  req.maxMemoryBytes = budget;
  return run(registry(), req);
}

void expectNoFlag(const std::string& message) {
  EXPECT_EQ(message.find("--"), std::string::npos) << "names a flag: " << message;
}

/// An error of `kind` that says `text` without naming a flag, is about `subject` and offers
/// `fix` (nullopt: none). A failed run is checked through RunResult::failure().
void expectFix(const Error& e, ErrorKind kind, const std::string& text, const Subject& subject,
               const std::optional<Fix>& fix) {
  EXPECT_EQ(e.kind(), kind);
  EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  expectNoFlag(e.what());
  EXPECT_EQ(e.subject(), subject);
  EXPECT_EQ(e.fix(), fix);
}

TEST(Errors, EvenKernelIsAboutTheParameterWithTheNextOddSize) {
  const RunResult r = runWith("eca", {at::randn({1, 8, 5, 5})}, {{"kernel_size", "4"}});
  ASSERT_FALSE(r.ok);
  expectFix(r.failure(), ErrorKind::Input, "eca: kernel_size 4 is even", parameterSubject("kernel_size"),
            setParameter("kernel_size", "5"));
  EXPECT_NE(r.error.find("it must be odd"), std::string::npos) << r.error;
  // failure() gives back the same Error
  const Error e = r.failure();
  EXPECT_EQ(e.kind(), ErrorKind::Input);
  EXPECT_EQ(std::string(e.what()), r.error);
  EXPECT_EQ(e.subject(), r.errorSubject);
  EXPECT_EQ(e.fix(), r.errorFix);
}

TEST(Errors, SeedPaddingMismatchSuggestsPaddingSame) {
  // spatial-attention's default padding=seed keeps H x W only for kernel 7
  const RunResult r = runWith("spatial-attention", {at::randn({1, 4, 9, 11})}, {{"kernel_size", "5"}});
  ASSERT_FALSE(r.ok);
  expectFix(r.failure(), ErrorKind::Input, "padding=seed", parameterSubject("padding"), setParameter("padding", "same"));
  EXPECT_NE(r.error.find("11 x 13"), std::string::npos) << r.error;
}

TEST(Errors, OverTheMemoryBudgetIsAboutTheBudget) {
  const RunResult r = runWith("aff", {at::randn({1, 8, 5, 7}), at::randn({1, 8, 5, 7})}, {},
                              /*budget=*/1024);
  ASSERT_FALSE(r.ok);
  expectFix(r.failure(), ErrorKind::Memory, "memory budget is 1.00 KiB", settingSubject(kSettingMemoryBudget),
            fixBy(FixAction::RaiseMemoryBudget));
}

TEST(Errors, BadFeatureSpecIsAboutTheSpec) {
  try {
    parseFeatureSpec("nonsense:x=1");
    FAIL() << "accepted";
  } catch (const Error& e) {
    expectFix(e, ErrorKind::Usage, "'nonsense:x=1'", settingSubject(kSettingFeatureSpec),
              fixBy(FixAction::ChooseFeatureSpec));
  }
}

TEST(Errors, MissingInputIsAboutTheEmptySlot) {
  const RunResult r = runWith("aff", {at::randn({1, 8, 5, 7})});
  ASSERT_FALSE(r.ok);
  expectFix(r.failure(), ErrorKind::Input, "aff takes 2 input(s) (x, residual), got 1", inputSubject("residual"),
            Fix{FixAction::OpenInput, "residual", {}});
}

TEST(Errors, MismatchedInputIsAboutThatInputWithNoFix) {
  const RunResult r = runWith("aff", {at::randn({1, 8, 5, 7}), at::randn({1, 8, 5, 6})});
  ASSERT_FALSE(r.ok);
  expectFix(r.failure(), ErrorKind::Input, "residual", inputSubject("residual"), std::nullopt);
}

TEST(Errors, ASettingsValueMessageStartsWithTheSettingsName) {
  // The convention front ends rely on to name the setting their way (error.h).
  try {
    parseDevice("tpu");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_EQ(std::string(e.what()), "device 'tpu' is not one of auto, cpu, cuda");
    EXPECT_EQ(e.subject(), settingSubject(kSettingDevice));
  }
}

TEST(Errors, NoCheckMessageOfAnyModuleNamesAFlag) {
  // Every module with impossible settings or shapes: the fact only, the fix as data.
  for (const ModuleDescriptor& d : registry().all()) {
    const std::string& id = d.id;
    const Params p = resolveParams(id, d.params, {});
    const Problem few = d.check(p, {});
    EXPECT_FALSE(few.empty()) << id;
    expectNoFlag(few.message());
    const Problem flat = d.check(p, std::vector<Shape>(d.inputs.size(), Shape{1, 1, 1}));
    EXPECT_FALSE(flat.empty()) << id;
    expectNoFlag(flat.message());
  }
}

}  // namespace
}  // namespace fl
