// Times augmentBatch on CPU with 2 threads: "simclr-gray" on [512,1,28,28] (Fashion-MNIST-like)
// and "simclr" on [512,3,32,32] (CIFAR-like). Prints the median ms per batch and images/s,
// plus the share of each stage for the colour preset.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <cstdio>
#include <functional>
#include <vector>

#include "core/augment/augment.h"

namespace {

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

void bench(const char* label, const pretext::AugmentOptions& options, int64_t b, int64_t c,
           int64_t side) {
  auto gen = at::detail::createCPUGenerator(1);
  auto x = torch::rand({b, c, side, side}, gen);
  torch::Tensor y;
  Timing t = median([&] { y = pretext::augmentBatch(x, options, gen); });
  std::printf("%-30s [%lld,%lld,%lld,%lld] %8.2f ms/batch %8.0f images/s  (cpu %7.2f ms)\n",
              label, (long long)b, (long long)c, (long long)side, (long long)side, t.wallMs,
              b / t.wallMs * 1000.0, t.cpuMs);
}

}  // namespace

int main() {
  const char* threads = std::getenv("BENCH_THREADS");
  at::set_num_threads(threads ? std::atoi(threads) : 2);
  std::printf("augmentBatch on CPU, %d threads, median of 20 runs after 3 warm-up runs\n",
              at::get_num_threads());
  bench("simclr-gray", pretext::augmentPreset("simclr-gray", 28), 512, 1, 28);
  bench("simclr", pretext::augmentPreset("simclr", 32), 512, 3, 32);
  // Stage by stage for the colour batch (each alone at probability 1).
  using pretext::AugmentOptions;
  bench("  crop+flip (one grid_sample)", AugmentOptions().cropProb(1).flipProb(0.5), 512, 3, 32);
  bench("  crop+flip+rotate", AugmentOptions().cropProb(1).flipProb(0.5).rotateProb(1)
                                  .rotateDegrees(30), 512, 3, 32);
  bench("  jitter b/c/s", AugmentOptions().jitterProb(1).brightness(0.4).contrast(0.4)
                              .saturation(0.4), 512, 3, 32);
  bench("  jitter hue", AugmentOptions().jitterProb(1).hue(0.1), 512, 3, 32);
  bench("  grayscale", AugmentOptions().grayscaleProb(1), 512, 3, 32);
  bench("  blur", AugmentOptions().blurProb(1), 512, 3, 32);
  bench("  solarize", AugmentOptions().solarizeProb(1), 512, 3, 32);
  bench("  cutout", AugmentOptions().cutoutProb(1), 512, 3, 32);
  bench("  noise", AugmentOptions().noiseStd(0.05), 512, 3, 32);
  bench("  sobel", AugmentOptions().sobel(true), 512, 3, 32);
  return 0;
}
