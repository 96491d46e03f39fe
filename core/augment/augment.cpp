// The augmentation pipeline (augmentBatch) and option validation.
#include "core/augment/augment.h"

#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "core/augment/augment_internal.h"
#include "core/util/error.h"

namespace pretext {
namespace {

std::string formatValue(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

[[noreturn]] void fail(const char* field, double value, const std::string& expected) {
  throw Error(std::string("augment.") + field + " = " + formatValue(value) + ": expected " +
              expected);
}

// The comparisons are written so that NaN fails them.
void checkProb(const char* field, double v) {
  if (!(v >= 0.0 && v <= 1.0)) fail(field, v, "a probability in [0, 1]");
}
void checkNonNegative(const char* field, double v) {
  if (!(v >= 0.0 && std::isfinite(v))) fail(field, v, "a finite value >= 0");
}

}  // namespace

void AugmentOptions::validate() const {
  if (size() < 0) fail("size", double(size()), "a size >= 0 (0 keeps the input size)");
  checkProb("crop_prob", cropProb());
  if (!(cropScaleMin() > 0 && cropScaleMin() <= 1))
    fail("crop_scale_min", cropScaleMin(), "a value in (0, 1]");
  if (!(cropScaleMax() > 0 && cropScaleMax() <= 1))
    fail("crop_scale_max", cropScaleMax(), "a value in (0, 1]");
  if (!(cropScaleMax() >= cropScaleMin()))
    fail("crop_scale_max", cropScaleMax(),
         "a value >= crop_scale_min (" + formatValue(cropScaleMin()) + ")");
  if (!(cropRatioMin() > 0 && std::isfinite(cropRatioMin())))
    fail("crop_ratio_min", cropRatioMin(), "a finite value > 0");
  if (!(cropRatioMax() >= cropRatioMin() && std::isfinite(cropRatioMax())))
    fail("crop_ratio_max", cropRatioMax(),
         "a finite value >= crop_ratio_min (" + formatValue(cropRatioMin()) + ")");
  checkProb("flip_prob", flipProb());
  checkProb("jitter_prob", jitterProb());
  checkNonNegative("brightness", brightness());
  checkNonNegative("contrast", contrast());
  checkNonNegative("saturation", saturation());
  if (!(hue() >= 0 && hue() <= 0.5)) fail("hue", hue(), "a value in [0, 0.5]");
  checkProb("grayscale_prob", grayscaleProb());
  checkProb("blur_prob", blurProb());
  if (!(blurSigmaMin() > 0 && std::isfinite(blurSigmaMin())))
    fail("blur_sigma_min", blurSigmaMin(), "a finite value > 0 (pixels)");
  if (!(blurSigmaMax() >= blurSigmaMin() && std::isfinite(blurSigmaMax())))
    fail("blur_sigma_max", blurSigmaMax(),
         "a finite value >= blur_sigma_min (" + formatValue(blurSigmaMin()) + ")");
  checkProb("solarize_prob", solarizeProb());
  if (!(solarizeThreshold() >= 0 && solarizeThreshold() <= 1))
    fail("solarize_threshold", solarizeThreshold(), "a value in [0, 1]");
  checkProb("rotate_prob", rotateProb());
  if (!(rotateDegrees() >= 0 && rotateDegrees() <= 180))
    fail("rotate_degrees", rotateDegrees(), "an angle in [0, 180] (degrees)");
  checkProb("cutout_prob", cutoutProb());
  if (!(cutoutSize() > 0 && cutoutSize() <= 1))
    fail("cutout_size", cutoutSize(), "a fraction of the image side in (0, 1]");
  checkNonNegative("noise_std", noiseStd());
}

bool operator==(const AugmentOptions& a, const AugmentOptions& b) {
#define PRETEXT_X(field, name) \
  if (!(a.field() == b.field())) return false;
  PRETEXT_AUGMENT_FIELDS(PRETEXT_X)
#undef PRETEXT_X
  return true;
}

// Order: geometry (crop + flip + rotation, one resampling) -> colour jitter -> grayscale ->
// blur -> solarize -> cutout -> noise -> Sobel. Stages with probability/strength 0 cost nothing;
// with every option at its default the input tensor itself is returned.
torch::Tensor augmentBatch(const torch::Tensor& images, const AugmentOptions& options,
                           torch::Generator& gen) {
  detail::checkBatch(images, "augmentBatch");
  options.validate();
  if (gen.device().type() != torch::kCPU)
    throw Error(
        "augmentBatch: expected a CPU generator (per-sample parameters are drawn on "
        "the CPU and moved to the batch's device)");
  torch::NoGradGuard noGrad;
  torch::Tensor x = detail::geometricStage(images, options, gen);
  x = detail::colorJitterStage(x, options, gen);
  x = detail::grayscaleStage(x, options.grayscaleProb(), gen);
  x = detail::blurStage(x, options, gen);
  x = detail::solarizeStage(x, options, gen);
  x = detail::cutoutStage(x, options, gen);
  x = detail::noiseStage(x, options.noiseStd(), gen);
  if (options.sobel()) x = sobelFilter(x);
  return x;
}

}  // namespace pretext
