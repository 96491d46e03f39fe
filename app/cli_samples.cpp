#include "app/cli_samples.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "core/eval/sample_quality.h"
#include "core/train/trainer.h"
#include "core/util/error.h"

namespace pretext {

using json = nlohmann::json;

namespace {

// The first 64 images (float [N,C,H,W] in [0,1]) as an 8x8 grid with 2-pixel gaps: binary PGM
// for gray images, PPM for colour (any image viewer, or ImageMagick's convert, opens them).
void writeGrid(const torch::Tensor& images, const std::string& path) {
  const int64_t n = std::min<int64_t>(64, images.size(0)), c = images.size(1);
  const int64_t h = images.size(2), w = images.size(3), cols = 8, rows = (n + cols - 1) / cols;
  const int64_t gap = 2, H = rows * (h + gap) + gap, W = cols * (w + gap) + gap;
  auto canvas = torch::full({c, H, W}, 0.5f);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = gap + (i / cols) * (h + gap), x = gap + (i % cols) * (w + gap);
    canvas.slice(1, y, y + h).slice(2, x, x + w).copy_(images[i].to(torch::kFloat));
  }
  auto bytes = (canvas.clamp(0, 1) * 255).round().to(torch::kByte).permute({1, 2, 0}).contiguous();
  std::ofstream out(path, std::ios::binary);
  out << (c == 1 ? "P5" : "P6") << "\n" << W << " " << H << "\n255\n";
  out.write(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), bytes.numel());
  if (!out) throw Error(path + ": cannot write the grid (disk full or no permission?)");
}

}  // namespace

int cmdSampleQuality(const SampleQualityArgs& a) {
  if (a.classifier.empty())
    throw Error("sample-quality: --classifier DIR is required: a run of a method trained on the "
                "labels, e.g. resources/examples/supervised-fashion or a run of "
                "--preset supervised-fashion");
  if (a.real == !a.run.empty())
    throw Error("sample-quality: give a generative run (RUN) or --real (real training images, "
                "the floor), not both");
  if (a.samples < 2) throw Error("sample-quality: --samples must be at least 2");
  if (a.coverage < 1 || a.coverage > a.samples)
    throw Error("sample-quality: --coverage must be between 1 and --samples (" +
                std::to_string(a.samples) + ")");
  const auto t0 = std::chrono::steady_clock::now();
  Session cls = loadRunSession(a.classifier);
  cls.method->eval();
  const Dataset& test = cls.data.test;
  if (!test.labelled() || test.numClasses() < 1)
    throw Error(a.classifier + ": its data (" + cls.experiment.data + ") has no labelled test set");
  auto features = [&](const torch::Tensor& x) { return cls.method->features(x); };
  auto logits = [&](const torch::Tensor& x) { return cls.method->classLogits(x); };
  {
    torch::NoGradGuard ng;
    auto probe = test.images.slice(0, 0, 2).to(cls.device).to(torch::kFloat) / 255.0;
    if (!logits(probe).defined())
      throw Error(a.classifier + ": its method (" + cls.experiment.method +
                  ") has no classifier of its own; use a run trained on the labels, e.g. "
                  "pretext-cli train --preset supervised-fashion");
  }
  const int64_t c = test.channels(), h = test.height(), w = test.width();
  auto gen = at::detail::createCPUGenerator(a.seed);
  torch::Tensor images;
  std::string what;
  if (a.real) {
    const Dataset& train = cls.data.train;
    if (a.samples > train.size())
      throw Error("sample-quality --real: --samples " + std::to_string(a.samples) + " but " +
                  cls.experiment.data + " has " + std::to_string(train.size()) + " training images");
    auto idx = torch::randperm(train.size(), gen).slice(0, 0, a.samples);
    images = train.images.index_select(0, idx).to(torch::kFloat) / 255.0;
    what = std::to_string(a.samples) + " real training images of " + cls.experiment.data;
  } else {
    Session g = loadRunSession(a.run);
    g.method->eval();
    images = g.method->sample(a.samples, gen);
    if (!images.defined())
      throw Error(a.run + ": its method (" + g.experiment.method +
                  ") does not generate images; sample-quality measures a generative run (dcgan)");
    if (images.size(1) != c || images.size(2) != h || images.size(3) != w)
      throw Error(a.run + ": its samples are " + std::to_string(images.size(1)) + "x" +
                  std::to_string(images.size(2)) + "x" + std::to_string(images.size(3)) +
                  " but the classifier's images are " + std::to_string(c) + "x" +
                  std::to_string(h) + "x" + std::to_string(w));
    what = std::to_string(a.samples) + " samples of " + a.run;
  }
  if (!a.grid.empty()) writeGrid(images, a.grid);
  auto real = classifierView(features, logits, test.images, cls.device);
  auto gen_ = classifierView(features, logits, images, cls.device);
  const double fd = frechetDistance(gen_.features, real.features);
  const auto cov = classCoverage(gen_.predictions.slice(0, 0, a.coverage), test.numClasses());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (a.asJson) {
    json counts = json::object();
    for (size_t k = 0; k < cov.counts.size(); ++k) counts[test.classNames[k]] = cov.counts[k];
    std::cout << json{{"run", a.real ? json(nullptr) : json(a.run)},
                      {"real", a.real},
                      {"classifier", a.classifier},
                      {"samples", a.samples},
                      {"reference", test.name},
                      {"reference_images", test.size()},
                      {"feature_dim", real.features.size(1)},
                      {"frechet_distance", fd},
                      {"coverage_samples", a.coverage},
                      {"classes_found", cov.classesFound},
                      {"classes", test.numClasses()},
                      {"class_entropy", cov.entropy},
                      {"class_entropy_max", cov.maxEntropy},
                      {"class_counts", counts},
                      {"seconds", seconds}}
                     .dump()
              << "\n";
    return 0;
  }
  char line[400];
  std::printf("%s against the %lld test images of %s, in the %lld-d features of %s:\n",
              what.c_str(), static_cast<long long>(test.size()), cls.experiment.data.c_str(),
              static_cast<long long>(real.features.size(1)), a.classifier.c_str());
  std::snprintf(line, sizeof line, "  Frechet distance  %.3f\n", fd);
  std::cout << line;
  std::snprintf(line, sizeof line,
                "  classes found     %lld / %lld among the first %lld (entropy %.3f of %.3f nats)\n",
                static_cast<long long>(cov.classesFound), static_cast<long long>(test.numClasses()),
                static_cast<long long>(a.coverage), cov.entropy, cov.maxEntropy);
  std::cout << line << "  class counts     ";
  for (size_t k = 0; k < cov.counts.size(); ++k)
    std::cout << " " << test.classNames[k] << " " << cov.counts[k];
  std::cout << "\n";
  return 0;
}

}  // namespace pretext
