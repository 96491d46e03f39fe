// Times the evaluation probes on this machine (2 threads by default):
//   knnClassify, exact float32 search vs the default int8 search (KnnOptions::exact), on
//     (a) Gaussian blobs: 60,000 x 256 train, 10,000 x 256 test, 10 classes, k=200, T=0.1;
//     (b) real features: Fashion-MNIST through a random ConvNet (256-d, post-ReLU), same k/T.
//     Runs alternate (exact, int8, exact, ...; median of 3 each) so both see the same load;
//     prints their ratio, the neighbour recall (|int8 top-k ∩ exact top-k| / k) and how many
//     predictions agree. Peer floor: the float32 similarity sgemm alone.
//   linearProbe: 60,000 x 512 train, 10,000 x 512 test, 10 classes (class-dependent means)
// Usage: bench_knn [threads] [--no-linear] [--quick]   (--quick: one run each, no rigorous run)
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include "core/data/dataset.h"
#include "core/eval/knn_search.h"
#include "core/eval/probes.h"

namespace {

bool quick = false;

// Process CPU seconds (all threads): on a shared machine, wall time depends on the other
// users; CPU time / threads is what the run would take on otherwise idle cores.
double cpuSeconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

double seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Features whose mean depends on the class, plus unit Gaussian noise.
std::pair<torch::Tensor, torch::Tensor> blobs(int64_t n, int64_t dim, int64_t classes,
                                              const torch::Tensor& centres) {
  auto labels = torch::randint(classes, {n}, torch::kLong);
  auto x = centres.index({labels}) + torch::randn({n, dim});
  return {x, labels};
}

// Exact vs int8 kNN on one problem: times, ratio, recall, agreement.
void compareKnn(const char* what, const torch::Tensor& xTrain, const torch::Tensor& yTrain,
                const torch::Tensor& xTest, const torch::Tensor& yTest, int64_t classes) {
  const int64_t k = 200;
  const double T = 0.1;
  if (!pretext::detail::knnInt8Worthwhile(xTrain.size(0), xTest.size(0), xTrain.size(1), k)) {
    std::printf("%s: the int8 search does not run here (needs AVX-512 VNNI)\n", what);
  }
  std::vector<double> wall[2], cpu[2];
  pretext::ProbeResult result[2];
  for (int run = 0; run < (quick ? 1 : 3); ++run) {
    for (int fast = 0; fast < 2; ++fast) {
      auto start = std::chrono::steady_clock::now();
      const double cpu0 = cpuSeconds();
      result[fast] = pretext::knnClassify(xTrain, yTrain, xTest, yTest, classes,
                                          pretext::KnnOptions().k(k).temperature(T).exact(!fast));
      wall[fast].push_back(seconds(start));
      cpu[fast].push_back(cpuSeconds() - cpu0);
    }
  }
  auto [iExact, sExact] = pretext::detail::knnNeighbours(xTrain, xTest, k, true);
  pretext::detail::KnnInt8Stats stats, rigorousStats;
  auto [iFast, sFast] = pretext::detail::knnNeighbours(xTrain, xTest, k, false, false, &stats);
  // The rigorous bound (exact by construction): more candidates to re-rank.
  auto start = std::chrono::steady_clock::now();
  auto [iRig, sRig] =
      quick ? std::make_pair(iExact, sExact)
            : pretext::detail::knnNeighbours(xTrain, xTest, k, false, true, &rigorousStats);
  const double rigorousWall = seconds(start);
  const double rigorousGap = (sExact - sRig).abs().max().item<double>();
  // Recall: per row, how many of the exact top-k indices the int8 search returned.
  int64_t hits = 0;
  for (int64_t s = 0; s < iExact.size(0); s += 500) {
    auto e = iExact.slice(0, s, s + 500), f = iFast.slice(0, s, s + 500);
    hits += (f.unsqueeze(2) == e.unsqueeze(1)).any(2).sum().item<int64_t>();
  }
  const double recall = 100.0 * static_cast<double>(hits) / static_cast<double>(iExact.numel());
  const double agree =
      100.0 * result[0].predictions.eq(result[1].predictions).sum().item<double>() / xTest.size(0);
  const double simGap = (sExact - sFast).abs().max().item<double>();
  std::printf(
      "knn %s %lldx%lld d=%lld k=%lld T=%.2f\n"
      "  exact float32: wall median %.3f s, cpu median %.3f s; top1 %.2f%%\n"
      "  int8 + re-rank (default): wall median %.3f s, cpu median %.3f s; top1 %.2f%%\n"
      "  exact/int8 wall ratio %.2fx (cpu ratio %.2fx); neighbour recall %.4f%%, predictions "
      "agreeing %.3f%%, max |sim gap| of the sorted top-k %.2g; %.0f candidates re-ranked "
      "per row (%lld rows re-searched after a failed seed)\n"
      "  rigorous bound (exact by construction, knnNeighbours): wall %.3f s, %.0f candidates "
      "per row, max |sim gap| %.2g\n",
      what, static_cast<long long>(xTrain.size(0)), static_cast<long long>(xTest.size(0)),
      static_cast<long long>(xTrain.size(1)), static_cast<long long>(k), T, median(wall[0]),
      median(cpu[0]), result[0].top1, median(wall[1]), median(cpu[1]), result[1].top1,
      median(wall[0]) / median(wall[1]), median(cpu[0]) / median(cpu[1]), recall, agree, simGap,
      stats.meanCandidates, static_cast<long long>(stats.reSearchedRows), rigorousWall,
      rigorousStats.meanCandidates, rigorousGap);
  std::fflush(stdout);
}

// A random (untrained) ConvNet: 1x28x28 -> 64 x 2 x 2 = 256 non-negative features.
torch::nn::Sequential randomConvNet() {
  using namespace torch::nn;
  return Sequential(Conv2d(Conv2dOptions(1, 16, 5).stride(2).padding(2)), ReLU(),
                    Conv2d(Conv2dOptions(16, 32, 3).stride(2).padding(1)), ReLU(),
                    Conv2d(Conv2dOptions(32, 64, 3).padding(1)), ReLU(),
                    AdaptiveAvgPool2d(AdaptiveAvgPool2dOptions(2)), Flatten());
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  bool linear = true;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-linear") == 0) linear = false;
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
  }
  at::set_num_threads(threads);
  torch::manual_seed(0);
  const int64_t classes = 10;
  std::printf("threads: %d; int8 search supported: %s\n", at::get_num_threads(),
              pretext::detail::knnInt8Supported() ? "yes (AVX-512 VNNI)" : "no");
  {
    const int64_t dim = 256;
    auto centres = torch::randn({classes, dim}) * 0.3;
    auto [xTrain, yTrain] = blobs(60000, dim, classes, centres);
    auto [xTest, yTest] = blobs(10000, dim, classes, centres);
    compareKnn("blobs", xTrain, yTrain, xTest, yTest, classes);

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
    std::printf(
        "  peer: the float32 similarity matmul alone (chunk 1024): wall median %.3f s, "
        "cpu median %.3f s\n",
        median(times), median(cpu));
  }
  try {
    torch::NoGradGuard noGrad;
    const auto data = pretext::loadData("fashion-mnist");
    auto net = randomConvNet();
    net->eval();
    const auto encode = [&](const torch::Tensor& images) { return net->forward(images); };
    const auto fTrain = pretext::extractFeatures(encode, data.trainLabelled, torch::kCPU);
    const auto fTest = pretext::extractFeatures(encode, data.test, torch::kCPU);
    compareKnn("fashion-mnist random-ConvNet features", fTrain, data.trainLabelled.labels, fTest,
               data.test.labels, classes);
  } catch (const std::exception& e) {
    std::printf("knn on Fashion-MNIST features skipped: %s\n", e.what());
  }
  if (!linear) return 0;
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
