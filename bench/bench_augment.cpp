// Times augmentBatch on CPU with 2 threads: "simclr-gray" on [512,1,28,28] (Fashion-MNIST-like)
// and "simclr" on [512,3,32,32] (CIFAR-like). Prints the median ms per batch and images/s,
// plus the share of each stage for the colour preset, and, as the peer run of the same process,
// one SimCLR training step (two views, forward + NT-Xent + backward + SGD) of the small ConvNet
// (a copy of core/models/convnet.cpp: widths 32-64-128-256, + MLP projector), so that the
// augmentation's share of a step is printed as a ratio measured under the same load.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/augment/augment.h"
#include "peer_run.h"

#ifndef PRETEXT_SOURCE_DIR
#define PRETEXT_SOURCE_DIR "."
#endif

namespace {

// Runs bench/peer_augment.py; its "RESULT preset=NAME img_per_s=X ... cpu_ms_per_batch=C" lines
// as NAME -> {X, C}.
std::map<std::string, std::pair<double, double>> runPeer() {
  const std::string cmd = "/usr/bin/python3 '" PRETEXT_SOURCE_DIR "/bench/peer_augment.py'";
  std::map<std::string, std::pair<double, double>> result;
  for (const auto& r : pretext::bench::runPeerResults(cmd)) {
    const auto preset = r.find("preset");
    result[preset == r.end() ? "" : preset->second] = {
        pretext::bench::number(r, "img_per_s"), pretext::bench::number(r, "cpu_ms_per_batch")};
  }
  return result;
}

double cpuMs() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

struct Timing {
  double wallMs, cpuMs;  // medians per run; cpu = all threads of the process
};

Timing median(const std::function<void()>& fn, int warmup = 3, int runs = 20) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> wall, cpu;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    double c0 = cpuMs();
    fn();
    cpu.push_back(cpuMs() - c0);
    wall.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(wall.begin(), wall.begin() + runs / 2, wall.end());
  std::nth_element(cpu.begin(), cpu.begin() + runs / 2, cpu.end());
  return {wall[runs / 2], cpu[runs / 2]};
}

namespace nn = torch::nn;

nn::Sequential smallConvNet(int64_t inChannels, int64_t w = 32) {
  nn::Sequential net;
  const int64_t widths[5] = {inChannels, w, 2 * w, 4 * w, 8 * w};
  for (int i = 0; i < 4; ++i) {
    net->push_back(
        nn::Conv2d(nn::Conv2dOptions(widths[i], widths[i + 1], 3).padding(1).bias(false)));
    net->push_back(nn::BatchNorm2d(widths[i + 1]));
    net->push_back(nn::ReLU(nn::ReLUOptions(true)));
    if (i < 3) net->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(2)));
  }
  net->push_back(nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)));
  net->push_back(nn::Flatten());
  net->push_back(nn::Linear(8 * w, 8 * w));
  net->push_back(nn::ReLU());
  net->push_back(nn::Linear(8 * w, 128));
  return net;
}

// Median ms of one SimCLR step on two ready views of [b,c,side,side].
double simclrStepMs(int64_t b, int64_t c, int64_t side) {
  auto net = smallConvNet(c);
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  auto v1 = torch::rand({b, c, side, side}), v2 = torch::rand({b, c, side, side});
  auto labels = torch::cat({torch::arange(b, 2 * b), torch::arange(0, b)});
  Timing t = median(
      [&] {
        opt.zero_grad();
        auto z =
            torch::nn::functional::normalize(net->forward(torch::cat({v1, v2})),
                                             torch::nn::functional::NormalizeFuncOptions().dim(1));
        auto sim = z.mm(z.t()) / 0.5;
        sim = sim - torch::eye(2 * b) * 1e9;
        auto loss = torch::nn::functional::cross_entropy(sim, labels);
        loss.backward();
        opt.step();
      },
      1, 5);
  return t.wallMs;
}

Timing bench(const char* label, const pretext::AugmentOptions& options, int64_t b, int64_t c,
             int64_t side) {
  auto gen = at::detail::createCPUGenerator(1);
  auto x = torch::rand({b, c, side, side}, gen);
  torch::Tensor y;
  Timing t = median([&] { y = pretext::augmentBatch(x, options, gen); });
  std::printf("%-30s [%lld,%lld,%lld,%lld] %8.2f ms/batch %8.0f images/s  (cpu %7.2f ms)\n", label,
              (long long)b, (long long)c, (long long)side, (long long)side, t.wallMs,
              b / t.wallMs * 1000.0, t.cpuMs);
  return t;
}

void ratio(const char* label, double augmentMs, int64_t b, int64_t c, int64_t side) {
  const double stepMs = simclrStepMs(b, c, side);
  std::printf("%-30s small-ConvNet SimCLR step %8.1f ms; augmenting its 2 views = %.1f%% of it\n",
              label, stepMs, 100.0 * 2 * augmentMs / stepMs);
}

}  // namespace

int main() {
  const char* threads = std::getenv("BENCH_THREADS");
  at::set_num_threads(threads ? std::atoi(threads) : 2);
  std::printf("augmentBatch on CPU, %d threads, median of 20 runs after 3 warm-up runs\n",
              at::get_num_threads());
  const Timing gray = bench("simclr-gray", pretext::augmentPreset("simclr-gray", 28), 512, 1, 28);
  const Timing colour = bench("simclr", pretext::augmentPreset("simclr", 32), 512, 3, 32);
  if (!std::getenv("BENCH_NO_PEER")) {
    const auto peer = runPeer();
    std::printf(
        "\n== augmentation, batches of 512, %d threads: Pretext augmentBatch vs torchvision "
        "per image (PIL in, tensor out); cpu = CPU time per batch, all threads ==\n",
        at::get_num_threads());
    const std::pair<const char*, Timing> rows[] = {{"simclr-gray", gray}, {"simclr", colour}};
    for (const auto& [name, t] : rows) {
      const double ours = 512 / t.wallMs * 1000.0;
      const auto it = peer.find(name);
      if (it == peer.end() || it->second.first <= 0) {
        std::printf("%-12s pretext %9.0f images/s   peer: no result\n", name, ours);
        continue;
      }
      const auto [theirs, theirCpu] = it->second;
      std::printf(
          "%-12s pretext %8.0f images/s (cpu %6.1f ms)   torchvision %6.0f images/s (cpu %6.1f "
          "ms)   ratio %5.1fx   cpu ratio %5.1fx\n",
          name, ours, t.cpuMs, theirs, theirCpu, ours / theirs, theirCpu / t.cpuMs);
    }
    std::printf("\n");
    ratio("simclr-gray", gray.wallMs, 512, 1, 28);
    ratio("simclr", colour.wallMs, 512, 3, 32);
  }
  // Stage by stage for the colour batch (each alone at probability 1).
  using pretext::AugmentOptions;
  bench("  crop+flip (one grid_sample)", AugmentOptions().cropProb(1).flipProb(0.5), 512, 3, 32);
  bench("  crop+flip+rotate",
        AugmentOptions().cropProb(1).flipProb(0.5).rotateProb(1).rotateDegrees(30), 512, 3, 32);
  bench("  jitter b/c/s",
        AugmentOptions().jitterProb(1).brightness(0.4).contrast(0.4).saturation(0.4), 512, 3, 32);
  bench("  jitter hue", AugmentOptions().jitterProb(1).hue(0.1), 512, 3, 32);
  bench("  grayscale", AugmentOptions().grayscaleProb(1), 512, 3, 32);
  bench("  blur", AugmentOptions().blurProb(1), 512, 3, 32);
  bench("  solarize", AugmentOptions().solarizeProb(1), 512, 3, 32);
  bench("  cutout", AugmentOptions().cutoutProb(1), 512, 3, 32);
  bench("  noise", AugmentOptions().noiseStd(0.05), 512, 3, 32);
  bench("  sobel", AugmentOptions().sobel(true), 512, 3, 32);
  return 0;
}
