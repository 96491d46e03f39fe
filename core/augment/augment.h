#pragma once
#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/util/options.h"

namespace pretext {

// All augmentations of the SimCLR paper's figure, as batched tensor ops on the batch's own
// device with per-sample random parameters (no per-image loops). Probabilities are per sample.
// A strength of 0 / probability of 0 leaves the image untouched.
struct AugmentOptions {
  // Output size (square); 0 keeps the input size.
  PRETEXT_ARG(int64_t, size) = 0;
  // Random resized crop: area fraction and aspect-ratio range; prob 0 = no crop.
  PRETEXT_ARG(double, cropProb) = 0.0;
  PRETEXT_ARG(double, cropScaleMin) = 0.08;
  PRETEXT_ARG(double, cropScaleMax) = 1.0;
  PRETEXT_ARG(double, cropRatioMin) = 3.0 / 4.0;
  PRETEXT_ARG(double, cropRatioMax) = 4.0 / 3.0;
  PRETEXT_ARG(double, flipProb) = 0.0;            // horizontal flip
  // Colour jitter (torchvision semantics: factor drawn uniformly in [1-s, 1+s], hue in [-h, h]),
  // applied with probability jitterProb, in random order per batch.
  PRETEXT_ARG(double, jitterProb) = 0.0;
  PRETEXT_ARG(double, brightness) = 0.0;
  PRETEXT_ARG(double, contrast) = 0.0;
  PRETEXT_ARG(double, saturation) = 0.0;
  PRETEXT_ARG(double, hue) = 0.0;
  PRETEXT_ARG(double, grayscaleProb) = 0.0;
  // Gaussian blur with sigma uniform in [blurSigmaMin, blurSigmaMax] (pixels), kernel ~10% of size.
  PRETEXT_ARG(double, blurProb) = 0.0;
  PRETEXT_ARG(double, blurSigmaMin) = 0.1;
  PRETEXT_ARG(double, blurSigmaMax) = 2.0;
  PRETEXT_ARG(double, solarizeProb) = 0.0;
  PRETEXT_ARG(double, solarizeThreshold) = 0.5;
  // Rotation by a random angle in [-rotateDegrees, rotateDegrees] with probability rotateProb.
  PRETEXT_ARG(double, rotateProb) = 0.0;
  PRETEXT_ARG(double, rotateDegrees) = 0.0;
  // Cutout: a square of side cutoutSize*size set to 0.5 (grey).
  PRETEXT_ARG(double, cutoutProb) = 0.0;
  PRETEXT_ARG(double, cutoutSize) = 0.25;
  PRETEXT_ARG(double, noiseStd) = 0.0;            // additive Gaussian noise, then clamp
  PRETEXT_ARG(bool, sobel) = false;               // replace by Sobel gradient magnitudes (dx,dy)


 public:
  // Throws pretext::Error naming the bad field and the accepted range.
 public:  // PRETEXT_ARG leaves the access at private
  void validate() const;
};

// Named presets: "none", "weak" (crop 0.6-1 + flip), "simclr" (full SimCLR recipe),
// "simclr-gray" (SimCLR recipe for small grayscale data such as Fashion-MNIST: crop 0.2-1,
// flip, brightness/contrast jitter; no blur, which barely matters at 28x28),
// "byol-asym-1" / "byol-asym-2" (the asymmetric pair: blur 1.0/0.1, solarize 0/0.2, otherwise
// simclr), "rotation" (light views for the rotation pretext task: crop 0.8-1 + flip).
// Geometric ops resample with reflection padding (no black corners after rotation).
AugmentOptions augmentPreset(const std::string& name, int64_t size = 0);
std::vector<std::string> augmentPresetNames();

// JSON: {"preset": "simclr", "<field>": value, ...}; fields override the preset. Field names
// are snake_case versions of the options (crop_scale_min, flip_prob, ...). A "size" field
// overrides the `size` argument. Unknown fields, wrong types and invalid values throw
// pretext::Error naming "augment.<field>".
AugmentOptions augmentFromJson(const nlohmann::json& j, int64_t size = 0);
nlohmann::json augmentToJson(const AugmentOptions& options);

// Applies the augmentations to a float batch in [0,1] [B,C,H,W] on any device. All random
// draws come from `gen` (a CPU generator; the few per-sample parameters are moved to the
// batch's device), so a seed reproduces the views exactly. Output stays in [0,1].
// Order: crop + flip + rotation (one grid_sample) -> colour jitter -> grayscale -> blur ->
// solarize -> cutout -> noise -> Sobel. With nothing to do it returns `images` itself.
torch::Tensor augmentBatch(const torch::Tensor& images, const AugmentOptions& options,
                           torch::Generator& gen);

// The individual ops, exposed for tests and previews. `params` tensors are per sample [B].
torch::Tensor randomResizedCrop(const torch::Tensor& x, int64_t outSize, double scaleMin,
                                double scaleMax, double ratioMin, double ratioMax, double prob,
                                torch::Generator& gen);
torch::Tensor horizontalFlip(const torch::Tensor& x, const torch::Tensor& mask);  // mask bool [B]
torch::Tensor rotateQuarter(const torch::Tensor& x, const torch::Tensor& k);       // k int64 [B] in 0..3
torch::Tensor toGrayscale(const torch::Tensor& x);                                 // keeps C
torch::Tensor sobelFilter(const torch::Tensor& x);                                 // [B,2,H,W]
// Sobel output: channel 0 = d/dx (positive when brightness grows to the right), channel 1 =
// d/dy (positive downwards), of the ITU-R 601 luma with replicate padding, mapped from the
// kernel's range [-4, 4] into [0, 1] as 0.5 + g / 8 (0.5 = flat).

// Gaussian blur with a per-sample sigma (pixels, float [B], > 0), separable, reflect padding,
// odd kernel of about 10% of the smaller image side (at least 3 taps).
torch::Tensor gaussianBlur(const torch::Tensor& x, const torch::Tensor& sigma);
int64_t blurKernelSize(int64_t height, int64_t width);
// x >= threshold -> 1 - x, for the samples where mask (bool [B]) is true.
torch::Tensor solarize(const torch::Tensor& x, double threshold, const torch::Tensor& mask);
// Batched RGB <-> HSV on [B,3,H,W] in [0,1] (hue in [0,1), as torchvision).
torch::Tensor rgbToHsv(const torch::Tensor& x);
torch::Tensor hsvToRgb(const torch::Tensor& x);
// Hue rotation of an RGB batch by shift[b] turns (float [B], torchvision's adjust_hue).
torch::Tensor adjustHue(const torch::Tensor& x, const torch::Tensor& shift);

bool operator==(const AugmentOptions& a, const AugmentOptions& b);
inline bool operator!=(const AugmentOptions& a, const AugmentOptions& b) { return !(a == b); }

}  // namespace pretext
