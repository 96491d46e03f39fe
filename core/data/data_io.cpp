#include "core/data/data_io.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "core/util/error.h"

namespace pretext::data_detail {

namespace fs = std::filesystem;

std::string joinPath(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

bool isFile(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool isDirectory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

int64_t fileSize(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error(what + ": missing file " + path);
  auto size = fs::file_size(path, ec);
  if (ec) throw Error(what + ": cannot read the size of " + path + ": " + ec.message());
  return static_cast<int64_t>(size);
}

void readBytesAt(const std::string& path, int64_t offset, void* dst, int64_t count) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path);
  in.seekg(offset);
  in.read(static_cast<char*>(dst), static_cast<std::streamsize>(count));
  if (in.gcount() != count) {
    throw Error(path + ": truncated: expected " + std::to_string(count) + " bytes at byte " +
                std::to_string(offset) + ", found " + std::to_string(in.gcount()));
  }
}

std::vector<std::string> readNameList(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open " + path);
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    auto b = line.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) continue;
    auto e = line.find_last_not_of(" \t\r\n");
    names.push_back(line.substr(b, e - b + 1));
  }
  return names;
}

std::string resolveDataDir(const std::string& dir, const std::string& subdir,
                           const std::string& probe, const std::string& what) {
  if (dir.empty()) throw Error(what + ": no directory given (expected " + what + ":DIR)");
  if (!isDirectory(dir)) throw Error(what + ": " + dir + " is not a directory");
  if (fs::exists(fs::path(dir) / probe)) return dir;
  std::string sub = joinPath(dir, subdir);
  if (fs::exists(fs::path(sub) / probe)) return sub;
  return dir;
}

uint64_t mixSeed(uint64_t a, uint64_t b) {
  auto splitmix = [](uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  return splitmix(splitmix(a) ^ (b + 0x632be59bd9b4e019ULL));
}

void applyLimit(Dataset& d, int64_t limit) {
  if (limit <= 0 || d.size() <= limit) return;
  d.images = d.images.narrow(0, 0, limit).clone();
  if (d.labels.defined()) d.labels = d.labels.narrow(0, 0, limit).clone();
}

std::vector<std::string> numberedNames(int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back(std::to_string(i));
  return names;
}

}  // namespace pretext::data_detail
