// Times the evaluation probes on this machine with 2 threads:
//   knnClassify: 60,000 x 256 train, 10,000 x 256 test, 10 classes, k=200, T=0.1 (median of 3)
//   linearProbe: 60,000 x 512 train, 10,000 x 512 test, 10 classes (class-dependent means)
// Usage: bench_knn [threads]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/eval/probes.h"

namespace {

double seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Features whose mean depends on the class, plus unit Gaussian noise.
std::pair<torch::Tensor, torch::Tensor> blobs(int64_t n, int64_t dim, int64_t classes,
                                              const torch::Tensor& centres) {
  auto labels = torch::randint(classes, {n}, torch::kLong);
  auto x = centres.index({labels}) + torch::randn({n, dim});
  return {x, labels};
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  at::set_num_threads(threads);
  torch::manual_seed(0);
  const int64_t classes = 10;
  std::printf("threads: %d\n", at::get_num_threads());

  {
    const int64_t dim = 256;
    auto centres = torch::randn({classes, dim}) * 0.3;
    auto [xTrain, yTrain] = blobs(60000, dim, classes, centres);
    auto [xTest, yTest] = blobs(10000, dim, classes, centres);
    for (int64_t chunk : {128, 256, 512, 1024}) {
      std::vector<double> times;
      pretext::ProbeResult r;
      for (int run = 0; run < 3; ++run) {
        auto start = std::chrono::steady_clock::now();
        r = pretext::knnClassify(xTrain, yTrain, xTest, yTest, classes,
                                 pretext::KnnOptions().k(200).temperature(0.1).chunk(chunk));
        times.push_back(seconds(start));
      }
      std::sort(times.begin(), times.end());
      std::printf("knn 60000x10000 d=256 k=200 chunk=%lld: median %.3f s (min %.3f) top1 %.2f%%\n",
                  static_cast<long long>(chunk), times[1], times[0], r.top1);
    }
    // Peer: the bare similarity matmul, the floor for any exact float32 kNN.
    std::vector<double> times;
    for (int run = 0; run < 3; ++run) {
      auto start = std::chrono::steady_clock::now();
      for (int64_t s = 0; s < 10000; s += 1024) {
        auto sim = torch::mm(xTest.slice(0, s, std::min<int64_t>(10000, s + 1024)), xTrain.t());
      }
      times.push_back(seconds(start));
    }
    std::sort(times.begin(), times.end());
    std::printf("  peer: similarity matmul alone: median %.3f s\n", times[1]);
  }
  {
    const int64_t dim = 512;
    auto centres = torch::randn({classes, dim}) * 0.1;
    auto [xTrain, yTrain] = blobs(60000, dim, classes, centres);
    auto [xTest, yTest] = blobs(10000, dim, classes, centres);
    auto start = std::chrono::steady_clock::now();
    auto r = pretext::linearProbe(xTrain, yTrain, xTest, yTest, classes);
    std::printf("linear probe 60000x512, 10 classes: %.3f s, test top1 %.2f%% top5 %.2f%%, "
                "train loss %.6f after %lld evaluations\n",
                seconds(start), r.top1, r.top5, r.trainLoss,
                static_cast<long long>(r.lossEvaluations));
    // Peer: the same problem solved to a much tighter tolerance.
    start = std::chrono::steady_clock::now();
    auto tight = pretext::linearProbe(xTrain, yTrain, xTest, yTest, classes,
                                      pretext::LinearProbeOptions().maxIterations(2000).tolerance(1e-9));
    std::printf("  peer: tolerance 1e-9, 2000 iterations: %.3f s, top1 %.2f%%, train loss %.6f "
                "after %lld evaluations\n",
                seconds(start), tight.top1, tight.trainLoss,
                static_cast<long long>(tight.lossEvaluations));
  }
  return 0;
}
