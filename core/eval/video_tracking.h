#pragma once
// Tracking without labels (Vondrick et al. 2018, section 4): frame 0's segmentation masks are
// carried through a clip by the attention between per-location embeddings, each frame copying
// its labels from the previous frames' predictions the way the colorization network copies
// colours; scored by the region similarity J (intersection over union) of DAVIS. Also the two
// label-free baselines the benchmark runs beside it: copying frame 0's masks, and warping them
// along OpenCV's Farneback optical flow.
#include <torch/types.h>

#include <cstdint>
#include <functional>

#include "core/util/options.h"

namespace pretext {

struct TrackOptions {
  // How many earlier frames each frame copies from (the paper's 3).
  PRETEXT_ARG(int64_t, references) = 3;
  // Softmax temperature of the attention f_i . f_j / T.
  PRETEXT_ARG(double, temperature) = 1;
  // Keep frame 0 (the given masks) among the references, besides the latest frames.
  PRETEXT_ARG(bool, keepFirst) = false;
  // Keep only each location's k largest attention weights, renormalised (0 = all).
  PRETEXT_ARG(int64_t, topK) = 0;
  // Let each location point only at reference locations within this many grid cells (in x and
  // in y) of its own: motion between neighbouring frames is small (0 = anywhere, the paper's).
  PRETEXT_ARG(int64_t, radius) = 0;
};

// One-hot label distributions of label maps: masks [T,H,W] (0 = background, 1..objects) ->
// [T,objects+1,size,size], each cell the share of its pixels with each label (area average).
torch::Tensor labelDistributions(const torch::Tensor& masks, int64_t objects, int64_t size);

// Label propagation: embeddings [T,D,h,w] of a clip's frames and frame 0's label distribution
// [C,h,w] -> the distributions of every frame [T,C,h,w] (frame 0 = the given one). Frame t copies
// from frames max(0,t-references)..t-1 (plus frame 0 with keepFirst):
//   y_t(i) = sum_j A_ij y_ref(j),  A_ij = softmax_j(f_t(i) . f_ref(j) / temperature)
// (over the j within `radius` cells of i when radius > 0; over the top-k j when topK > 0).
torch::Tensor propagateLabels(const torch::Tensor& embeddings, const torch::Tensor& labels0,
                              const TrackOptions& options);

// Distributions [T,C,h,w] -> label maps [T,H,W] uint8: bilinear upsampling, then the argmax.
torch::Tensor labelMaps(const torch::Tensor& distributions, int64_t size);

// J, the mean intersection over union over (object, frame) pairs of frames 1..T-1 in which the
// object shows in the truth (an object hidden in the truth is not scored). pred, truth [T,H,W].
struct Jaccard {
  double sum = 0;
  int64_t count = 0;
  double mean() const { return count ? sum / double(count) : 0; }
  void add(const torch::Tensor& pred, const torch::Tensor& truth, int64_t objects);
};

// Baselines: frame 0's masks for every frame [T,H,W]; and the masks warped frame by frame along
// the Farneback optical flow between consecutive gray frames (frames uint8 [T,3,H,W]), each
// pixel of frame t taking the label at where the backward flow says it came from in frame t-1
// (needs OpenCV; throws otherwise). `window`: Farneback's averaging window in pixels (OpenCV's
// example uses 15; 3 pyramid levels, 3 iterations, polynomial expansion 5 / 1.2).
torch::Tensor copyFirstMasks(const torch::Tensor& masks0, int64_t frames);
torch::Tensor flowPropagateMasks(const torch::Tensor& frames, const torch::Tensor& masks0, int window = 15);

}  // namespace pretext
