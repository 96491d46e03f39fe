#pragma once
// For harnesses whose parser reads files from a folder: one scratch folder per process, and
// files written whole before each input.
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace fuzzfiles {

inline const std::string& scratchFolder() {
  // A pointer, never destroyed: the exit handler that removes the folder runs after the
  // destructors of statics constructed before it was registered.
  static const std::string* dir = [] {
    std::string pattern = (std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp") + std::string("/pretext-fuzz-XXXXXX");
    if (!mkdtemp(pattern.data())) std::abort();
    auto* path = new std::string(pattern);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratchFolder(), ec);
    });
    return path;
  }();
  return *dir;
}

inline void writeFile(const std::string& path, const void* data, size_t size) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// `data` gzip-compressed into `path` (zlib's gzwrite: what a .gz on disk holds).
inline void writeGzip(const std::string& path, const void* data, size_t size) {
  gzFile f = gzopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size) gzwrite(f, data, static_cast<unsigned>(size));
  gzclose(f);
}

}  // namespace fuzzfiles
