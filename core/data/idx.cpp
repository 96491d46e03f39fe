// MNIST / Fashion-MNIST IDX files, gzip-compressed (.gz) or raw.
#include <torch/torch.h>
#include <zlib.h>

#include <cstdio>

#include "core/data/data_io.h"
#include "core/util/error.h"

namespace pretext::data_detail {
namespace {

constexpr uint32_t kImageMagic = 0x00000803;
constexpr uint32_t kLabelMagic = 0x00000801;

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// zlib reads raw files transparently, so one reader serves both forms.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    file_ = gzopen(path.c_str(), "rb");
    if (!file_) throw Error("cannot open " + path);
    gzbuffer(file_, 1 << 18);
  }
  ~GzFile() { gzclose(file_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to `count` bytes; returns how many were read.
  int64_t read(void* dst, int64_t count) {
    auto* p = static_cast<char*>(dst);
    int64_t done = 0;
    while (done < count) {
      unsigned chunk = static_cast<unsigned>(std::min<int64_t>(count - done, 1 << 30));
      int n = gzread(file_, p + done, chunk);
      if (n < 0) {
        int err = 0;
        const char* msg = gzerror(file_, &err);
        throw Error(path_ + ": cannot decompress at byte " + std::to_string(done + pos_) + ": " +
                    (msg ? msg : "zlib error") + " (a damaged .gz file?)");
      }
      if (n == 0) break;
      done += n;
    }
    pos_ += done;
    return done;
  }
  int64_t position() const { return pos_; }
  // Counts what is left (for the "found N bytes" part of a size error).
  int64_t remaining() {
    char buf[65536];
    int64_t total = 0, n;
    while ((n = read(buf, sizeof buf)) > 0) total += n;
    return total;
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
  int64_t pos_ = 0;
};

uint32_t bigEndian(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

std::string findIdxFile(const std::string& dir, const std::string& base, const std::string& what,
                        bool builtIn) {
  std::string gz = joinPath(dir, base + ".gz"), raw = joinPath(dir, base);
  if (isFile(gz)) return gz;
  if (isFile(raw)) return raw;
  std::string msg = what + ": missing file " + gz + " (or the uncompressed " + base + ")";
  if (builtIn) {
    msg +=
        ". The built-in Fashion-MNIST comes from the Debian package dataset-fashion-mnist: "
        "install it with `sudo apt-get install dataset-fashion-mnist`, or give another "
        "directory as fashion-mnist:DIR";
  }
  throw Error(msg);
}

void checkTotal(GzFile& f, const std::string& path, int64_t expected, const std::string& header) {
  int64_t got = f.position();
  if (got == expected) {
    int64_t extra = f.remaining();
    if (extra == 0) return;
    got += extra;
  }
  throw Error(path + ": " + (got < expected ? "truncated" : "wrong size") + ": expected " +
              std::to_string(expected) + " bytes (" + header + "), found " + std::to_string(got));
}

// Before allocating what the header promises: a raw file must have exactly that size, and a
// .gz file cannot expand by more than deflate's maximum ratio (about 1032:1).
void checkPlausibleSize(const std::string& path, int64_t expected, const std::string& header) {
  bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  int64_t actual = fileSize(path, "idx");
  if (!gz && actual != expected) {
    throw Error(path + ": " + (actual < expected ? "truncated" : "wrong size") + ": expected " +
                std::to_string(expected) + " bytes (" + header + "), found " +
                std::to_string(actual));
  }
  if (gz && expected > actual * 1040 + 1024) {
    throw Error(path + ": truncated or bad header: expected " + std::to_string(expected) +
                " uncompressed bytes (" + header + "), more than a " + std::to_string(actual) +
                "-byte .gz file can hold");
  }
}

torch::Tensor readIdxImages(const std::string& path) {
  GzFile f(path);
  uint8_t h[16];
  int64_t n = f.read(h, 16);
  if (n < 16) {
    throw Error(path + ": truncated: expected a 16-byte IDX image header, found " +
                std::to_string(n) + " bytes");
  }
  uint32_t magic = bigEndian(h);
  if (magic != kImageMagic) {
    throw Error(path + ": bad magic number " + hex32(magic) + " at byte 0: expected " +
                hex32(kImageMagic) + " (IDX uint8 images, 3 dimensions)");
  }
  int64_t count = bigEndian(h + 4), rows = bigEndian(h + 8), cols = bigEndian(h + 12);
  if (rows <= 0 || cols <= 0 || rows > 4096 || cols > 4096) {
    throw Error(path + ": bad image size " + std::to_string(rows) + "x" + std::to_string(cols) +
                " at byte 8: expected 1..4096 rows and columns");
  }
  int64_t expected = 16 + count * rows * cols;
  std::string header = std::to_string(count) + " images of " + std::to_string(rows) + "x" +
                       std::to_string(cols) + " + 16-byte header";
  checkPlausibleSize(path, expected, header);
  auto images = torch::empty({count, 1, rows, cols}, torch::kUInt8);
  f.read(images.data_ptr<uint8_t>(), count * rows * cols);
  checkTotal(f, path, expected, header);
  return images;
}

torch::Tensor readIdxLabels(const std::string& path, int64_t numClasses) {
  GzFile f(path);
  uint8_t h[8];
  int64_t n = f.read(h, 8);
  if (n < 8) {
    throw Error(path + ": truncated: expected an 8-byte IDX label header, found " +
                std::to_string(n) + " bytes");
  }
  uint32_t magic = bigEndian(h);
  if (magic != kLabelMagic) {
    throw Error(path + ": bad magic number " + hex32(magic) + " at byte 0: expected " +
                hex32(kLabelMagic) + " (IDX uint8 labels, 1 dimension)");
  }
  int64_t count = bigEndian(h + 4);
  checkPlausibleSize(path, 8 + count, std::to_string(count) + " labels + 8-byte header");
  std::vector<uint8_t> raw(static_cast<size_t>(count));
  f.read(raw.data(), count);
  checkTotal(f, path, 8 + count, std::to_string(count) + " labels + 8-byte header");
  auto labels = torch::empty({count}, torch::kLong);
  auto* l = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    if (raw[i] >= numClasses) {
      throw Error(path + ": bad label " + std::to_string(raw[i]) + " for record " +
                  std::to_string(i) + " (byte " + std::to_string(8 + i) + "): expected 0.." +
                  std::to_string(numClasses - 1));
    }
    l[i] = raw[i];
  }
  return labels;
}

Dataset readIdxSplit(const std::string& dir, const std::string& prefix, const std::string& what,
                  bool builtIn, const std::vector<std::string>& classNames,
                  const std::string& name) {
  std::string imagesPath = findIdxFile(dir, prefix + "-images-idx3-ubyte", what, builtIn);
  std::string labelsPath = findIdxFile(dir, prefix + "-labels-idx1-ubyte", what, builtIn);
  Dataset d;
  d.name = name;
  d.images = readIdxImages(imagesPath);
  d.labels = readIdxLabels(labelsPath, static_cast<int64_t>(classNames.size()));
  if (d.images.size(0) != d.labels.size(0)) {
    throw Error(what + ": " + labelsPath + " has " + std::to_string(d.labels.size(0)) +
                " labels but " + imagesPath + " has " + std::to_string(d.images.size(0)) +
                " images: expected the same count");
  }
  d.classNames = classNames;
  return d;
}

}  // namespace

DataSplits loadIdx(const std::string& dir, bool fashion, bool builtIn, const DataOptions& options) {
  const std::string what = fashion ? "fashion-mnist" : "mnist";
  if (dir.empty()) throw Error(what + ": no directory given (expected " + what + ":DIR)");
  if (!isDirectory(dir)) {
    std::string msg = what + ": " + dir + " is not a directory";
    if (builtIn) {
      msg +=
          ". The built-in Fashion-MNIST comes from the Debian package dataset-fashion-mnist: "
          "install it with `sudo apt-get install dataset-fashion-mnist`";
    }
    throw Error(msg);
  }
  std::vector<std::string> names =
      fashion
          ? std::vector<std::string>{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"}
          : numberedNames(10);
  DataSplits s;
  s.train = readIdxSplit(dir, "train", what, builtIn, names, what + "/train");
  s.test = readIdxSplit(dir, "t10k", what, builtIn, names, what + "/test");
  applyLimit(s.train, options.limit());
  applyLimit(s.test, options.limit());
  s.trainLabelled = s.train;
  return s;
}

}  // namespace pretext::data_detail
