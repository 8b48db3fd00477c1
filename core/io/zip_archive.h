#pragma once
// Internal to core/io/ (and its tests): not part of the core's public headers.
/// A read-only zip reader for the archives torch.save writes (and .npz files).
///
/// Supports STORED and DEFLATE entries and zip64. Every offset and size in the archive is
/// checked against the file before anything is allocated or read, CRC-32 is verified, and
/// a decompressed entry may not exceed a cap (zip-bomb guard). Encrypted, multi-disk and
/// otherwise exotic archives are refused with a one-line fl::Error(Input).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fl {

/// One file inside a zip archive, as its central directory describes it.
struct ZipEntry {
  /// A view of the archive's central directory, which the ZipArchive keeps: valid while it
  /// lives (a heap string per entry was a good part of opening a 100,000-entry archive).
  std::string_view name;
  uint16_t method = 0;  ///< 0 STORED, 8 DEFLATE (others are refused when read)
  uint16_t flags = 0;   ///< general purpose bit flags (bit 0: encrypted)
  uint32_t crc32 = 0;
  uint64_t compressedSize = 0;
  uint64_t uncompressedSize = 0;
  uint64_t localHeaderOffset = 0;  ///< where the entry's local header starts
};

/// A zip archive opened from a file (read lazily, entry by entry) or a memory buffer.
/// Reads are const but not thread-safe: use one ZipArchive per thread.
class ZipArchive {
 public:
  /// Default cap on one decompressed entry: 16 GiB (larger than any real state_dict
  /// storage we expect, small enough to stop a zip bomb from eating the machine).
  static constexpr uint64_t kDefaultMaxEntryBytes = uint64_t{16} << 30;

  /// Opens a zip file and reads its central directory. `path` also names the archive in
  /// error messages. Throws fl::Error(Input).
  static ZipArchive open(const std::string& path);

  /// Opens a zip held in memory (the buffer is moved in). `where` names it in errors.
  static ZipArchive fromBuffer(std::vector<uint8_t> bytes, const std::string& where);

  /// Same, copying `size` bytes from `data`.
  static ZipArchive fromMemory(const uint8_t* data, size_t size, const std::string& where);

  ZipArchive(ZipArchive&&) noexcept;
  ZipArchive& operator=(ZipArchive&&) noexcept;
  ~ZipArchive();

  /// The entries in central-directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }

  /// The entry called `name`, or nullptr.
  const ZipEntry* find(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name) != nullptr; }

  /// Reads and (if needed) inflates an entry; throws if it is missing, damaged, larger than
  /// maxEntryBytes(), or its data disagrees with its declared sizes or CRC.
  std::vector<uint8_t> read(const std::string& name) const;
  std::vector<uint8_t> read(const ZipEntry& entry) const;

  /// Reads an entry straight into caller memory of exactly entry.uncompressedSize bytes
  /// (e.g. a freshly allocated tensor), with the same checks as read().
  void readInto(const ZipEntry& entry, void* dst, uint64_t dstSize) const;

  /// Every check read() makes before it allocates: not encrypted, a supported method, the
  /// declared sizes possible for the data in the file (STORED: equal; DEFLATE: at most
  /// ~1032:1), within maxEntryBytes(), the local header and data inside the file. Callers
  /// that allocate for readInto() call it first, so a lying size costs no memory.
  /// Returns the entry's data offset for readCheckedInto(), so the local header is read once.
  uint64_t checkEntry(const ZipEntry& entry) const;

  /// readInto() for an entry checkEntry() has just passed, `start` being what it returned.
  void readCheckedInto(const ZipEntry& entry, uint64_t start, void* dst, uint64_t dstSize) const {
    readChecked(entry, start, dst, dstSize);
  }

  /// The name used in error messages (the path, or the `where` given).
  const std::string& where() const { return where_; }
  /// Size of the whole archive in bytes.
  uint64_t size() const;

  uint64_t maxEntryBytes() const { return max_entry_bytes_; }
  void setMaxEntryBytes(uint64_t bytes) { max_entry_bytes_ = bytes; }

  /// The backing bytes: a file or a buffer (internal, public only for the .cpp's helpers).
  class Source;

 private:
  ZipArchive(std::unique_ptr<Source> source, std::string where);
  void readDirectory();
  uint64_t dataOffset(const ZipEntry& entry) const;
  /// checkEntry()'s checks; returns where the entry's data starts.
  uint64_t checkedDataOffset(const ZipEntry& entry) const;
  /// readInto() after the checks, from the data at `start`.
  void readChecked(const ZipEntry& entry, uint64_t start, void* dst, uint64_t dstSize) const;

  std::unique_ptr<Source> source_;
  std::string where_;
  std::vector<ZipEntry> entries_;
  /// The central directory as read: entries_' names are views of it (a move keeps the buffer).
  std::vector<uint8_t> directory_;
  /// Open addressing over entries_ by name: 0 empty, else entry position + 1; a power of two,
  /// at most half full (a hash node per entry was a third of reading a large directory).
  std::vector<size_t> index_;
  /// The slot of `name` in index_: the one holding it, or the empty one where it belongs.
  size_t slotOf(std::string_view name) const;
  uint64_t max_entry_bytes_ = kDefaultMaxEntryBytes;
};

/// True when `data` starts like a zip archive ("PK\x03\x04", or "PK\x05\x06" when empty).
bool looksLikeZip(const uint8_t* data, size_t size);

}  // namespace fl
