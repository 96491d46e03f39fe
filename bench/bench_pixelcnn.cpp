// The likelihood of a trained PixelCNN run in bits per dimension, on its data's test set and on
// (part of) its training set, next to the independent per-pixel baseline: every pixel position
// its own 256-bin histogram of the training images (add-one smoothing), scored on the same
// images (fitPixelHistogram / histogramNll, core/methods/pixelcnn.h). BENCHMARKS.md reports it.
// Usage: bench_pixelcnn RUN_DIR [--train-images N] [--random-init]
//   --train-images: how many training images the model is scored on (default 10000; 0 = all)
//   --random-init:  the same network untrained (its bits/dim start near 8)
// It also times the method's pictures (Method::previews on 16 test images: samples and
// completions drawn pixel by pixel, one pass per pixel).
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/methods/pixelcnn.h"
#include "core/train/run_dir.h"
#include "core/train/trainer.h"
#include "core/util/error.h"

using namespace pretext;

namespace {

// Mean -log p(x) in nats per image of the first `limit` images (0: all) under the model.
double modelNats(Session& s, const Dataset& data, int64_t limit) {
  torch::NoGradGuard ng;
  const int64_t n = limit > 0 ? std::min(limit, data.size()) : data.size();
  double total = 0;
  for (int64_t i = 0; i < n; i += 256) {
    auto x = data.images.slice(0, i, std::min(n, i + 256)).to(s.device).to(torch::kFloat) / 255;
    total += pixelCnnNll(*s.method, x).sum().item<double>();
  }
  return total / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_pixelcnn RUN_DIR [--train-images N] [--random-init]\n");
    return 2;
  }
  const std::string dir = argv[1];
  int64_t trainImages = 10000;
  bool randomInit = false;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--train-images") && i + 1 < argc) trainImages = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--random-init")) randomInit = true;
    else {
      std::fprintf(stderr, "bench_pixelcnn: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  try {
    auto t0 = std::chrono::steady_clock::now();
    Session s = randomInit ? makeSession(RunDirectory::open(dir).experiment()) : loadRunSession(dir);
    s.method->eval();
    const auto& train = s.data.train;
    const auto& test = s.data.test;
    const int64_t dims = train.images[0].numel();
    auto hist = fitPixelHistogram(train.images);
    const double histTest = bitsPerDim(histogramNll(hist, test.images).mean().item<double>(), dims);
    const double histTrain = bitsPerDim(histogramNll(hist, train.images).mean().item<double>(), dims);
    const double modelTest = bitsPerDim(modelNats(s, test, 0), dims);
    const int64_t nTrain = trainImages > 0 ? std::min(trainImages, train.size()) : train.size();
    const double modelTrain = bitsPerDim(modelNats(s, train, nTrain), dims);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("run %s%s (%s, %lld dimensions per image)\n", dir.c_str(),
                randomInit ? " (random init)" : "", train.name.c_str(), static_cast<long long>(dims));
    std::printf("pixelcnn             test %.4f bits/dim (%lld images), train %.4f (first %lld)\n",
                modelTest, static_cast<long long>(test.size()), modelTrain,
                static_cast<long long>(nTrain));
    std::printf("per-pixel histogram  test %.4f bits/dim, train %.4f (fitted on all %lld training "
                "images, add-one smoothing)\n",
                histTest, histTrain, static_cast<long long>(train.size()));
    auto t1 = std::chrono::steady_clock::now();
    auto gen = at::detail::createCPUGenerator(0);
    auto pictures = s.method->previews(
        test.images.slice(0, 0, 16).to(s.device).to(torch::kFloat) / 255, gen, {});
    const double previewSecs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    std::printf("previews: %zu pictures in %.2f s\n", pictures.size(), previewSecs);
    std::printf("%.1f s in all\n", secs + previewSecs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_pixelcnn: %s\n", e.what());
    return 1;
  }
  return 0;
}
