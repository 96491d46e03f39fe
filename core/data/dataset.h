#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/util/options.h"

namespace pretext {

// One split of a data set, held in memory: images as one uint8 tensor [N,C,H,W] (CPU,
// contiguous), labels as int64 [N] in 0..numClasses-1 (undefined tensor when unlabelled).
struct Dataset {
  std::string name;        // e.g. "fashion-mnist/train"
  torch::Tensor images;    // uint8 [N,C,H,W]
  torch::Tensor labels;    // int64 [N] or undefined
  std::vector<std::string> classNames;
  // 1 for still images. A clip source (video:FILE, moving-fashion; core/data/video.h) stores
  // each clip as one row with its `frames` frames stacked along the channels: [N,T*3,H,W].
  int64_t frames = 1;

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
  bool labelled() const { return labels.defined() && labels.numel() > 0; }
  int64_t numClasses() const { return static_cast<int64_t>(classNames.size()); }
};

// The data a run uses: `train` feeds the method (for STL-10 this is train+unlabeled when
// asked); `trainLabelled` and `test` feed the evaluation (kNN, linear probe). For unlabelled
// sources (photos:) trainLabelled and test are the train/test crops without labels.
struct DataSplits {
  Dataset train;
  Dataset trainLabelled;
  Dataset test;
};

struct DataOptions {
  // folder: and photos: images are resized (folder) or cropped+resized (photos) to this size.
  PRETEXT_ARG(int64_t, imageSize) = 32;
  // photos: how many random crops to cut for the train and the test split.
  PRETEXT_ARG(int64_t, photoCrops) = 20000;
  PRETEXT_ARG(int64_t, photoTestCrops) = 2000;
  // stl10: also train on the 100k unlabeled images.
  PRETEXT_ARG(bool, stlUnlabeled) = true;
  // Keep at most this many training images (0 = all); used by tests and quick demos.
  PRETEXT_ARG(int64_t, limit) = 0;
  PRETEXT_ARG(uint64_t, seed) = 0;
  // Clip sources (video:FILE, moving-fashion): frames per clip and the step between them.
  PRETEXT_ARG(int64_t, clipFrames) = 4;
  PRETEXT_ARG(int64_t, clipStride) = 1;
  // moving-fashion: how many train and test clips to render.
  PRETEXT_ARG(int64_t, clips) = 2000;
  PRETEXT_ARG(int64_t, testClips) = 200;
  // video:FILE: read at most this many frames (0 = all).
  PRETEXT_ARG(int64_t, maxVideoFrames) = 20000;
};

// Loads a data source by spec string:
//   fashion-mnist                the built-in default (Debian's dataset-fashion-mnist)
//   fashion-mnist:DIR, mnist:DIR IDX files (.gz or raw)
//   cifar10:DIR, cifar100:DIR    the binary versions
//   stl10:DIR                    the binary version (train_X.bin, ...)
//   folder:DIR                   class sub-folders of JPEG/PNG/BMP images
//   photos:DIR                   random crops of every photo under DIR, unlabelled
//   photos                       photos:defaultPhotosDir()
//   video:FILE                   clips of a video file (OpenCV VideoCapture), unlabelled
//   moving-fashion               built-in synthetic video: Fashion-MNIST items moving over photos
// The clip sources return clips stacked along the channels (Dataset::frames; core/data/video.h),
// frames resized to imageSize, clipFrames frames clipStride apart.
// DIR may also be the parent of the official archive's folder (cifar-10-batches-bin,
// cifar-100-binary, stl10_binary). Details:
// - folder: images are always stored as 3-channel RGB (grayscale files are replicated), resized
//   so the shorter side is imageSize and centre-cropped. DIR/train + DIR/test are used when both
//   exist; otherwise ceil-ish 10% of each class (at least 1 when it has 2 or more images) is held
//   out as test, chosen by a generator seeded from options.seed(). With limit, an evenly spaced
//   subset (all classes) is kept.
// - photos: each photo is decoded once and shrunk to a shorter side of 4 x imageSize; a crop is a
//   square of side sqrt(U(0.1, 1)) x the shorter side at a uniform position, resized to imageSize.
//   Train and test crops come from two different seed streams of options.seed().
// - stl10: with stlUnlabeled, train = train + unlabeled in one tensor (unlabelled, labels
//   undefined) and trainLabelled is a view of its first 5000 rows, with labels.
// - limit > 0 keeps the first `limit` images of train and of test.
// Throws pretext::Error naming the file and what was expected.
DataSplits loadData(const std::string& spec, const DataOptions& options = {});

// The side in pixels of a source's images without loading it: 28 for the built-in Fashion-MNIST,
// 32 for cifar10:/cifar100:, 96 for stl10: (their formats fix it); 0 for folder: and photos:,
// which data.image_size sets; -1 where the files say (fashion-mnist:DIR, mnist:DIR: IDX headers)
// or the spec is not a source.
int64_t sourceImageSize(const std::string& spec);

// A one-paragraph human summary (sizes, shape, classes, per-class counts).
std::string describeData(const DataSplits& splits);

// Where the built-in Fashion-MNIST lives (Debian's package).
std::string defaultFashionMnistDir();

// The colour default for `photos` without a directory (Debian's ukui-wallpapers put photos there).
std::string defaultPhotosDir();

}  // namespace pretext
