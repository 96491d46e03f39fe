#pragma once
#include <cstdint>
#include <functional>
#include <memory>

#include "core/data/dataset.h"
#include "core/eval/probes.h"
#include "core/models/backbone.h"
#include "core/util/options.h"

namespace pretext {

struct FinetuneOptions {
  PRETEXT_ARG(double, fraction) = 0.1;     // share of the labelled training images used
  PRETEXT_ARG(int64_t, freezeStages) = 0;  // keep the first N encoder stages fixed
  PRETEXT_ARG(int64_t, epochs) = 20;
  PRETEXT_ARG(int64_t, batchSize) = 128;
  PRETEXT_ARG(double, lr) = 1e-3;          // Adam, cosine decay
  PRETEXT_ARG(uint64_t, seed) = 0;
};

// Fine-tuning with few labels (the semi-supervised protocol of the RotNet and SimCLR papers):
// a class-balanced `fraction` of the labelled training set trains the encoder (minus its
// frozen first stages) and a new linear classifier, with flips and light crops; reports the
// test accuracy. Modifies `encoder` in place: pass a copy or a model you can discard.
ProbeResult fineTune(Encoder& encoder, const Dataset& train, const Dataset& test, c10::Device device,
                     const FinetuneOptions& options,
                     const std::function<void(int64_t epoch, double loss)>& progress = {});

// The indices of a class-balanced subset: round(fraction * N / C) images of each class (at
// least one), chosen with `seed`.
torch::Tensor balancedSubset(const torch::Tensor& labels, int64_t numClasses, double fraction,
                             uint64_t seed);

}  // namespace pretext
