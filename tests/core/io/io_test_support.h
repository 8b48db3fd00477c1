#pragma once
// Helpers shared by the core/io tests: temp dirs, file bytes, and fixtures made by Debian's
// Python (with torch and numpy), so our readers are checked against the real writers.
#include "test_env.h"
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/common/error.h"

namespace fl::test {

/// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fl_io_test_XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// Debian's interpreter: the one with torch (never the python3 first on PATH).
inline std::string pythonExe() { return fl::test::env("FL_PYTHON"); }

inline std::vector<uint8_t> readBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void writeBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

inline std::vector<uint8_t> bytesOf(const std::string& text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

/// Runs `script` with Debian's Python inside `dir`; on failure the result carries its output.
inline ::testing::AssertionResult runPython(const TempDir& dir, const std::string& script) {
  const std::string file = dir.file("fixture.py");
  {
    std::ofstream out(file);
    out << script;
  }
  const std::string log = dir.file("fixture.log");
  const std::string cmd =
      "cd '" + dir.path() + "' && '" + pythonExe() + "' fixture.py > '" + log + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc == 0) return ::testing::AssertionSuccess();
  const std::vector<uint8_t> out = readBytes(log);
  return ::testing::AssertionFailure() << "python fixture failed (rc " << rc << "):\n"
                                       << std::string(out.begin(), out.end());
}

/// The fl::Error message `fn` throws (and its kind), or a test failure when it does not.
template <typename Fn>
std::string errorOf(Fn&& fn, ErrorKind expected = ErrorKind::Input) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(expected)) << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected fl::Error, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected fl::Error, nothing was thrown";
  return "";
}

}  // namespace fl::test
