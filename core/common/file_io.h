#pragma once
/// The one way FusionLens opens a file for reading and the one way it replaces a file
/// (docs/formats.md, "Hostile and broken files").
///
/// Reading: the path is opened without blocking (a FIFO would otherwise wait forever for a
/// writer), the *opened descriptor* is fstat'ed (no check-then-open race) and anything that is
/// not a regular file is refused: "'x.png' is not a regular file (a character device)". Reads
/// never go past the size seen at open, so a file that grows while it is read (or a
/// /proc-like file) cannot make a reader run on.
///
/// Writing: a new file is written next to the target and renamed over it, and only onto a
/// regular file or nothing; any other existing target (a device, a FIFO, a directory) is
/// refused before work starts and left untouched.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace fl {

/// A regular file opened for reading. Throws fl::Error(Input) naming the path.
class InputFile {
 public:
  /// Opens `path`; refuses what is not a regular file.
  explicit InputFile(const std::string& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  InputFile(InputFile&& other) noexcept;
  InputFile& operator=(InputFile&&) = delete;

  const std::string& path() const { return path_; }
  /// The size seen when the file was opened: every read stays inside it.
  uint64_t size() const { return size_; }
  /// Reads exactly `n` bytes at `offset`; refuses a range past size() and a short read (the
  /// file shrank): "'x': read error at byte N".
  void readAt(uint64_t offset, void* dst, size_t n) const;
  /// The whole file; refused without reading when it is larger than `maxBytes`
  /// ("'x' is N bytes; a WHAT is at most M bytes").
  std::vector<uint8_t> readAll(uint64_t maxBytes, const std::string& what) const;
  std::string readAllText(uint64_t maxBytes, const std::string& what) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

/// An InputFile read through a read-ahead window: many small reads in a row (zip headers,
/// thousands of one-element tensors) cost one system call per window instead of one each.
/// Reads larger than a quarter of the window go straight to the file. Not thread-safe.
class WindowedInput {
 public:
  static constexpr size_t kDefaultWindow = size_t{256} << 10;
  explicit WindowedInput(const std::string& path, size_t window = kDefaultWindow);

  const std::string& path() const { return file_.path(); }
  uint64_t size() const { return file_.size(); }
  /// As InputFile::readAt(); served from the window when it holds the range.
  void readAt(uint64_t offset, void* dst, size_t n);

 private:
  InputFile file_;
  std::vector<uint8_t> window_;
  uint64_t start_ = 0;  ///< file offset of window_[0]
  size_t filled_ = 0;   ///< valid bytes in window_
};

/// Opens and closes `path` under InputFile's rule: for readers we do not own (LibTorch's
/// torch::jit::load, Qt) that must not be handed a FIFO or a device.
void requireRegularFile(const std::string& path);

/// Refuses (fl::Error(Usage)) an output path that exists and is not a regular file: "'x' is
/// not a regular file (a FIFO); FusionLens only replaces regular files". Call it before the
/// work that produces the output. A missing path, or a link to a regular file, passes.
void requireReplaceableTarget(const std::string& path);

/// Writes `path` atomically: `write` fills a temporary file beside it, which is then renamed
/// over `path`. Checks the target with requireReplaceableTarget() first (again right before
/// the rename). On any failure the temporary file is removed and the target left as it was.
/// Throws fl::Error(Input) "'path': ..." on I/O errors.
void writeFileAtomically(const std::string& path, const std::function<void(std::ostream&)>& write);

/// What kind of file `mode` (st_mode) describes, with its article: "a character device",
/// "a FIFO", "a directory", ...
std::string fileTypeName(unsigned mode);

}  // namespace fl
