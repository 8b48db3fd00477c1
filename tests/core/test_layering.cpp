// core/ never includes Qt (architecture.md, "Layers"): the CLI and a CUDA-only machine build it alone.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <vector>

#include "test_env.h"

namespace {

namespace fs = std::filesystem;

/// Calls `fn(path, lines)` for every file under `root` whose extension is one of `exts`, with
/// the file's lines (the one walk of the source tree that every test here makes).
void forEachSource(const fs::path& root, const std::set<std::string>& exts,
                   const std::function<void(const fs::path&, const std::vector<std::string>&)>& fn) {
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file() || !exts.count(entry.path().extension().string())) continue;
    std::ifstream in(entry.path());
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    fn(entry.path(), lines);
  }
}

TEST(Layering, CoreNeverIncludesQt) {
  const std::filesystem::path core = std::filesystem::path(fl::test::env("FL_SOURCE_DIR")) / "core";
  ASSERT_TRUE(std::filesystem::is_directory(core));
  const std::regex qtInclude(R"(^\s*#\s*include\s*[<"](Q[A-Za-z]|qcustomplot|qt))");
  int files = 0;
  forEachSource(core, {".h", ".cpp"}, [&](const fs::path& file, const std::vector<std::string>& lines) {
    ++files;
    for (size_t i = 0; i < lines.size(); ++i) {
      EXPECT_FALSE(std::regex_search(lines[i], qtInclude)) << file << ":" << i + 1 << " includes Qt: " << lines[i];
    }
  });
  EXPECT_GT(files, 10) << "scanned too few files under " << core;
}

// The core states facts in no front end's words (core/common/error.h): no message, warning or
// note in core/ names a command-line flag; the CLI adds its flags in app/ (app/cli_wording.h).
TEST(Layering, CoreStringsNameNoFlag) {
  const fs::path core = fs::path(fl::test::env("FL_SOURCE_DIR")) / "core";
  const std::regex literal(R"re("(?:[^"\\]|\\.)*")re");
  const std::regex flag(R"((^|[^-\w])--[a-z])");
  int literals = 0;
  forEachSource(core, {".h", ".cpp"}, [&](const fs::path& file, const std::vector<std::string>& lines) {
    for (size_t i = 0; i < lines.size(); ++i) {
      for (auto it = std::sregex_iterator(lines[i].begin(), lines[i].end(), literal); it != std::sregex_iterator();
           ++it) {
        ++literals;
        const std::string text = it->str();
        EXPECT_FALSE(std::regex_search(text, flag)) << file << ":" << i + 1 << " names a flag: " << text;
      }
    }
  });
  EXPECT_GT(literals, 1000) << "scanned too few string literals under " << core;
}

// Include direction between core folders, the same as the CMake libraries link
// (core/CMakeLists.txt): common <- io <- modules, render, features, analysis <- run <- script
// <- figure.
// A folder may include itself and the folders listed for it; siblings stay apart. A new folder
// must be placed here, or the test fails.
TEST(Layering, CoreFoldersIncludeOnlyTheLayersBelow) {
  const std::filesystem::path core = std::filesystem::path(fl::test::env("FL_SOURCE_DIR")) / "core";
  const std::set<std::string> low = {"common", "io"};
  const std::map<std::string, std::set<std::string>> allowed = {
      {"common", {}},
      {"io", {"common"}},
      {"modules", low},
      {"render", low},
      {"features", low},
      {"analysis", low},
      {"run", {"common", "io", "modules", "render", "features", "analysis"}},
      {"script", {"common", "io", "modules", "render", "features", "analysis", "run"}},
      {"figure", {"common", "io", "modules", "render", "features", "analysis", "run", "script"}},
  };
  const std::regex coreInclude(R"(^\s*#\s*include\s*"core/([a-z_]+)/)");
  int checked = 0;
  forEachSource(core, {".h", ".cpp", ".inc", ".def"}, [&](const fs::path& file, const std::vector<std::string>& lines) {
    const std::string folder = fs::relative(file, core).begin()->string();
    if (folder == file.filename().string()) return;  // core/torch_pch.h
    const auto rule = allowed.find(folder);
    if (rule == allowed.end()) {
      ADD_FAILURE() << "core/" << folder << " has no place in the layer order of this test";
      return;
    }
    for (size_t i = 0; i < lines.size(); ++i) {
      std::smatch m;
      if (!std::regex_search(lines[i], m, coreInclude)) continue;
      ++checked;
      const std::string target = m[1];
      EXPECT_TRUE(target == folder || rule->second.count(target))
          << file << ":" << i + 1 << ": core/" << folder << " includes core/" << target
          << ", a layer above it or beside it";
    }
  });
  EXPECT_GT(checked, 100) << "scanned too few includes under " << core;
}

// Descriptors are what the UI's widgets see: they (and all they include) must stay free of
// LibTorch's headers, so that widget translation units build fast and never touch tensors.
TEST(Layering, DescriptorHeadersAreTorchFree) {
  const std::filesystem::path root(fl::test::env("FL_SOURCE_DIR"));
  const std::regex projectInclude(R"re(^\s*#\s*include\s*"(core/[^"]+)")re");
  const std::regex torchInclude(R"(^\s*#\s*include\s*<(ATen|torch|c10)/)");
  std::vector<std::string> todo = {"core/modules/descriptor.h"};
  std::set<std::string> seen;
  while (!todo.empty()) {
    const std::string header = todo.back();
    todo.pop_back();
    if (!seen.insert(header).second) continue;
    std::ifstream in(root / header);
    ASSERT_TRUE(in) << header;
    std::string line;
    while (std::getline(in, line)) {
      std::smatch m;
      EXPECT_FALSE(std::regex_search(line, torchInclude))
          << header << " (reached from core/modules/descriptor.h) includes torch: " << line;
      if (std::regex_search(line, m, projectInclude)) todo.push_back(m[1]);
    }
  }
  EXPECT_GE(seen.size(), 3u);  // descriptor.h, params.h, probe_kind.h
}

// Headers marked "Internal to core/FOLDER/" in their first lines are that folder's own business:
// only its files (and tests) include them, so they can change without touching the rest.
TEST(Layering, InternalHeadersStayInTheirFolder) {
  const std::filesystem::path root(fl::test::env("FL_SOURCE_DIR"));
  const std::regex marker(R"(Internal to (core/[a-z_]+/))");
  std::map<std::string, std::string> internal;  // header -> its folder
  forEachSource(root / "core", {".h"}, [&](const fs::path& file, const std::vector<std::string>& lines) {
    for (size_t i = 0; i < 4 && i < lines.size(); ++i) {
      std::smatch m;
      if (std::regex_search(lines[i], m, marker)) {
        internal[fs::relative(file, root).string()] = m[1];
        break;
      }
    }
  });
  EXPECT_GE(internal.size(), 8u) << "fewer internal headers than marked in the tree";
  const std::regex projectInclude(R"re(^\s*#\s*include\s*"([a-z_]+/[^"]+)")re");
  int checked = 0;
  for (const char* top : {"core", "app", "ui"}) {
    forEachSource(root / top, {".h", ".cpp"}, [&](const fs::path& path, const std::vector<std::string>& lines) {
      const std::string file = fs::relative(path, root).string();
      for (size_t i = 0; i < lines.size(); ++i) {
        std::smatch m;
        if (!std::regex_search(lines[i], m, projectInclude)) continue;
        const auto it = internal.find(m[1]);
        if (it == internal.end()) continue;
        ++checked;
        EXPECT_EQ(file.rfind(it->second, 0), 0u)
            << file << ":" << i + 1 << " includes " << it->first << ", internal to " << it->second;
      }
    });
  }
  EXPECT_GT(checked, 5) << "no includes of internal headers seen: is the pattern right?";
}

}  // namespace
