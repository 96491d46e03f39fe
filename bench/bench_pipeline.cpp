// Pipeline overhead: what the data + augmentation path costs in a training step.
// Times, for a preset's method, (a) the full step: gather a batch from the uint8 data set,
// augment two views, forward, backward, optimiser; (b) the same step on views prepared
// beforehand (forward, backward, optimiser only); (c) the data + augmentation work alone.
// Prints the medians and the overhead share (a - b) / a.
//   bench_pipeline [PRESET] [STEPS]      (default simclr-fashion 40)
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "core/augment/augment.h"
#include "core/config/experiment.h"
#include "core/data/prefetcher.h"
#include "core/data/sampler.h"
#include "core/methods/simclr.h"
#include "core/train/optim.h"
#include "core/train/trainer.h"

using namespace pretext;
using Clock = std::chrono::steady_clock;

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main(int argc, char** argv) {
  const std::string preset = argc > 1 ? argv[1] : "simclr-fashion";
  const int steps = argc > 2 ? std::atoi(argv[2]) : 40;
  Experiment e = experimentFromJson(loadPresetJson(preset));
  Session s = makeSession(e);
  Method& method = *s.method;
  const AugmentOptions aug = augmentFromJson(e.augment);
  Optimizer opt(method.trainableParameters(), e);
  BatchSampler sampler(s.data.train.size(), e.batchSize, e.seed);
  std::printf("%s: %s, batch %lld, %d threads\n", preset.c_str(), e.method.c_str(),
              (long long)e.batchSize, at::get_num_threads());

  auto timeIt = [](auto&& fn) {
    const auto t0 = Clock::now();
    fn();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  std::vector<double> full, ready, dataOnly;
  std::vector<Batch> cached;
  for (int i = 0; i < steps + 3; ++i) {
    auto gen = at::detail::createCPUGenerator(i);
    StepContext ctx{i, 0, 0.0, &gen, &aug};
    Batch batch;
    // (a) the full step as the trainer runs it (synchronous gather: no prefetch overlap, so
    // this is an upper bound on the overhead).
    const double a = timeIt([&] {
      batch = gatherBatch(s.data.train, sampler.indices(0, i % sampler.batchesPerEpoch()), s.device);
      opt.zeroGrad();
      auto r = method.step(batch, ctx);
      r.loss.backward();
      opt.step();
    });
    // (c) data + augmentation alone (the views a SimCLR step makes).
    auto gen2 = at::detail::createCPUGenerator(i);
    torch::Tensor v1, v2;
    const double c = timeIt([&] {
      auto b = gatherBatch(s.data.train, sampler.indices(0, i % sampler.batchesPerEpoch()), s.device);
      v1 = augmentBatch(b.images, aug, gen2);
      v2 = augmentBatch(b.images, aug, gen2);
    });
    // (b) the step on ready-made views: the identity augmentation, same model and loss work.
    AugmentOptions none;
    StepContext ctxNone{i, 0, 0.0, &gen, &none};
    Batch views;
    views.images = v1;
    views.labels = batch.labels;
    const double b = timeIt([&] {
      opt.zeroGrad();
      auto r = method.step(views, ctxNone);
      r.loss.backward();
      opt.step();
    });
    if (i >= 3) {
      full.push_back(a);
      ready.push_back(b);
      dataOnly.push_back(c);
    }
  }
  const double a = median(full), b = median(ready), c = median(dataOnly);
  std::printf("full step          %8.1f ms  (%.0f img/s)\n", a, e.batchSize * 1000.0 / a);
  std::printf("ready-made tensors %8.1f ms\n", b);
  std::printf("data + augment     %8.1f ms\n", c);
  std::printf("overhead (full - ready) / full = %.1f%%   data+augment / full = %.1f%%\n",
              100.0 * (a - b) / a, 100.0 * c / a);
  return 0;
}
