#include "core/io/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/common/error.h"
#include "core/common/file_io.h"

namespace fl {

namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint64_t kLocalHeaderSize = 30;
constexpr uint64_t kCentralHeaderSize = 46;
constexpr uint64_t kEndSize = 22;
constexpr uint64_t kZip64LocatorSize = 20;
constexpr uint64_t kZip64EndSize = 56;
constexpr uint64_t kMaxCommentSize = 0xFFFF;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint16_t kMethodStored = 0;
constexpr uint16_t kMethodDeflate = 8;
constexpr size_t kChunkBytes = size_t{1} << 20;

uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
uint64_t le64(const uint8_t* p) { return uint64_t(le32(p)) | (uint64_t(le32(p + 4)) << 32); }

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throwInput(where + ": " + what);
}

}  // namespace

/// Random access to the archive's bytes.
class ZipArchive::Source {
 public:
  virtual ~Source() = default;
  virtual uint64_t size() const = 0;
  /// Reads exactly n bytes at offset; the caller has checked the range.
  virtual void readAt(uint64_t offset, void* dst, size_t n) const = 0;
};

namespace {

class FileSource final : public ZipArchive::Source {
 public:
  explicit FileSource(const std::string& path) : file_(path) {}
  uint64_t size() const override { return file_.size(); }
  void readAt(uint64_t offset, void* dst, size_t n) const override { file_.readAt(offset, dst, n); }

 private:
  // Regular files only; never read past the size seen at open. Windowed: an archive of many
  // small entries (a state_dict of 100,000 tensors) reads their local headers and data in
  // a few system calls, not several per entry.
  mutable WindowedInput file_;
};

class BufferSource final : public ZipArchive::Source {
 public:
  explicit BufferSource(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  uint64_t size() const override { return bytes_.size(); }
  void readAt(uint64_t offset, void* dst, size_t n) const override {
    if (n) std::memcpy(dst, bytes_.data() + offset, n);
  }

 private:
  std::vector<uint8_t> bytes_;
};

/// `offset + length` without wrapping, or UINT64_MAX when it would.
uint64_t addSat(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

}  // namespace

bool looksLikeZip(const uint8_t* data, size_t size) {
  if (size < 4) return false;
  const uint32_t sig = le32(data);
  return sig == kLocalHeaderSig || sig == kEndSig;
}

ZipArchive::ZipArchive(std::unique_ptr<Source> source, std::string where)
    : source_(std::move(source)), where_(std::move(where)) {}
ZipArchive::ZipArchive(ZipArchive&&) noexcept = default;
ZipArchive& ZipArchive::operator=(ZipArchive&&) noexcept = default;
ZipArchive::~ZipArchive() = default;

ZipArchive ZipArchive::open(const std::string& path) {
  ZipArchive archive(std::make_unique<FileSource>(path), path);
  archive.readDirectory();
  return archive;
}

ZipArchive ZipArchive::fromBuffer(std::vector<uint8_t> bytes, const std::string& where) {
  ZipArchive archive(std::make_unique<BufferSource>(std::move(bytes)), where);
  archive.readDirectory();
  return archive;
}

ZipArchive ZipArchive::fromMemory(const uint8_t* data, size_t size, const std::string& where) {
  return fromBuffer(std::vector<uint8_t>(data, data + size), where);
}

uint64_t ZipArchive::size() const { return source_->size(); }

size_t ZipArchive::slotOf(std::string_view name) const {
  const size_t mask = index_.size() - 1;
  for (size_t s = std::hash<std::string_view>()(name) & mask;; s = (s + 1) & mask) {
    const size_t at = index_[s];
    if (at == 0 || entries_[at - 1].name == name) return s;
  }
}

const ZipEntry* ZipArchive::find(std::string_view name) const {
  if (index_.empty()) return nullptr;
  const size_t at = index_[slotOf(name)];
  return at ? &entries_[at - 1] : nullptr;
}

void ZipArchive::readDirectory() {
  const uint64_t fileSize = source_->size();
  if (fileSize < kEndSize) {
    fail(where_, "not a zip archive (" + std::to_string(fileSize) + " bytes, too short)");
  }

  // The end-of-central-directory record sits in the last 22 + 65535 bytes (its comment may
  // be up to 64 KiB). Scan backwards, preferring a record whose comment reaches the end.
  const uint64_t tailSize = std::min<uint64_t>(fileSize, kEndSize + kMaxCommentSize);
  const uint64_t tailStart = fileSize - tailSize;
  std::vector<uint8_t> tail(tailSize);
  source_->readAt(tailStart, tail.data(), tail.size());
  int64_t endPos = -1;
  for (int64_t i = int64_t(tailSize - kEndSize); i >= 0; --i) {
    if (le32(&tail[size_t(i)]) != kEndSig) continue;
    const uint64_t commentLen = le16(&tail[size_t(i) + 20]);
    if (uint64_t(i) + kEndSize + commentLen == tailSize) {
      endPos = i;
      break;
    }
    if (endPos < 0) endPos = i;  // fallback: first candidate from the end
  }
  if (endPos < 0) {
    uint8_t head[4] = {0, 0, 0, 0};
    source_->readAt(0, head, std::min<uint64_t>(4, fileSize));
    if (looksLikeZip(head, 4))
      fail(where_, "truncated zip archive (no end-of-central-directory record)");
    fail(where_, "not a zip archive (no end-of-central-directory record)");
  }
  const uint8_t* end = &tail[size_t(endPos)];
  const uint64_t endOffset = tailStart + uint64_t(endPos);
  uint64_t diskNumber = le16(end + 4);
  uint64_t cdDisk = le16(end + 6);
  uint64_t entriesOnDisk = le16(end + 8);
  uint64_t entryCount = le16(end + 10);
  uint64_t cdSize = le32(end + 12);
  uint64_t cdOffset = le32(end + 16);
  uint64_t cdLimit = endOffset;  // the central directory must end before this

  const bool wantsZip64 = entryCount == 0xFFFF || entriesOnDisk == 0xFFFF || cdSize == 0xFFFFFFFF ||
                          cdOffset == 0xFFFFFFFF;
  if (endOffset >= kZip64LocatorSize) {
    uint8_t loc[kZip64LocatorSize];
    source_->readAt(endOffset - kZip64LocatorSize, loc, sizeof loc);
    if (le32(loc) == kZip64LocatorSig) {
      const uint64_t z64Offset = le64(loc + 8);
      const uint64_t locatorPos = endOffset - kZip64LocatorSize;
      if (addSat(z64Offset, kZip64EndSize) > locatorPos) {
        fail(where_, "zip64 end record at byte " + std::to_string(z64Offset) +
                         " lies beyond the directory (damaged archive)");
      }
      uint8_t z[kZip64EndSize];
      source_->readAt(z64Offset, z, sizeof z);
      if (le32(z) != kZip64EndSig) fail(where_, "damaged zip64 end record (bad signature)");
      diskNumber = le32(z + 16);
      cdDisk = le32(z + 20);
      entriesOnDisk = le64(z + 24);
      entryCount = le64(z + 32);
      cdSize = le64(z + 40);
      cdOffset = le64(z + 48);
      cdLimit = z64Offset;
    } else if (wantsZip64) {
      fail(where_, "zip64 archive without its zip64 end record (truncated or damaged)");
    }
  } else if (wantsZip64) {
    fail(where_, "zip64 archive without its zip64 end record (truncated or damaged)");
  }

  if (diskNumber != 0 || cdDisk != 0 || entriesOnDisk != entryCount)
    fail(where_, "multi-disk (spanned) zip archives are not supported");
  if (addSat(cdOffset, cdSize) > cdLimit) {
    fail(where_, "central directory (bytes " + std::to_string(cdOffset) + ".." +
                     std::to_string(addSat(cdOffset, cdSize)) +
                     ") runs past its end record at byte " + std::to_string(cdLimit) +
                     " (truncated or damaged archive)");
  }
  if (entryCount > cdSize / kCentralHeaderSize) {
    fail(where_, "central directory claims " + std::to_string(entryCount) + " entries in " +
                     std::to_string(cdSize) + " bytes (damaged archive)");
  }

  std::vector<uint8_t>& cd = directory_;
  cd.assign(cdSize, 0);
  source_->readAt(cdOffset, cd.data(), cd.size());
  entries_.clear();
  entries_.reserve(size_t(entryCount));
  size_t slots = 16;
  while (slots < 2 * entryCount) slots *= 2;
  index_.assign(slots, 0);
  uint64_t pos = 0;
  for (uint64_t n = 0; n < entryCount; ++n) {
    if (pos + kCentralHeaderSize > cd.size() || le32(&cd[pos]) != kCentralHeaderSig)
      fail(where_, "damaged central directory at entry " + std::to_string(n));
    const uint8_t* h = &cd[pos];
    ZipEntry e;
    e.flags = le16(h + 8);
    e.method = le16(h + 10);
    e.crc32 = le32(h + 16);
    e.compressedSize = le32(h + 20);
    e.uncompressedSize = le32(h + 24);
    const uint64_t nameLen = le16(h + 28);
    const uint64_t extraLen = le16(h + 30);
    const uint64_t commentLen = le16(h + 32);
    const uint32_t diskStart = le16(h + 34);
    e.localHeaderOffset = le32(h + 42);
    const uint64_t recordLen = kCentralHeaderSize + nameLen + extraLen + commentLen;
    if (pos + recordLen > cd.size())
      fail(where_, "damaged central directory at entry " + std::to_string(n));
    e.name = std::string_view(reinterpret_cast<const char*>(h + kCentralHeaderSize), nameLen);

    // Zip64 extra field: 64-bit values for exactly those fields saturated in the header.
    const uint8_t* extra = h + kCentralHeaderSize + nameLen;
    for (uint64_t x = 0; x + 4 <= extraLen;) {
      const uint16_t id = le16(extra + x);
      const uint64_t len = le16(extra + x + 2);
      if (x + 4 + len > extraLen) fail(where_, "damaged extra field in entry '" + std::string(e.name) + "'");
      if (id == kZip64ExtraId) {
        const uint8_t* f = extra + x + 4;
        uint64_t used = 0;
        auto take = [&](uint64_t& field) {
          if (used + 8 > len) fail(where_, "damaged zip64 field in entry '" + std::string(e.name) + "'");
          field = le64(f + used);
          used += 8;
        };
        if (e.uncompressedSize == 0xFFFFFFFF) take(e.uncompressedSize);
        if (e.compressedSize == 0xFFFFFFFF) take(e.compressedSize);
        if (e.localHeaderOffset == 0xFFFFFFFF) take(e.localHeaderOffset);
      }
      x += 4 + len;
    }
    if (diskStart != 0 && diskStart != 0xFFFF)
      fail(where_, "multi-disk (spanned) zip archives are not supported");

    const uint64_t minEnd =
        addSat(addSat(e.localHeaderOffset, kLocalHeaderSize + nameLen), e.compressedSize);
    if (minEnd > cdOffset) {
      fail(where_, "entry '" + std::string(e.name) + "' ends at byte " + std::to_string(minEnd) +
                       " beyond the file data (" + std::to_string(cdOffset) + " bytes before the " +
                       "directory; truncated archive or lying sizes)");
    }
    const size_t slot = slotOf(e.name);
    if (index_[slot]) fail(where_, "duplicate entry '" + std::string(e.name) + "'");
    entries_.push_back(e);
    index_[slot] = entries_.size();
    pos += recordLen;
  }
  // Entries whose data overlap are how "non-recursive" zip bombs multiply one deflate stream
  // into thousands of entries; no zip writer produces them. Writers put the entries in
  // directory order, so the sort is only needed for others.
  std::vector<const ZipEntry*> byOffset;
  byOffset.reserve(entries_.size());
  for (const ZipEntry& x : entries_) byOffset.push_back(&x);
  const auto earlier = [](const ZipEntry* a, const ZipEntry* b) {
    return a->localHeaderOffset < b->localHeaderOffset;
  };
  if (!std::is_sorted(byOffset.begin(), byOffset.end(), earlier))
    std::sort(byOffset.begin(), byOffset.end(), earlier);
  for (size_t i = 1; i < byOffset.size(); ++i) {
    const ZipEntry& a = *byOffset[i - 1];
    const uint64_t end =
        addSat(addSat(a.localHeaderOffset, kLocalHeaderSize + a.name.size()), a.compressedSize);
    if (end > byOffset[i]->localHeaderOffset) {
      fail(where_, "entries '" + std::string(a.name) + "' and '" + std::string(byOffset[i]->name) +
                       "' overlap in the file (a zip-bomb construction); refusing the archive");
    }
  }
}

uint64_t ZipArchive::dataOffset(const ZipEntry& entry) const {
  const uint64_t fileSize = source_->size();
  if (addSat(entry.localHeaderOffset, kLocalHeaderSize) > fileSize)
    fail(where_, "entry '" + std::string(entry.name) + "' has its header beyond the file");
  uint8_t h[kLocalHeaderSize];
  source_->readAt(entry.localHeaderOffset, h, sizeof h);
  if (le32(h) != kLocalHeaderSig)
    fail(where_, "entry '" + std::string(entry.name) + "' has a damaged local header");
  const uint64_t nameLen = le16(h + 26);
  const uint64_t extraLen = le16(h + 28);
  const uint64_t start = entry.localHeaderOffset + kLocalHeaderSize + nameLen + extraLen;
  const uint64_t end = addSat(start, entry.compressedSize);
  if (end > fileSize) {
    fail(where_, "entry '" + std::string(entry.name) + "' ends at byte " + std::to_string(end) +
                     " beyond the file (" + std::to_string(fileSize) + " bytes)");
  }
  if (nameLen != entry.name.size())
    fail(where_, "entry '" + std::string(entry.name) + "': local header names another file");
  // Compared through a stack buffer: a heap string per entry showed in large archives.
  char small[256];
  std::string large;
  char* localName = small;
  if (nameLen > sizeof small) {
    large.resize(nameLen);
    localName = large.data();
  }
  source_->readAt(entry.localHeaderOffset + kLocalHeaderSize, localName, nameLen);
  if (std::memcmp(localName, entry.name.data(), nameLen) != 0)
    fail(where_, "entry '" + std::string(entry.name) + "': local header names another file");
  return start;
}

namespace {

/// DEFLATE cannot expand data by more than about 1032:1, so a declared uncompressed size
/// beyond that is a lie: refused before anything is allocated for it (a zip bomb that
/// claims terabytes from a few bytes).
void checkDeflateRatio(const ZipEntry& entry, const std::string& where) {
  constexpr uint64_t kMaxRatio = 1032;
  if (entry.method != 8) return;
  const uint64_t cap = entry.compressedSize > (UINT64_MAX - 4096) / kMaxRatio
                           ? UINT64_MAX
                           : entry.compressedSize * kMaxRatio + 4096;
  if (entry.uncompressedSize > cap) {
    fail(where, "entry '" + std::string(entry.name) + "' claims " + std::to_string(entry.uncompressedSize) +
                    " bytes from " + std::to_string(entry.compressedSize) +
                    " compressed bytes, more than DEFLATE can produce (lying sizes)");
  }
}

}  // namespace

std::vector<uint8_t> ZipArchive::read(const std::string& name) const {
  const ZipEntry* entry = find(name);
  if (!entry) fail(where_, "no entry '" + name + "' in the archive");
  return read(*entry);
}

std::vector<uint8_t> ZipArchive::read(const ZipEntry& entry) const {
  const uint64_t start = checkedDataOffset(entry);  // before the allocation below, which is zero-filled
  std::vector<uint8_t> out(entry.uncompressedSize);
  readChecked(entry, start, out.data(), out.size());
  return out;
}

uint64_t ZipArchive::checkEntry(const ZipEntry& entry) const { return checkedDataOffset(entry); }

uint64_t ZipArchive::checkedDataOffset(const ZipEntry& entry) const {
  const auto what = [&entry] { return "entry '" + std::string(entry.name) + "'"; };  // built only for a message
  if (entry.flags & 1) fail(where_, what() + " is encrypted (not supported)");
  checkDeflateRatio(entry, where_);
  if (entry.method != kMethodStored && entry.method != kMethodDeflate) {
    fail(where_, what() + " uses compression method " + std::to_string(entry.method) +
                     " (only STORED and DEFLATE are supported)");
  }
  if (entry.uncompressedSize > max_entry_bytes_) {
    fail(where_, what() + " would decompress to " + std::to_string(entry.uncompressedSize) +
                     " bytes, more than the limit of " + std::to_string(max_entry_bytes_) +
                     " bytes (zip-bomb guard)");
  }
  if (entry.method == kMethodStored && entry.uncompressedSize != entry.compressedSize) {
    fail(where_, what() + " is stored with " + std::to_string(entry.compressedSize) +
                     " bytes but claims " + std::to_string(entry.uncompressedSize) +
                     " (lying sizes)");
  }
  return dataOffset(entry);  // the local header and the compressed data lie inside the file
}

void ZipArchive::readInto(const ZipEntry& entry, void* dst, uint64_t dstSize) const {
  readChecked(entry, checkedDataOffset(entry), dst, dstSize);
}

void ZipArchive::readChecked(const ZipEntry& entry, uint64_t start, void* dst, uint64_t dstSize) const {
  const auto what = [&entry] { return "entry '" + std::string(entry.name) + "'"; };  // built only for a message
  if (dstSize != entry.uncompressedSize) {
    throw Error(ErrorKind::Internal,
                where_ + ": " + what() + " holds " + std::to_string(entry.uncompressedSize) +
                    " bytes, not the " + std::to_string(dstSize) + " asked for");
  }
  auto* out = static_cast<uint8_t*>(dst);

  if (entry.method == kMethodStored) {
    for (uint64_t done = 0; done < dstSize;) {
      const size_t n = size_t(std::min<uint64_t>(kChunkBytes, dstSize - done));
      source_->readAt(start + done, out + done, n);
      done += n;
    }
  } else {
    z_stream zs;
    std::memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
      throw Error(ErrorKind::Internal, where_ + ": zlib inflateInit2 failed");
    struct Guard {
      z_stream* z;
      ~Guard() { inflateEnd(z); }
    } guard{&zs};

    std::vector<uint8_t> in(size_t(std::min<uint64_t>(kChunkBytes, entry.compressedSize)) + 1);
    uint64_t consumed = 0;  // compressed bytes handed to zlib
    uint64_t produced = 0;  // bytes written to dst
    uint8_t overflow = 0;   // one-byte probe for data beyond the declared size
    bool finished = false;
    while (!finished) {
      if (zs.avail_in == 0 && consumed < entry.compressedSize) {
        const size_t n = size_t(std::min<uint64_t>(in.size(), entry.compressedSize - consumed));
        source_->readAt(start + consumed, in.data(), n);
        consumed += n;
        zs.next_in = in.data();
        zs.avail_in = uInt(n);
      }
      const bool probing = produced == dstSize;
      if (probing) {
        zs.next_out = &overflow;
        zs.avail_out = 1;
      } else {
        zs.next_out = out + produced;
        zs.avail_out = uInt(std::min<uint64_t>(dstSize - produced, UINT_MAX));
      }
      const uInt before = zs.avail_out;
      const int rc = inflate(&zs, Z_NO_FLUSH);
      const uInt wrote = before - zs.avail_out;
      if (probing && wrote > 0) {
        fail(where_, what() + " inflates to more than its declared " + std::to_string(dstSize) +
                         " bytes (lying sizes)");
      }
      if (!probing) produced += wrote;
      if (rc == Z_STREAM_END) {
        finished = true;
      } else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
        fail(where_, what() + " has corrupt DEFLATE data");
      } else if (rc == Z_MEM_ERROR) {
        throw Error(ErrorKind::Memory, where_ + ": out of memory inflating " + what());
      } else if (rc == Z_BUF_ERROR || (rc == Z_OK && wrote == 0 && zs.avail_in == 0)) {
        if (consumed >= entry.compressedSize && zs.avail_in == 0)
          fail(where_, what() + " ends before its DEFLATE stream does (truncated or lying sizes)");
      }
    }
    if (produced != dstSize) {
      fail(where_, what() + " inflates to " + std::to_string(produced) + " bytes, not the declared " +
                       std::to_string(dstSize) + " (lying sizes)");
    }
  }

  uLong crc = crc32(0L, Z_NULL, 0);
  for (uint64_t done = 0; done < dstSize;) {
    const uInt n = uInt(std::min<uint64_t>(dstSize - done, uint64_t{1} << 30));
    crc = crc32(crc, out + done, n);
    done += n;
  }
  if (uint32_t(crc) != entry.crc32) fail(where_, what() + " fails its CRC-32 check (damaged data)");
}

}  // namespace fl
