#pragma once
// Video clips: short runs of frames, from a video file (`video:FILE`, decoded by OpenCV's
// VideoCapture) or from the built-in synthetic source `moving-fashion` (Fashion-MNIST items in
// random colours moving, turning and occluding each other over crops of the built-in photos, with
// a ground-truth mask per object per frame).
//
// Two forms of the same clips:
// - `Clips` (this header): frames [N,T,3,H,W] plus, for the synthetic source, masks [N,T,H,W].
//   The tracking benchmark and the method's pictures use it.
// - A `Dataset` (dataset.h) whose rows are clips with their frames stacked along the channels,
//   images [N,T*3,H,W] and Dataset::frames = T, so the trainer, the sampler, the prefetcher and
//   the checkpoints handle clips exactly like images. `loadData("video:FILE")` and
//   `loadData("moving-fashion")` return this form; `unpackClips` turns a batch back into frames.
#include <torch/types.h>

#include <cstdint>
#include <string>

#include "core/data/dataset.h"
#include "core/util/options.h"

namespace pretext {

struct Clips {
  std::string name;      // "moving-fashion/train", "video:FILE/test"
  torch::Tensor frames;  // uint8 [N,T,3,H,W], RGB
  torch::Tensor masks;   // uint8 [N,T,H,W]: 0 = background, k = object k's visible pixels;
                         // undefined for a real video
  int64_t objects = 0;   // objects per clip (labels 1..objects), 0 without masks

  int64_t size() const { return frames.defined() ? frames.size(0) : 0; }
  int64_t length() const { return frames.size(1); }
  bool hasMasks() const { return masks.defined(); }
};

struct ClipSplits {
  Clips train, test;
};

struct MovingFashionOptions {
  PRETEXT_ARG(int64_t, clips) = 2000;   // how many clips
  PRETEXT_ARG(int64_t, frames) = 4;     // frames per clip (T)
  PRETEXT_ARG(int64_t, stride) = 1;     // time between kept frames, in rendered frames
  PRETEXT_ARG(int64_t, size) = 64;      // frames are size x size
  PRETEXT_ARG(int64_t, objects) = 3;    // items per clip, drawn back to front
  PRETEXT_ARG(double, itemScale) = 0.45;  // an item's side as a share of the frame's
  PRETEXT_ARG(double, maxSpeed) = 0.04;   // per frame, as a share of the frame's side
  PRETEXT_ARG(double, maxTurn) = 8;       // degrees per frame
  // The items come from Fashion-MNIST's test split (held out) instead of its train split.
  PRETEXT_ARG(bool, testItems) = false;
  PRETEXT_ARG(uint64_t, seed) = 0;
  PRETEXT_ARG(std::string, itemsDir) = "";   // "" = defaultFashionMnistDir()
  PRETEXT_ARG(std::string, photosDir) = "";  // "" = defaultPhotosDir()
};

// Renders the synthetic clips. Each clip: a photo crop as a still background, then `objects`
// items, each a Fashion-MNIST picture painted in a random saturated colour (its texture kept as
// shading), at a random position, angle and velocity; positions bounce off the frame's edges and
// angles turn at a constant rate. Later items cover earlier ones; the mask holds each pixel's
// front-most item. The same options give the same clips.
Clips movingFashion(const MovingFashionOptions& options);

// Every frame of a video file, RGB, each resized so its shorter side is `size` and centre-cropped
// to size x size: uint8 [F,3,size,size]. At most `maxFrames` are read (0 = all). Throws
// pretext::Error naming the file when it is missing, is not a video OpenCV can open, has no
// frames, or holds fewer frames than its header lists (truncated).
torch::Tensor readVideoFrames(const std::string& path, int64_t size, int64_t maxFrames = 0);

// The clips of T frames `stride` apart that fit in `frames` [F,3,H,W], starting at every frame
// (clip i = frames i, i+stride, ..., i+(T-1)*stride). Throws when not even one fits.
Clips clipsOfFrames(const torch::Tensor& frames, int64_t T, int64_t stride, const std::string& name);

// A video file as train/test clips: the first 90% of its frames give the training clips, the
// rest the test clips (when too short for one test clip: the last training clip).
ClipSplits loadVideoClips(const std::string& path, const DataOptions& options);

// The Dataset form (frames stacked along the channels, Dataset::frames = T) and back:
// images [N,T*C,H,W] -> [N,T,C,H,W] (a view).
Dataset clipsAsDataset(const Clips& clips);
torch::Tensor unpackClips(const torch::Tensor& images, int64_t frames);

// The DataSplits of the clip sources (loadData calls these): video:FILE and moving-fashion
// (train clips from the train items and one seed stream, test clips from the test items and
// another). Both are unlabelled.
DataSplits loadVideoData(const std::string& path, const DataOptions& options);
DataSplits loadMovingFashionData(const DataOptions& options);

}  // namespace pretext
