// STL-10, the binary version: uint8 images 3x96x96 stored column-major (per image: channel,
// then columns), labels 1..10 one byte each. Images are read in chunks straight into the final
// tensor, transposing each chunk, so memory stays about 1.01x the raw size.
#include <torch/torch.h>

#include <fstream>

#include "core/data/data_io.h"
#include "core/util/error.h"

namespace pretext::data_detail {
namespace {

constexpr int64_t kSide = 96;
constexpr int64_t kImageBytes = 3 * kSide * kSide;
constexpr int64_t kChunk = 512;  // images per read (14 MB)

int64_t countImages(const std::string& path) {
  int64_t size = fileSize(path, "stl10");
  if (size % kImageBytes != 0) {
    throw Error(path + ": size " + std::to_string(size) + " bytes is not a multiple of the " +
                std::to_string(kImageBytes) + "-byte STL-10 image (3x96x96 uint8)");
  }
  return size / kImageBytes;
}

// Reads the first `n` images of `path` into out[at .. at+n).
void readImagesInto(const std::string& path, int64_t n, torch::Tensor& out, int64_t at) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path);
  auto buf = torch::empty({std::min(n, kChunk), 3, kSide, kSide}, torch::kUInt8);
  for (int64_t done = 0; done < n; done += kChunk) {
    int64_t k = std::min(kChunk, n - done);
    int64_t bytes = k * kImageBytes;
    in.read(reinterpret_cast<char*>(buf.data_ptr<uint8_t>()), bytes);
    if (in.gcount() != bytes) {
      throw Error(path + ": truncated: expected " + std::to_string(n * kImageBytes) +
                  " bytes, found " + std::to_string(done * kImageBytes + in.gcount()));
    }
    // Stored [k, C, W, H]: swap the last two axes into [k, C, H, W].
    out.narrow(0, at + done, k).copy_(buf.narrow(0, 0, k).transpose(2, 3));
  }
}

torch::Tensor readLabels(const std::string& path, int64_t n) {
  std::vector<uint8_t> raw(static_cast<size_t>(n));
  readBytesAt(path, 0, raw.data(), n);
  auto labels = torch::empty({n}, torch::kLong);
  auto* l = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (raw[i] < 1 || raw[i] > 10) {
      throw Error(path + ": bad label " + std::to_string(raw[i]) + " at byte " + std::to_string(i) +
                  ": expected 1..10");
    }
    l[i] = raw[i] - 1;
  }
  return labels;
}

Dataset readStl10Split(const std::string& dir, const std::string& split, int64_t limit,
                  const std::vector<std::string>& names) {
  std::string xPath = joinPath(dir, split + "_X.bin"), yPath = joinPath(dir, split + "_y.bin");
  int64_t n = countImages(xPath);
  int64_t nLabels = fileSize(yPath, "stl10");
  if (nLabels != n) {
    throw Error("stl10: " + yPath + " has " + std::to_string(nLabels) + " labels but " + xPath +
                " has " + std::to_string(n) + " images: expected the same count");
  }
  if (limit > 0) n = std::min(n, limit);
  Dataset d;
  d.name = "stl10/" + split;
  d.images = torch::empty({n, 3, kSide, kSide}, torch::kUInt8);
  readImagesInto(xPath, n, d.images, 0);
  d.labels = readLabels(yPath, n);
  d.classNames = names;
  return d;
}

}  // namespace

DataSplits loadStl10(const std::string& dirIn, const DataOptions& options) {
  std::string dir = resolveDataDir(dirIn, "stl10_binary", "train_X.bin", "stl10");
  std::string namesPath = joinPath(dir, "class_names.txt");
  std::vector<std::string> names = numberedNames(10);
  if (isFile(namesPath)) {
    names = readNameList(namesPath);
    if (names.size() != 10) {
      throw Error(namesPath + ": found " + std::to_string(names.size()) +
                  " class names: expected 10 (one per line)");
    }
  }
  const int64_t limit = options.limit();
  DataSplits s;
  s.test = readStl10Split(dir, "test", limit, names);

  std::string unlabeledPath = joinPath(dir, "unlabeled_X.bin");
  bool withUnlabeled = options.stlUnlabeled() && isFile(unlabeledPath) &&
                       (limit <= 0 || limit > countImages(joinPath(dir, "train_X.bin")));
  if (!withUnlabeled) {
    s.train = readStl10Split(dir, "train", limit, names);
    s.trainLabelled = s.train;
    return s;
  }
  // train = train + unlabeled in one tensor; trainLabelled is a view of its first rows.
  std::string xPath = joinPath(dir, "train_X.bin"), yPath = joinPath(dir, "train_y.bin");
  int64_t nTrain = countImages(xPath);
  int64_t nLabels = fileSize(yPath, "stl10");
  if (nLabels != nTrain) {
    throw Error("stl10: " + yPath + " has " + std::to_string(nLabels) + " labels but " + xPath +
                " has " + std::to_string(nTrain) + " images: expected the same count");
  }
  int64_t nUnlabeled = countImages(unlabeledPath);
  if (limit > 0) nUnlabeled = std::min(nUnlabeled, limit - nTrain);
  auto all = torch::empty({nTrain + nUnlabeled, 3, kSide, kSide}, torch::kUInt8);
  readImagesInto(xPath, nTrain, all, 0);
  readImagesInto(unlabeledPath, nUnlabeled, all, nTrain);
  s.train.name = "stl10/train+unlabeled";
  s.train.images = all;
  s.train.classNames = names;
  s.trainLabelled.name = "stl10/train";
  s.trainLabelled.images = all.narrow(0, 0, nTrain);
  s.trainLabelled.labels = readLabels(yPath, nTrain);
  s.trainLabelled.classNames = names;
  return s;
}

}  // namespace pretext::data_detail
