#pragma once
// Internal helpers shared by the data-source readers (not part of the public API).
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/dataset.h"

namespace pretext::data_detail {

std::string joinPath(const std::string& dir, const std::string& name);
bool isFile(const std::string& path);
bool isDirectory(const std::string& path);
// Size in bytes; throws pretext::Error "<what>: missing file PATH" when it does not exist.
int64_t fileSize(const std::string& path, const std::string& what);
// Reads exactly `count` bytes from byte `offset` of `path` into `dst`; a short read is an
// Error naming the file, the expected byte count and the actual one.
void readBytesAt(const std::string& path, int64_t offset, void* dst, int64_t count);
// Non-empty, trimmed lines of a text file (class-name lists).
std::vector<std::string> readNameList(const std::string& path);
// `dir` itself when it contains `probe`, else `dir/subdir` when that one does (the layout of
// the official archives), else `dir`. Throws when `dir` is not a directory.
std::string resolveDataDir(const std::string& dir, const std::string& subdir,
                           const std::string& probe, const std::string& what);
// splitmix64 of (a, b): independent seed streams from one user seed.
uint64_t mixSeed(uint64_t a, uint64_t b);
// Keeps the first `limit` images (0 = all): a compact copy, so the big tensor can be freed.
void applyLimit(Dataset& d, int64_t limit);
// Numbers "0".."n-1" as class names.
std::vector<std::string> numberedNames(int n);

// The individual sources (one file each).
DataSplits loadIdx(const std::string& dir, bool fashion, bool builtIn, const DataOptions& options);
DataSplits loadCifar10(const std::string& dir, const DataOptions& options);
DataSplits loadCifar100(const std::string& dir, const DataOptions& options);
DataSplits loadStl10(const std::string& dir, const DataOptions& options);
DataSplits loadImageFolder(const std::string& dir, const DataOptions& options);
DataSplits loadPhotos(const std::string& dir, const DataOptions& options);

}  // namespace pretext::data_detail
