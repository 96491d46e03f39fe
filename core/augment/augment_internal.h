#pragma once
// Internal helpers of the augmentation layer, shared by geometric.cpp, photometric.cpp,
// augment.cpp and presets.cpp. Not part of the public API.
#include <torch/types.h>

#include <cstdint>

#include "core/augment/augment.h"

// Every AugmentOptions field with its snake_case JSON name, in declaration order.
#define PRETEXT_AUGMENT_FIELDS(X)            \
  X(size, "size")                            \
  X(cropProb, "crop_prob")                   \
  X(cropScaleMin, "crop_scale_min")          \
  X(cropScaleMax, "crop_scale_max")          \
  X(cropRatioMin, "crop_ratio_min")          \
  X(cropRatioMax, "crop_ratio_max")          \
  X(flipProb, "flip_prob")                   \
  X(jitterProb, "jitter_prob")               \
  X(brightness, "brightness")                \
  X(contrast, "contrast")                    \
  X(saturation, "saturation")                \
  X(hue, "hue")                              \
  X(grayscaleProb, "grayscale_prob")         \
  X(blurProb, "blur_prob")                   \
  X(blurSigmaMin, "blur_sigma_min")          \
  X(blurSigmaMax, "blur_sigma_max")          \
  X(solarizeProb, "solarize_prob")           \
  X(solarizeThreshold, "solarize_threshold") \
  X(rotateProb, "rotate_prob")               \
  X(rotateDegrees, "rotate_degrees")         \
  X(cutoutProb, "cutout_prob")               \
  X(cutoutSize, "cutout_size")               \
  X(noiseStd, "noise_std")                   \
  X(sobel, "sobel")

namespace pretext::detail {

// Throws pretext::Error unless x is a floating [B,C,H,W] batch with C == 1 or 3.
void checkBatch(const torch::Tensor& x, const char* where);

// Per-sample random draws, always on the CPU from `gen` (float64).
torch::Tensor randUniform(torch::Generator& gen, torch::IntArrayRef shape, double lo, double hi);
torch::Tensor randMask(torch::Generator& gen, int64_t n, double prob);  // bool [n]

// Crop boxes in continuous pixel coordinates of the input: centre (cx, cy) and size (w, h).
struct CropBoxes {
  torch::Tensor cx, cy, w, h;  // float64 [B] on the CPU
};
CropBoxes sampleCropBoxes(int64_t batch, int64_t height, int64_t width, double scaleMin,
                          double scaleMax, double ratioMin, double ratioMax, double prob,
                          torch::Generator& gen);
CropBoxes fullBoxes(int64_t batch, int64_t height, int64_t width);

// One affine resampling: crop box -> (optional) horizontal flip (sign -1/+1 [B]) ->
// (optional) rotation by `angle` radians [B] about the box centre -> outH x outW output.
// Undefined flipSign / angle tensors mean "none".
torch::Tensor affineResample(const torch::Tensor& x, int64_t outH, int64_t outW,
                             const CropBoxes& boxes, const torch::Tensor& flipSign,
                             const torch::Tensor& angle);

// The stages of augmentBatch; each returns its input untouched when it has nothing to do.
torch::Tensor geometricStage(const torch::Tensor& x, const AugmentOptions& o,
                             torch::Generator& gen);
torch::Tensor colorJitterStage(const torch::Tensor& x, const AugmentOptions& o,
                               torch::Generator& gen);
torch::Tensor grayscaleStage(const torch::Tensor& x, double prob, torch::Generator& gen);
torch::Tensor blurStage(const torch::Tensor& x, const AugmentOptions& o, torch::Generator& gen);
torch::Tensor solarizeStage(const torch::Tensor& x, const AugmentOptions& o, torch::Generator& gen);
torch::Tensor cutoutStage(const torch::Tensor& x, const AugmentOptions& o, torch::Generator& gen);
torch::Tensor noiseStage(const torch::Tensor& x, double std, torch::Generator& gen);

// Moves a per-sample CPU parameter [B] to x's device/dtype, shaped [B,1,1,1] for broadcasting.
torch::Tensor perSample(const torch::Tensor& p, const torch::Tensor& x);

}  // namespace pretext::detail
