// Image files decoded with OpenCV: `folder:DIR` (class sub-folders) and `photos:DIR` (random
// crops of every photo under DIR, unlabelled). Images are always stored as 3-channel RGB;
// grayscale files are replicated into the three channels.
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <filesystem>
#include <map>
#include <random>

#include "core/data/data_io.h"
#include "core/util/error.h"

#ifdef PRETEXT_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace pretext::data_detail {

#ifndef PRETEXT_HAVE_OPENCV

DataSplits loadImageFolder(const std::string& dir, const DataOptions&) {
  throw Error("folder:" + dir +
              ": this build of Pretext was built without OpenCV, so it cannot "
              "read image files; rebuild with OpenCV (libopencv-dev) or use an IDX/CIFAR/STL-10 "
              "source");
}

DataSplits loadPhotos(const std::string& dir, const DataOptions&) {
  throw Error("photos:" + dir +
              ": this build of Pretext was built without OpenCV, so it cannot "
              "read image files; rebuild with OpenCV (libopencv-dev) or use an IDX/CIFAR/STL-10 "
              "source");
}

#else

namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool hasExtension(const fs::path& p, const std::vector<std::string>& exts) {
  std::string e = lower(p.extension().string());
  for (const auto& x : exts)
    if (e == x) return true;
  return false;
}

std::vector<std::string> imageFiles(const std::string& dir, bool recursive,
                                    const std::vector<std::string>& exts) {
  std::vector<std::string> files;
  std::error_code ec;
  auto add = [&](const fs::directory_entry& e) {
    if (e.is_regular_file(ec) && hasExtension(e.path(), exts)) files.push_back(e.path().string());
  };
  if (recursive) {
    for (const auto& e :
         fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink, ec))
      add(e);
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec)) add(e);
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> subdirectories(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// What an image file's header claims, read before any decoder sees the file. Only JPEG, PNG and
// BMP are decoded: OpenCV's imread picks its decoder from the content, not the name, so without
// this check a file named .png could reach any of the codecs OpenCV was built with (TIFF,
// OpenEXR, JPEG 2000, ...). And a decoder allocates the whole image its header claims before
// reading the pixels: a 645-byte JPEG claiming 30000 x 30000 took 2.7 GB and a minute.
struct ImageHeader {
  std::string format;  // "JPEG", "PNG" or "BMP"
  int64_t width = 0, height = 0;
};

// The most pixels an image file may claim: 2^27 (e.g. 16384 x 8192, 384 MiB decoded as RGB).
constexpr int64_t kMaxImagePixels = int64_t(1) << 27;

class HeaderReader {
 public:
  explicit HeaderReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw Error("cannot open image " + path);
  }
  // Up to `n` bytes at byte `at`: how many there were.
  int64_t readSome(int64_t at, uint8_t* out, int64_t n) {
    in_.clear();
    in_.seekg(at);
    in_.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(n));
    return in_.gcount();
  }
  // `n` bytes at byte `at`; false when the file ends first.
  bool read(int64_t at, uint8_t* out, int64_t n) { return readSome(at, out, n) == n; }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("cannot decode image " + path_ + ": " + what);
  }

 private:
  std::string path_;
  std::ifstream in_;
};

uint32_t headerBigEndian(const uint8_t* b, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | b[i];
  return v;
}

uint32_t headerLittleEndian(const uint8_t* b, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

// Start-of-frame markers (baseline, progressive, lossless, arithmetic): not C4 (DHT), C8 (JPG
// extension), CC (DAC).
bool isStartOfFrame(uint8_t m) { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC; }

ImageHeader jpegHeader(HeaderReader& r) {
  int64_t at = 2;  // after SOI (FF D8)
  uint8_t b[7];
  for (;;) {
    if (!r.read(at, b, 2)) r.fail("the JPEG ends before its frame header");
    if (b[0] != 0xFF) r.fail("damaged JPEG: no marker at byte " + std::to_string(at));
    if (b[1] == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    const uint8_t marker = b[1];
    at += 2;
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    if (marker == 0xD8 || marker == 0xD9 || marker == 0xDA)
      r.fail("damaged JPEG: no frame header before byte " + std::to_string(at - 2));
    if (!r.read(at, b, 2)) r.fail("the JPEG ends before its frame header");
    const int64_t length = headerBigEndian(b, 2);
    if (length < 2) r.fail("damaged JPEG: a segment of length " + std::to_string(length) + " at byte " + std::to_string(at));
    if (isStartOfFrame(marker)) {
      if (length < 8 || !r.read(at + 2, b, 5)) r.fail("damaged JPEG: its frame header is cut short");
      ImageHeader h;
      h.format = "JPEG";
      h.height = headerBigEndian(b + 1, 2);
      h.width = headerBigEndian(b + 3, 2);
      return h;
    }
    at += length;
  }
}

ImageHeader pngHeader(HeaderReader& r) {
  uint8_t b[16];
  if (!r.read(8, b, 16)) r.fail("the PNG ends before its header (IHDR)");
  if (headerBigEndian(b + 4, 4) != 0x49484452u) r.fail("damaged PNG: the first chunk is not IHDR");
  ImageHeader h;
  h.format = "PNG";
  h.width = headerBigEndian(b + 8, 4);
  h.height = headerBigEndian(b + 12, 4);
  return h;
}

ImageHeader bmpHeader(HeaderReader& r) {
  uint8_t b[12];
  if (!r.read(14, b, 12)) r.fail("the BMP ends before its header");
  ImageHeader h;
  h.format = "BMP";
  if (headerLittleEndian(b, 4) == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
    h.width = headerLittleEndian(b + 4, 2);
    h.height = headerLittleEndian(b + 6, 2);
  } else {  // BITMAPINFOHEADER and later: signed 32-bit sizes (height < 0: top-down rows)
    h.width = static_cast<int32_t>(headerLittleEndian(b + 4, 4));
    h.height = static_cast<int32_t>(headerLittleEndian(b + 8, 4));
    if (h.width < 0) h.width = -h.width;
    if (h.height < 0) h.height = -h.height;
  }
  return h;
}

std::string headerFirstBytes(const uint8_t* b, int64_t n) {
  std::string s;
  for (int64_t i = 0; i < n; ++i) {
    char hex[4];
    std::snprintf(hex, sizeof hex, "%s%02x", i ? " " : "", b[i]);
    s += hex;
  }
  return s;
}

// Reads the format and the size from the first bytes of `path` (for a JPEG, the markers up to
// its frame header). Throws pretext::Error naming the file when it is not a JPEG, PNG or BMP,
// the header is cut short or damaged, or it claims 0 pixels or more than kMaxImagePixels.
ImageHeader readImageHeader(const std::string& path) {
  HeaderReader r(path);
  uint8_t magic[8] = {};
  const int64_t got = r.readSome(0, magic, 8);
  ImageHeader h;
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF) {
    h = jpegHeader(r);
  } else if (got == 8 && std::equal(magic, magic + 8, kPng)) {
    h = pngHeader(r);
  } else if (got >= 2 && magic[0] == 'B' && magic[1] == 'M') {
    h = bmpHeader(r);
  } else {
    r.fail(got == 0 ? "the file is empty"
                    : "not a JPEG, PNG or BMP file (it starts with " + headerFirstBytes(magic, got) + ")");
  }
  if (h.width < 1 || h.height < 1) {
    r.fail("its " + h.format + " header claims an image of " + std::to_string(h.width) + " x " +
           std::to_string(h.height) + " pixels");
  }
  if (h.width > kMaxImagePixels || h.height > kMaxImagePixels || h.width * h.height > kMaxImagePixels) {
    r.fail("its " + h.format + " header claims " + std::to_string(h.width) + " x " +
           std::to_string(h.height) + " pixels, more than the " +
           std::to_string(kMaxImagePixels >> 20) + " megapixels Pretext decodes");
  }
  return h;
}

// Decodes `path` as RGB 8-bit, 3 channels. With `minShorter` > 0, a JPEG is decoded at the
// smallest reduced scale (1/8, 1/4, 1/2) whose shorter side is still >= minShorter: libjpeg
// decodes at reduced scale much faster (wallpapers are 4K). The header is checked first
// (readImageHeader): JPEG, PNG or BMP only, and no more pixels than kMaxImagePixels.
cv::Mat decodeRgb(const std::string& path, int minShorter = 0) {
  readImageHeader(path);
  cv::Mat bgr;
  try {
    if (minShorter > 0 && hasExtension(path, {".jpg", ".jpeg"})) {
      for (int flag :
           {cv::IMREAD_REDUCED_COLOR_8, cv::IMREAD_REDUCED_COLOR_4, cv::IMREAD_REDUCED_COLOR_2}) {
        bgr = cv::imread(path, flag);
        if (bgr.empty() || std::min(bgr.cols, bgr.rows) >= minShorter) break;
      }
      if (!bgr.empty() && std::min(bgr.cols, bgr.rows) < minShorter) bgr = cv::Mat();
    }
    if (bgr.empty()) bgr = cv::imread(path, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw Error("cannot decode image " + path + " (expected a JPEG, PNG or BMP file): " + e.what());
  }
  if (bgr.empty()) {
    throw Error("cannot decode image " + path + " (expected a JPEG, PNG or BMP file)");
  }
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

// The centre square of the image (its shorter side), resized to size x size (INTER_AREA when
// shrinking). Cropping first keeps a long thin image (1 x 1000000 pixels) from being enlarged
// whole to size x (1000000 x size) before the crop.
cv::Mat resizeCenterCrop(const cv::Mat& img, int size) {
  const int side = std::min(img.cols, img.rows);
  const cv::Mat square = img(cv::Rect((img.cols - side) / 2, (img.rows - side) / 2, side, side));
  cv::Mat resized;
  cv::resize(square, resized, cv::Size(size, size), 0, 0, side > size ? cv::INTER_AREA : cv::INTER_LINEAR);
  return resized;
}

// Copies an HxWx3 RGB Mat into images[i] (3xHxW).
void storeChw(const cv::Mat& rgb, torch::Tensor& images, int64_t i) {
  cv::Mat m = rgb.isContinuous() ? rgb : rgb.clone();
  auto hwc = torch::from_blob(m.data, {m.rows, m.cols, 3}, torch::kUInt8);
  images[i].copy_(hwc.permute({2, 0, 1}));
}

struct Item {
  std::string path;
  int64_t label;
};

Dataset decodeItems(const std::vector<Item>& items, int size, const std::string& name,
                    const std::vector<std::string>& classNames) {
  Dataset d;
  d.name = name;
  const int64_t n = static_cast<int64_t>(items.size());
  d.images = torch::empty({n, 3, size, size}, torch::kUInt8);
  d.labels = torch::empty({n}, torch::kLong);
  auto* l = d.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    storeChw(resizeCenterCrop(decodeRgb(items[i].path), size), d.images, i);
    l[i] = items[i].label;
  }
  d.classNames = classNames;
  return d;
}

const std::vector<std::string> kFolderExts = {".jpg", ".jpeg", ".png", ".bmp"};

std::vector<Item> classItems(const std::string& dir, const std::vector<std::string>& classes) {
  std::vector<Item> items;
  for (size_t c = 0; c < classes.size(); ++c)
    for (auto& f : imageFiles(joinPath(dir, classes[c]), false, kFolderExts))
      items.push_back({f, int64_t(c)});
  return items;
}

int checkedSize(const DataOptions& options, const std::string& what) {
  if (options.imageSize() < 1 || options.imageSize() > 4096) {
    throw Error(what + ": image size " + std::to_string(options.imageSize()) +
                " is out of range: expected 1..4096");
  }
  return static_cast<int>(options.imageSize());
}

}  // namespace

DataSplits loadImageFolder(const std::string& dir, const DataOptions& options) {
  const std::string what = "folder:" + dir;
  if (dir.empty()) throw Error("folder: no directory given (expected folder:DIR)");
  if (!isDirectory(dir)) throw Error(what + ": " + dir + " is not a directory");
  const int size = checkedSize(options, what);
  std::vector<Item> train, test;
  std::vector<std::string> classes;
  std::string trainDir = joinPath(dir, "train"), testDir = joinPath(dir, "test");
  if (isDirectory(trainDir) && isDirectory(testDir)) {
    classes = subdirectories(trainDir);
    train = classItems(trainDir, classes);
    for (const auto& c : subdirectories(testDir)) {
      if (!std::binary_search(classes.begin(), classes.end(), c)) {
        throw Error(what + ": test class folder " + joinPath(testDir, c) +
                    " has no matching folder in " + trainDir);
      }
    }
    test = classItems(testDir, classes);
  } else {
    // Hold out a deterministic ~10% of each class (at least one image when it has two or more).
    classes = subdirectories(dir);
    for (size_t c = 0; c < classes.size(); ++c) {
      auto files = imageFiles(joinPath(dir, classes[c]), false, kFolderExts);
      const size_t n = files.size();
      size_t held = n >= 2 ? std::max<size_t>(1, (n + 5) / 10) : 0;
      std::vector<size_t> order(n);
      for (size_t i = 0; i < n; ++i) order[i] = i;
      std::mt19937_64 rng(mixSeed(options.seed(), 0x464f4c44ULL + c));
      std::shuffle(order.begin(), order.end(), rng);
      std::vector<bool> isTest(n, false);
      for (size_t i = 0; i < held; ++i) isTest[order[i]] = true;
      for (size_t i = 0; i < n; ++i) (isTest[i] ? test : train).push_back({files[i], int64_t(c)});
    }
  }
  if (classes.empty()) {
    throw Error(what +
                ": no class sub-folders found: expected DIR/<class>/<image>.jpg|png|bmp "
                "(or DIR/train/<class>/... and DIR/test/<class>/...)");
  }
  if (train.empty()) {
    throw Error(what + ": no JPEG/PNG/BMP images found in the class sub-folders of " +
                (isDirectory(trainDir) ? trainDir : dir));
  }
  if (options.limit() > 0) {
    // Keep the first `limit` images in class order would drop whole classes; keep an even share.
    auto keep = [&](std::vector<Item>& items) {
      if (int64_t(items.size()) <= options.limit()) return;
      std::vector<Item> kept;
      double step = double(items.size()) / options.limit();
      for (int64_t i = 0; i < options.limit(); ++i) kept.push_back(items[size_t(i * step)]);
      items.swap(kept);
    };
    keep(train);
    keep(test);
  }
  DataSplits s;
  s.train = decodeItems(train, size, "folder/train", classes);
  s.test = decodeItems(test, size, "folder/test", classes);
  s.trainLabelled = s.train;
  return s;
}

DataSplits loadPhotos(const std::string& dir, const DataOptions& options) {
  const std::string what = "photos:" + dir;
  if (dir.empty()) throw Error("photos: no directory given (expected photos:DIR)");
  if (!isDirectory(dir)) throw Error(what + ": " + dir + " is not a directory");
  const int size = checkedSize(options, what);
  auto files = imageFiles(dir, true, {".jpg", ".jpeg", ".png"});
  if (files.empty()) throw Error(what + ": no .jpg/.jpeg/.png photos found under " + dir);
  int64_t nTrain = options.photoCrops(), nTest = options.photoTestCrops();
  if (nTrain < 1 || nTest < 0) {
    throw Error(what + ": expected at least 1 train crop and 0 or more test crops, got " +
                std::to_string(nTrain) + " and " + std::to_string(nTest));
  }
  if (options.limit() > 0) {
    nTrain = std::min(nTrain, options.limit());
    nTest = std::min(nTest, options.limit());
  }
  // Decode each photo once. The smallest crop is ~0.32 of the shorter side, so photos are
  // shrunk to a shorter side of 4x the output size: crops keep full resolution, memory stays small.
  std::vector<cv::Mat> photos;
  for (const auto& f : files) {
    cv::Mat rgb = decodeRgb(f, 4 * size);
    int shorter = std::min(rgb.cols, rgb.rows);
    if (shorter > 4 * size) {
      double s = 4.0 * size / shorter;
      cv::Mat small;
      cv::resize(rgb, small, cv::Size(), s, s, cv::INTER_AREA);
      rgb = small;
    }
    photos.push_back(rgb);
  }
  auto cut = [&](int64_t n, uint64_t stream, const std::string& name) {
    Dataset d;
    d.name = name;
    d.images = torch::empty({n, 3, size, size}, torch::kUInt8);
    std::mt19937_64 rng(mixSeed(options.seed(), stream));
    std::uniform_int_distribution<size_t> pick(0, photos.size() - 1);
    std::uniform_real_distribution<double> area(0.1, 1.0);
    for (int64_t i = 0; i < n; ++i) {
      const cv::Mat& p = photos[pick(rng)];
      int shorter = std::min(p.cols, p.rows);
      int side = std::max(1, int(std::lround(shorter * std::sqrt(area(rng)))));
      int x = std::uniform_int_distribution<int>(0, p.cols - side)(rng);
      int y = std::uniform_int_distribution<int>(0, p.rows - side)(rng);
      cv::Mat crop;
      cv::resize(p(cv::Rect(x, y, side, side)), crop, cv::Size(size, size), 0, 0,
                 side > size ? cv::INTER_AREA : cv::INTER_LINEAR);
      storeChw(crop, d.images, i);
    }
    return d;
  };
  DataSplits s;
  s.train = cut(nTrain, 0x7472616eULL, "photos/train");
  s.test = cut(nTest, 0x74657374ULL, "photos/test");
  s.trainLabelled = s.train;
  s.trainLabelled.name = "photos/train";
  return s;
}

#endif

}  // namespace pretext::data_detail
