#include "core/train/archive_check.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>

#include "core/util/error.h"

namespace pretext {

namespace {

class ZipBytes {
 public:
  ZipBytes(std::string bytes, const std::string& path) : b_(std::move(bytes)), path_(path) {}
  size_t size() const { return b_.size(); }
  uint64_t u16(uint64_t at) const { return read(at, 2); }
  uint64_t u32(uint64_t at) const { return read(at, 4); }
  uint64_t u64(uint64_t at) const { return read(at, 8); }
  const unsigned char* data(uint64_t at, uint64_t n) const {
    need(at, n);
    return reinterpret_cast<const unsigned char*>(b_.data()) + at;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(path_ + ": damaged, it cannot be loaded (" + what +
                "; the file was cut short or changed after it was written)");
  }

 private:
  void need(uint64_t at, uint64_t n) const {
    if (at > b_.size() || n > b_.size() - at) fail("a zip record reaches beyond the end of the file");
  }
  uint64_t read(uint64_t at, int n) const {
    need(at, static_cast<uint64_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b_[at + i]);
    return v;
  }
  std::string b_;
  std::string path_;
};

constexpr uint64_t kEndOfDirectory = 0x06054b50, kZip64Locator = 0x07064b50, kZip64End = 0x06064b50,
                   kDirectoryEntry = 0x02014b50, kLocalHeader = 0x04034b50;

}  // namespace

void verifyArchiveIntegrity(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the checkpoint");
  const ZipBytes z(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), path);
  if (z.size() < 22) z.fail("shorter than any zip archive");
  // The end-of-directory record: the last 22 bytes, or earlier when a comment follows it.
  uint64_t end = z.size() - 22;
  const uint64_t lowest = z.size() > 22 + 65535 ? z.size() - 22 - 65535 : 0;
  while (z.u32(end) != kEndOfDirectory) {
    if (end == lowest) z.fail("no zip end-of-directory record");
    --end;
  }
  uint64_t entries = z.u16(end + 10), directory = z.u32(end + 16);
  if (entries == 0xFFFF || directory == 0xFFFFFFFF) {  // zip64: the real values are elsewhere
    if (end < 20 || z.u32(end - 20) != kZip64Locator) z.fail("a zip64 archive without its locator");
    const uint64_t end64 = z.u64(end - 20 + 8);
    if (z.u32(end64) != kZip64End) z.fail("a zip64 end-of-directory record missing");
    entries = z.u64(end64 + 32);
    directory = z.u64(end64 + 48);
  }
  if (entries == 0) z.fail("an empty zip archive");
  uint64_t at = directory;
  for (uint64_t i = 0; i < entries; ++i) {
    if (z.u32(at) != kDirectoryEntry) z.fail("zip directory entry " + std::to_string(i) + " is not where it should be");
    const uint64_t method = z.u16(at + 10), crc = z.u32(at + 16), nameLength = z.u16(at + 28),
                   extraLength = z.u16(at + 30), commentLength = z.u16(at + 32);
    uint64_t size = z.u32(at + 24), compressed = z.u32(at + 20), local = z.u32(at + 42);
    const std::string name(reinterpret_cast<const char*>(z.data(at + 46, nameLength)), nameLength);
    // Zip64 sizes and offsets: in the extra field (id 1), in this order, for each value set to ~0.
    for (uint64_t e = at + 46 + nameLength; e + 4 <= at + 46 + nameLength + extraLength;) {
      const uint64_t id = z.u16(e), length = z.u16(e + 2);
      if (id == 1) {
        uint64_t field = e + 4;
        if (size == 0xFFFFFFFF) size = z.u64(field), field += 8;
        if (compressed == 0xFFFFFFFF) compressed = z.u64(field), field += 8;
        if (local == 0xFFFFFFFF) local = z.u64(field);
      }
      e += 4 + length;
    }
    if (z.u32(local) != kLocalHeader) z.fail("the record " + name + " has no local header");
    const uint64_t data = local + 30 + z.u16(local + 26) + z.u16(local + 28);
    const unsigned char* bytes = z.data(data, compressed);
    if (method == 0) {  // stored: what LibTorch writes
      if (compressed != size) z.fail("the record " + name + " has two sizes");
      uLong sum = crc32(0L, Z_NULL, 0);
      for (uint64_t done = 0; done < size;) {
        const uInt n = static_cast<uInt>(std::min<uint64_t>(size - done, 1u << 30));
        sum = crc32(sum, bytes + done, n);
        done += n;
      }
      if (sum != crc) z.fail("the record " + name + " does not match its CRC-32");
    }
    at += 46 + nameLength + extraLength + commentLength;
  }
}

}  // namespace pretext
