// CIFAR-10 / CIFAR-100, the binary versions: records of label byte(s) + 3072 bytes
// (1024 R, 1024 G, 1024 B, each a 32x32 row-major plane).
#include <torch/torch.h>

#include <cstring>

#include "core/data/data_io.h"
#include "core/util/error.h"

namespace pretext::data_detail {
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

struct CifarFormat {
  std::string what;    // "cifar10"
  int64_t labelBytes;  // 1 or 2
  int64_t labelIndex;  // which label byte to use
  int64_t numClasses;  // 10 or 100
};

Dataset readCifar(const std::vector<std::string>& files, const CifarFormat& fmt,
                  const std::string& name, int64_t limit) {
  const int64_t record = fmt.labelBytes + kPixels;
  std::vector<int64_t> counts;
  int64_t total = 0;
  for (const auto& f : files) {
    int64_t size = fileSize(f, fmt.what);
    if (size == 0 || size % record != 0) {
      throw Error(f + ": size " + std::to_string(size) + " bytes is not a multiple of the " +
                  std::to_string(record) + "-byte " + fmt.what + " record (" +
                  std::to_string(fmt.labelBytes) + " label byte(s) + 3072 pixel bytes)");
    }
    counts.push_back(size / record);
    total += size / record;
  }
  if (limit > 0) total = std::min(total, limit);
  Dataset d;
  d.name = name;
  d.images = torch::empty({total, 3, 32, 32}, torch::kUInt8);
  d.labels = torch::empty({total}, torch::kLong);
  auto* img = d.images.data_ptr<uint8_t>();
  auto* lab = d.labels.data_ptr<int64_t>();
  int64_t at = 0;
  for (size_t fi = 0; fi < files.size() && at < total; ++fi) {
    int64_t n = std::min(counts[fi], total - at);
    std::vector<uint8_t> buf(static_cast<size_t>(n * record));
    readBytesAt(files[fi], 0, buf.data(), n * record);
    for (int64_t r = 0; r < n; ++r) {
      const uint8_t* rec = buf.data() + r * record;
      int64_t label = rec[fmt.labelIndex];
      if (label >= fmt.numClasses) {
        throw Error(files[fi] + ": bad label " + std::to_string(label) + " in record " +
                    std::to_string(r) + " (byte " + std::to_string(r * record + fmt.labelIndex) +
                    "): expected 0.." + std::to_string(fmt.numClasses - 1));
      }
      lab[at + r] = label;
      std::memcpy(img + (at + r) * kPixels, rec + fmt.labelBytes, kPixels);
    }
    at += n;
  }
  return d;
}

std::vector<std::string> classNames(const std::string& path, int64_t n, const std::string& what) {
  if (!isFile(path)) return numberedNames(static_cast<int>(n));  // names are optional
  auto names = readNameList(path);
  if (static_cast<int64_t>(names.size()) != n) {
    throw Error(path + ": found " + std::to_string(names.size()) + " class names: expected " +
                std::to_string(n) + " (one per line) for " + what);
  }
  return names;
}

}  // namespace

DataSplits loadCifar10(const std::string& dirIn, const DataOptions& options) {
  CifarFormat fmt{"cifar10", 1, 0, 10};
  std::string dir = resolveDataDir(dirIn, "cifar-10-batches-bin", "data_batch_1.bin", fmt.what);
  std::vector<std::string> trainFiles;
  for (int i = 1; i <= 5; ++i)
    trainFiles.push_back(joinPath(dir, "data_batch_" + std::to_string(i) + ".bin"));
  DataSplits s;
  s.train = readCifar(trainFiles, fmt, "cifar10/train", options.limit());
  s.test = readCifar({joinPath(dir, "test_batch.bin")}, fmt, "cifar10/test", options.limit());
  auto names = classNames(joinPath(dir, "batches.meta.txt"), 10, fmt.what);
  s.train.classNames = s.test.classNames = names;
  s.trainLabelled = s.train;
  return s;
}

DataSplits loadCifar100(const std::string& dirIn, const DataOptions& options) {
  CifarFormat fmt{"cifar100", 2, 1, 100};
  std::string dir = resolveDataDir(dirIn, "cifar-100-binary", "train.bin", fmt.what);
  DataSplits s;
  s.train = readCifar({joinPath(dir, "train.bin")}, fmt, "cifar100/train", options.limit());
  s.test = readCifar({joinPath(dir, "test.bin")}, fmt, "cifar100/test", options.limit());
  auto names = classNames(joinPath(dir, "fine_label_names.txt"), 100, fmt.what);
  s.train.classNames = s.test.classNames = names;
  s.trainLabelled = s.train;
  return s;
}

}  // namespace pretext::data_detail
