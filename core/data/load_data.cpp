// Spec parsing (loadData) and the human summary (describeData).
#include <torch/torch.h>

#include <cstdio>
#include <sstream>

#include "core/data/data_io.h"
#include "core/data/dataset.h"
#include "core/data/video.h"
#include "core/util/error.h"

namespace pretext {

std::string defaultFashionMnistDir() { return "/usr/share/datasets/fashion-mnist"; }

std::string defaultPhotosDir() { return "/usr/share/backgrounds"; }

namespace {

const char* kAcceptedForms =
    "expected one of: fashion-mnist (built-in), fashion-mnist:DIR, mnist:DIR, cifar10:DIR, "
    "cifar100:DIR, stl10:DIR, folder:DIR, photos:DIR, photos (= photos:/usr/share/backgrounds), "
    "video:FILE (clips of a video), moving-fashion (built-in synthetic video)";

std::string megabytes(const torch::Tensor& t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB",
                t.defined() ? double(t.numel() * t.element_size()) / (1 << 20) : 0.0);
  return buf;
}

bool sameImages(const Dataset& a, const Dataset& b) {
  return a.images.defined() && b.images.defined() && a.images.data_ptr() == b.images.data_ptr() &&
         a.size() == b.size();
}

}  // namespace

DataSplits loadData(const std::string& spec, const DataOptions& options) {
  using namespace data_detail;
  if (options.limit() < 0) {
    throw Error("data limit " + std::to_string(options.limit()) +
                " is negative: expected 0 (all images) or a positive count");
  }
  auto colon = spec.find(':');
  std::string kind = spec.substr(0, colon);
  std::string dir = colon == std::string::npos ? std::string() : spec.substr(colon + 1);
  bool hasDir = colon != std::string::npos;
  if (kind == "fashion-mnist") {
    if (!hasDir) return loadIdx(defaultFashionMnistDir(), true, true, options);
    return loadIdx(dir, true, false, options);
  }
  if (kind == "photos") return loadPhotos(hasDir ? dir : defaultPhotosDir(), options);
  if (kind == "video" && hasDir) return loadVideoData(dir, options);
  if (spec == "moving-fashion") return loadMovingFashionData(options);
  if (hasDir) {
    if (kind == "mnist") return loadIdx(dir, false, false, options);
    if (kind == "cifar10") return loadCifar10(dir, options);
    if (kind == "cifar100") return loadCifar100(dir, options);
    if (kind == "stl10") return loadStl10(dir, options);
    if (kind == "folder") return loadImageFolder(dir, options);
  }
  throw Error("unknown data source \"" + spec + "\": " + kAcceptedForms);
}

int64_t sourceImageSize(const std::string& spec) {
  const std::string kind = spec.substr(0, spec.find(':'));
  if (spec == "fashion-mnist") return 28;
  if (kind == "cifar10" || kind == "cifar100") return 32;
  if (kind == "stl10") return 96;
  if (kind == "folder" || kind == "photos" || kind == "video" || spec == "moving-fashion") return 0;
  return -1;
}

std::string describeData(const DataSplits& s) {
  std::ostringstream out;
  const Dataset& t = s.train;
  std::string name = t.name.substr(0, t.name.find('/'));
  out << (name.empty() ? "data" : name) << ": ";
  if (t.size() > 0 && t.frames > 1) {
    out << "clips of " << t.frames << " frames of " << t.channels() / t.frames << "x" << t.height() << "x"
        << t.width() << " uint8, ";
  } else if (t.size() > 0) {
    out << t.channels() << "x" << t.height() << "x" << t.width() << " uint8, ";
  }
  out << (t.numClasses() > 0 ? std::to_string(t.numClasses()) + " classes" : "unlabelled") << "\n";
  auto line = [&](const char* label, const Dataset& d, const char* note) {
    out << "  " << label << ": " << d.size() << (d.frames > 1 ? " clips" : " images");
    if (d.labelled()) out << ", labelled";
    out << " (" << (note ? note : megabytes(d.images)) << ")\n";
  };
  line("train", t, nullptr);
  line("train (labelled)", s.trainLabelled,
       sameImages(t, s.trainLabelled) ? "same tensor as train"
       : (s.trainLabelled.images.defined() && t.images.defined() &&
          s.trainLabelled.images.storage().is_alias_of(t.images.storage()))
           ? "a view of train"
           : nullptr);
  line("test", s.test, nullptr);
  const Dataset& labelled = s.trainLabelled.labelled() ? s.trainLabelled : t;
  if (labelled.labelled() && labelled.numClasses() > 0) {
    auto counts = torch::bincount(labelled.labels, {}, labelled.numClasses());
    auto* c = counts.data_ptr<int64_t>();
    out << "  classes (train count):";
    for (int64_t i = 0; i < labelled.numClasses(); ++i) {
      out << (i ? ", " : " ") << labelled.classNames[size_t(i)] << " " << c[i];
      if (i == 19 && labelled.numClasses() > 21) {
        out << ", ... (" << labelled.numClasses() - 20 << " more)";
        break;
      }
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace pretext
