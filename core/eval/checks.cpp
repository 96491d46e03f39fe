#include "core/eval/checks.h"

#include <torch/torch.h>

#include <sstream>

#include "core/util/error.h"

namespace pretext::detail {

void checkFeatures(const char* what, const char* name, const torch::Tensor& features) {
  std::ostringstream msg;
  if (!features.defined()) {
    msg << what << ": " << name << " features are missing (undefined tensor)";
    throw Error(msg.str());
  }
  if (features.dim() != 2) {
    msg << what << ": " << name << " features must be 2-D [N,D], got " << features.dim() << "-D "
        << features.sizes();
    throw Error(msg.str());
  }
  if (features.size(0) == 0 || features.size(1) == 0) {
    msg << what << ": " << name << " features are empty " << features.sizes();
    throw Error(msg.str());
  }
  if (!features.is_floating_point()) {
    msg << what << ": " << name << " features must be floating point, got "
        << features.scalar_type();
    throw Error(msg.str());
  }
  if (!torch::isfinite(features).all().item<bool>()) {
    msg << what << ": " << name << " features contain NaN or infinite values";
    throw Error(msg.str());
  }
}

void checkLabels(const char* what, const char* name, const torch::Tensor& features,
                 const torch::Tensor& labels, int64_t numClasses) {
  std::ostringstream msg;
  if (numClasses < 1) {
    msg << what << ": numClasses must be at least 1, got " << numClasses;
    throw Error(msg.str());
  }
  if (!labels.defined()) {
    msg << what << ": " << name << " labels are missing (undefined tensor)";
    throw Error(msg.str());
  }
  if (labels.dim() != 1) {
    msg << what << ": " << name << " labels must be 1-D [N], got " << labels.dim() << "-D "
        << labels.sizes();
    throw Error(msg.str());
  }
  if (labels.is_floating_point() || labels.scalar_type() == torch::kBool || labels.is_complex()) {
    msg << what << ": " << name << " labels must be integers, got " << labels.scalar_type();
    throw Error(msg.str());
  }
  if (labels.size(0) != features.size(0)) {
    msg << what << ": " << name << " features have " << features.size(0) << " rows but "
        << labels.size(0) << " labels";
    throw Error(msg.str());
  }
  if (labels.numel() > 0) {
    const int64_t lo = labels.min().item<int64_t>();
    const int64_t hi = labels.max().item<int64_t>();
    if (lo < 0 || hi >= numClasses) {
      msg << what << ": " << name << " labels must lie in 0.." << numClasses - 1 << ", found "
          << (lo < 0 ? lo : hi);
      throw Error(msg.str());
    }
  }
}

void checkProbeInputs(const char* what, const torch::Tensor& trainFeatures,
                      const torch::Tensor& trainLabels, const torch::Tensor& testFeatures,
                      const torch::Tensor& testLabels, int64_t numClasses) {
  checkFeatures(what, "train", trainFeatures);
  checkFeatures(what, "test", testFeatures);
  if (trainFeatures.size(1) != testFeatures.size(1)) {
    throw Error(std::string(what) + ": train features have dimension " +
                std::to_string(trainFeatures.size(1)) + " but test features have dimension " +
                std::to_string(testFeatures.size(1)));
  }
  checkLabels(what, "train", trainFeatures, trainLabels, numClasses);
  checkLabels(what, "test", testFeatures, testLabels, numClasses);
}

}  // namespace pretext::detail
