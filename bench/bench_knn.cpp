// Times the evaluation probes on this machine with 2 threads:
//   knnClassify: 60,000 x 256 train, 10,000 x 256 test, 10 classes, k=200, T=0.1 (median of 3)
//   linearProbe: 60,000 x 512 train, 10,000 x 512 test, 10 classes (class-dependent means)
// Usage: bench_knn [threads]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "core/eval/probes.h"

namespace {

// Process CPU seconds (all threads): on a shared machine, wall time depends on the other
// users; CPU time / threads is what the run would take on otherwise idle cores.
double cpuSeconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

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
    const std::pair<int64_t, int64_t> layouts[] = {{1024, 0},   {1024, 2048}, {1024, 4096},
                                                   {512, 4096}, {2048, 4096}, {256, 8192}};
    for (const auto& [chunk, block] : layouts) {
      std::vector<double> times, cpu;
      pretext::ProbeResult r;
      for (int run = 0; run < 3; ++run) {
        auto start = std::chrono::steady_clock::now();
        const double cpu0 = cpuSeconds();
        r = pretext::knnClassify(
            xTrain, yTrain, xTest, yTest, classes,
            pretext::KnnOptions().k(200).temperature(0.1).chunk(chunk).trainBlock(block));
        times.push_back(seconds(start));
        cpu.push_back(cpuSeconds() - cpu0);
      }
      std::sort(times.begin(), times.end());
      std::sort(cpu.begin(), cpu.end());
      std::printf(
          "knn 60000x10000 d=256 k=200 chunk=%lld trainBlock=%lld: wall median %.3f s (min %.3f), "
          "cpu median %.3f s; top1 %.2f%%\n",
          static_cast<long long>(chunk), static_cast<long long>(block), times[1], times[0], cpu[1],
          r.top1);
    }
    // Peer: the bare similarity matmul, the floor for any exact float32 kNN.
    std::vector<double> times, cpu;
    for (int run = 0; run < 3; ++run) {
      auto start = std::chrono::steady_clock::now();
      const double cpu0 = cpuSeconds();
      for (int64_t s = 0; s < 10000; s += 1024) {
        auto sim = torch::mm(xTest.slice(0, s, std::min<int64_t>(10000, s + 1024)), xTrain.t());
      }
      times.push_back(seconds(start));
      cpu.push_back(cpuSeconds() - cpu0);
    }
    std::sort(times.begin(), times.end());
    std::sort(cpu.begin(), cpu.end());
    std::printf(
        "  peer: the float32 similarity matmul alone (chunk 1024): wall median %.3f s, "
        "cpu median %.3f s\n",
        times[1], cpu[1]);
  }
  {
    const int64_t dim = 512;
    auto centres = torch::randn({classes, dim}) * 0.1;
    auto [xTrain, yTrain] = blobs(60000, dim, classes, centres);
    auto [xTest, yTest] = blobs(10000, dim, classes, centres);
    auto start = std::chrono::steady_clock::now();
    double cpu0 = cpuSeconds();
    auto r = pretext::linearProbe(xTrain, yTrain, xTest, yTest, classes);
    std::printf(
        "linear probe 60000x512, 10 classes: wall %.3f s, cpu %.3f s; test top1 %.2f%% "
        "top5 %.2f%%, train loss %.6f after %lld evaluations\n",
        seconds(start), cpuSeconds() - cpu0, r.top1, r.top5, r.trainLoss,
        static_cast<long long>(r.lossEvaluations));
    // Peer: the same problem solved to a much tighter tolerance.
    start = std::chrono::steady_clock::now();
    cpu0 = cpuSeconds();
    auto tight =
        pretext::linearProbe(xTrain, yTrain, xTest, yTest, classes,
                             pretext::LinearProbeOptions().maxIterations(2000).tolerance(1e-9));
    std::printf(
        "  peer: tolerance 1e-9, 2000 iterations: wall %.3f s, cpu %.3f s; top1 %.2f%%, "
        "train loss %.6f after %lld evaluations\n",
        seconds(start), cpuSeconds() - cpu0, tight.top1, tight.trainLoss,
        static_cast<long long>(tight.lossEvaluations));
  }
  return 0;
}
