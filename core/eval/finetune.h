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
  PRETEXT_ARG(int64_t, perClass) = 0;      // labelled images per class (> 0: instead of fraction)
  PRETEXT_ARG(int64_t, freezeStages) = 0;  // keep the first N encoder stages fixed
  PRETEXT_ARG(int64_t, epochs) = 20;
  PRETEXT_ARG(int64_t, steps) = 0;         // optimiser steps (> 0: instead of epochs; a few labels
                                           // then still get enough updates)
  PRETEXT_ARG(int64_t, batchSize) = 128;
  PRETEXT_ARG(double, lr) = 1e-3;          // Adam, cosine decay
  PRETEXT_ARG(uint64_t, seed) = 0;
};

// Fine-tuning with few labels (the semi-supervised protocol of the RotNet and SimCLR papers):
// a class-balanced `fraction` (or `perClass` images of each class) of the labelled training
// set trains the encoder (minus its frozen first stages) and a new linear classifier, with flips
// and light crops, for `epochs` (or `steps`); reports the test accuracy. `progress` is called
// with the steps done, the steps in all and the mean loss since the last call: after each epoch,
// or with a step budget after each tenth of it. Modifies `encoder` in place: pass a copy or a model you can discard.
using FinetuneProgress = std::function<void(int64_t stepsDone, int64_t totalSteps, double loss)>;
ProbeResult fineTune(Encoder& encoder, const Dataset& train, const Dataset& test, c10::Device device,
                     const FinetuneOptions& options, const FinetuneProgress& progress = {});

// The indices of a class-balanced subset: round(fraction * N / C) images of each class (at
// least one), chosen with `seed`.
torch::Tensor balancedSubset(const torch::Tensor& labels, int64_t numClasses, double fraction,
                             uint64_t seed);
// The same with `perClass` images of each class (all of a class that has fewer). Throws
// pretext::Error when perClass < 1.
torch::Tensor balancedSubsetPerClass(const torch::Tensor& labels, int64_t numClasses,
                                     int64_t perClass, uint64_t seed);
// The subset fine-tuning uses for these options (perClass when set, else fraction).
torch::Tensor finetuneSubset(const torch::Tensor& labels, int64_t numClasses,
                             const FinetuneOptions& options);

}  // namespace pretext
