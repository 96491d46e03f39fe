#pragma once
// Internal helpers shared by the eval sources (not part of the public API).
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace pretext::detail {

// Throws pretext::Error unless `features` is a non-empty 2-D floating tensor.
void checkFeatures(const char* what, const char* name, const torch::Tensor& features);

// Throws pretext::Error unless `labels` is an integer vector with one entry per feature row
// and every value in 0..numClasses-1.
void checkLabels(const char* what, const char* name, const torch::Tensor& features,
                 const torch::Tensor& labels, int64_t numClasses);

// Both splits' features and labels, and that train and test features have one dimension.
void checkProbeInputs(const char* what, const torch::Tensor& trainFeatures,
                      const torch::Tensor& trainLabels, const torch::Tensor& testFeatures,
                      const torch::Tensor& testLabels, int64_t numClasses);

}  // namespace pretext::detail
