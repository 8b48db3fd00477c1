// core/ never includes Qt (architecture.md, "Layers"): the CLI and a CUDA-only machine build it alone.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "test_env.h"

namespace {

TEST(Layering, CoreNeverIncludesQt) {
  const std::filesystem::path core = std::filesystem::path(fl::test::env("FL_SOURCE_DIR")) / "core";
  ASSERT_TRUE(std::filesystem::is_directory(core));
  const std::regex qtInclude(R"(^\s*#\s*include\s*[<"](Q[A-Za-z]|qcustomplot|qt))");
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(core)) {
    const auto ext = entry.path().extension();
    if (ext != ".h" && ext != ".cpp") continue;
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    int lineNo = 0;
    while (std::getline(in, line)) {
      ++lineNo;
      EXPECT_FALSE(std::regex_search(line, qtInclude))
          << entry.path() << ":" << lineNo << " includes Qt: " << line;
    }
  }
  EXPECT_GT(files, 10) << "scanned too few files under " << core;
}

}  // namespace
