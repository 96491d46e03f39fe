#include "core/eval/finetune.h"

#include <torch/torch.h>

#include <cmath>

#include "core/augment/augment.h"
#include "core/util/error.h"
#include "core/util/seed.h"

namespace pretext {

torch::Tensor balancedSubset(const torch::Tensor& labels, int64_t numClasses, double fraction,
                             uint64_t seed) {
  if (!(fraction > 0 && fraction <= 1))
    throw Error("fine-tuning: fraction = " + std::to_string(fraction) + ": expected a value in (0, 1]");
  const int64_t n = labels.size(0);
  return balancedSubsetPerClass(
      labels, numClasses, std::max<int64_t>(1, std::llround(fraction * double(n) / double(numClasses))),
      seed);
}

torch::Tensor balancedSubsetPerClass(const torch::Tensor& labels, int64_t numClasses,
                                     int64_t perClass, uint64_t seed) {
  if (perClass < 1)
    throw Error("fine-tuning: " + std::to_string(perClass) +
                " labelled images per class: expected at least 1");
  auto gen = at::detail::createCPUGenerator(mixSeed(seed, 99));
  const int64_t n = labels.size(0);
  auto perm = torch::randperm(n, gen, torch::kLong);
  auto shuffled = labels.index_select(0, perm);
  std::vector<torch::Tensor> picks;
  for (int64_t c = 0; c < numClasses; ++c) {
    auto idx = perm.masked_select(shuffled.eq(c));
    picks.push_back(idx.slice(0, 0, std::min(perClass, idx.size(0))));
  }
  return std::get<0>(torch::cat(picks).sort());
}

torch::Tensor finetuneSubset(const torch::Tensor& labels, int64_t numClasses, const FinetuneOptions& o) {
  return o.perClass() > 0 ? balancedSubsetPerClass(labels, numClasses, o.perClass(), o.seed())
                          : balancedSubset(labels, numClasses, o.fraction(), o.seed());
}

ProbeResult fineTune(Encoder& encoder, const Dataset& train, const Dataset& test, c10::Device device,
                     const FinetuneOptions& o, const FinetuneProgress& progress) {
  if (!train.labelled() || !test.labelled()) throw Error("fine-tuning needs labelled train and test sets");
  const int64_t classes = test.numClasses();
  if (o.steps() < 0) throw Error("fine-tuning: " + std::to_string(o.steps()) + " steps: expected at least 1");
  if (o.steps() == 0 && o.epochs() < 1)
    throw Error("fine-tuning: " + std::to_string(o.epochs()) + " epochs: expected at least 1");
  auto subset = finetuneSubset(train.labels, classes, o);
  auto images = train.images.index_select(0, subset);
  auto labels = train.labels.index_select(0, subset);
  const int64_t n = images.size(0);

  torch::manual_seed(o.seed());
  torch::nn::Linear head(encoder.featureDim(), classes);
  head->to(device);
  encoder.to(device);
  std::vector<torch::Tensor> frozen;
  for (int64_t s = 0; s < std::min(o.freezeStages(), encoder.numStages()); ++s)
    for (auto& p : encoder.stageParameters(s)) frozen.push_back(p);
  std::vector<torch::Tensor> params;
  for (auto& p : encoder.parameters()) {
    bool isFrozen = false;
    for (auto& f : frozen) isFrozen |= f.is_same(p);
    p.set_requires_grad(!isFrozen);
    if (!isFrozen) params.push_back(p);
  }
  for (auto& p : head->parameters()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(o.lr()).weight_decay(1e-5));
  const AugmentOptions aug = augmentPreset("weak");
  const int64_t batch = std::min(o.batchSize(), n);
  const int64_t stepsPerEpoch = std::max<int64_t>(1, n / batch);
  const int64_t total = o.steps() > 0 ? o.steps() : o.epochs() * stepsPerEpoch;
  // Progress: after each epoch, or with a step budget after each tenth of it.
  const int64_t reportEvery = o.steps() > 0 ? std::max<int64_t>(1, total / 10) : stepsPerEpoch;
  encoder.train();
  torch::Tensor perm;
  at::Generator gen;
  double lossSum = 0;
  int64_t lossCount = 0;
  for (int64_t step = 0; step < total; ++step) {
    const int64_t epoch = step / stepsPerEpoch, b = step % stepsPerEpoch;
    if (b == 0) {
      gen = at::detail::createCPUGenerator(mixSeed(o.seed(), 1000 + epoch));
      perm = torch::randperm(n, gen, torch::kLong);
    }
    opt.param_groups()[0].options().set_lr(o.lr() * 0.5 * (1 + std::cos(M_PI * double(step) / double(total))));
    auto idx = perm.slice(0, b * batch, (b + 1) * batch);
    auto x = images.index_select(0, idx).to(device).to(torch::kFloat).div_(255);
    auto y = labels.index_select(0, idx).to(device);
    x = augmentBatch(x, aug, gen);
    auto loss = torch::nn::functional::cross_entropy(head->forward(encoder.forward(x)), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    lossSum += loss.item<double>();
    ++lossCount;
    if ((step + 1) % reportEvery == 0 || step + 1 == total) {
      if (progress) progress(step + 1, total, lossSum / double(lossCount));
      lossSum = 0;
      lossCount = 0;
    }
  }
  for (auto& p : encoder.parameters()) p.set_requires_grad(true);
  encoder.eval();
  head->eval();
  auto logits = extractFeatures([&](const torch::Tensor& x) { return head->forward(encoder.forward(x)); },
                                test, device);
  ProbeResult r;
  r.predictions = logits.argmax(1);
  r.top1 = 100.0 * r.predictions.eq(test.labels).to(torch::kDouble).mean().item<double>();
  r.confusion = torch::zeros({classes, classes}, torch::kLong);
  r.confusion.view(-1).index_add_(0, test.labels * classes + r.predictions,
                                  torch::ones_like(r.predictions));
  return r;
}

}  // namespace pretext
