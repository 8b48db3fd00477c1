#include "core/common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/common/error.h"

namespace fl {
namespace {

std::string quoted(const std::string& path) { return "'" + path + "'"; }

[[noreturn]] void notRegular(const std::string& path, unsigned mode, ErrorKind kind) {
  throw Error(kind, quoted(path) + " is not a regular file (" + fileTypeName(mode) + ")");
}

}  // namespace

std::string fileTypeName(unsigned mode) {
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISREG(mode)) return "a regular file";
  return "an unknown kind of file";
}

InputFile::InputFile(const std::string& path) : path_(path) {
  if (path.empty()) throwInput("no file name given");
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  // O_NOCTTY: a terminal named as input must not become our controlling terminal.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd_ < 0) {
    const int err = errno;
    throwInput(path + ": cannot open the file for reading (" + std::strerror(err) + ")");
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throwInput(quoted(path) + ": cannot read its file status (" + std::strerror(err) + ")");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    notRegular(path, st.st_mode, ErrorKind::Input);
  }
  size_ = uint64_t(st.st_size);
}

InputFile::InputFile(InputFile&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_), size_(other.size_) {
  other.fd_ = -1;
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

void InputFile::readAt(uint64_t offset, void* dst, size_t n) const {
  if (n == 0) return;
  if (offset > size_ || n > size_ - offset) {
    throwInput(quoted(path_) + ": read of " + std::to_string(n) + " bytes at byte " +
               std::to_string(offset) + " is past the end of the " + std::to_string(size_) +
               "-byte file");
  }
  auto* out = static_cast<char*>(dst);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd_, out + done, n - done, off_t(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {  // an error, or the file shrank after it was opened
      throwInput(quoted(path_) + ": read error at byte " + std::to_string(offset + done));
    }
    done += size_t(got);
  }
}

std::vector<uint8_t> InputFile::readAll(uint64_t maxBytes, const std::string& what) const {
  if (size_ > maxBytes) {
    throwInput(quoted(path_) + " is " + std::to_string(size_) + " bytes; " + what + " is at most " +
               std::to_string(maxBytes) + " bytes");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size_));
  readAt(0, bytes.data(), bytes.size());
  return bytes;
}

std::string InputFile::readAllText(uint64_t maxBytes, const std::string& what) const {
  if (size_ > maxBytes) {
    throwInput(quoted(path_) + " is " + std::to_string(size_) + " bytes; " + what + " is at most " +
               std::to_string(maxBytes) + " bytes");
  }
  std::string text(static_cast<size_t>(size_), '\0');
  readAt(0, text.data(), text.size());
  return text;
}

WindowedInput::WindowedInput(const std::string& path, size_t window)
    : file_(path), window_(std::max<size_t>(window, 4096)) {}

void WindowedInput::readAt(uint64_t offset, void* dst, size_t n) {
  if (n == 0) return;
  if (offset >= start_ && offset - start_ <= filled_ && n <= filled_ - (offset - start_)) {
    std::memcpy(dst, window_.data() + (offset - start_), n);
    return;
  }
  if (n > window_.size() / 4 || offset >= file_.size()) {
    file_.readAt(offset, dst, n);  // large (or refused: past the end) reads bypass the window
    return;
  }
  start_ = offset;
  filled_ = size_t(std::min<uint64_t>(window_.size(), file_.size() - offset));
  if (filled_ < n) filled_ = 0;  // past the end: the file's own check words the refusal
  if (filled_ == 0) {
    file_.readAt(offset, dst, n);
    return;
  }
  try {
    file_.readAt(offset, window_.data(), filled_);
  } catch (const Error&) {
    filled_ = 0;  // the file shrank behind the asked range: read just the range, as unwindowed
    file_.readAt(offset, dst, n);
    return;
  }
  std::memcpy(dst, window_.data(), n);
}

void requireRegularFile(const std::string& path) { InputFile f(path); }

void requireReplaceableTarget(const std::string& path) {
  if (path.empty()) throwUsage("no output file name given");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // nothing there (or a dangling link): created anew
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorKind::Usage, quoted(path) + " is not a regular file (" + fileTypeName(st.st_mode) +
                                      "); FusionLens only replaces regular files");
  }
}

void writeFileAtomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  requireReplaceableTarget(path);
  const std::string tmp = path + ".tmp";
  // The temporary name itself must not be a device or FIFO someone left there.
  requireReplaceableTarget(tmp);
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throwInput(quoted(path) + ": cannot open for writing");
    write(out);
    out.flush();
    if (!out) throwInput(quoted(path) + ": write failed (disk full?)");
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  // Again right before the rename: the target may have been replaced during the work.
  try {
    requireReplaceableTarget(path);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throwInput(quoted(path) + ": cannot replace the file");
  }
}

}  // namespace fl
