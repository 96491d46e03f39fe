// Training throughput against the PyTorch peer (issue 6, benchmark 1).
// Times Pretext's training step for a preset the way the trainer runs it (gather the batch from
// the uint8 data set, set the learning rate, method.step: augmentation + forward + loss, the loss
// read back, backward, optimiser step, afterStep: momentum/EMA updates), at 2 threads, then runs
// the PyTorch peer (bench/peer_train.py: torchvision transforms per image in a Dataset, a
// DataLoader, the same model, loss, optimiser and batch size) as a child process in the same
// run, and prints both figures, the ratio and the parameter counts of both sides. Pretext is
// timed twice: as it trains, and without one of its CPU kernels to show what that is worth:
// with NCHW convolution kernels (run.channels_last false), or for a ViT, with LibTorch's ops in
// place of the oneDNN linear layers and attention (core/models/transformer_ops.h).
// Also prints CPU time per step (process CPU time, all threads: steadier than wall time on a
// loaded machine; the peer's DataLoader workers, when asked for, are not counted in it).
// Both count SOURCE images per second (rotation: each image gives 4 rotated copies; simclr,
// moco, byol: 2 views; mae: 1 masked view).
//   bench_train [PRESET] [STEPS] [WORKERS] [PRECISION]    (default simclr-fashion 20 0)
// PRECISION: run.precision for Pretext (fp32, bf16: CPU autocast); with bf16 the second line is
// Pretext in fp32 instead of the kernel comparison.
// WORKERS: the peer's DataLoader worker counts, comma-separated ("0,2" runs the peer twice).
// BENCH_TRACE=PREFIX: op-level profiles of the timed steps, PREFIX-pretext.json (LibTorch's
// legacy profiler) and PREFIX-peer.json (torch.autograd.profiler), chrome-trace format: compare
// them with bench/trace_ops.py. Profiling slows both sides; their img/s are then not figures.
// BENCH_COPIES=1: where Pretext's step copies tensors: each aten::copy_ of the timed steps with
// its input shapes and the ops it was called from, summed and sorted by time (the layout
// conversions a mixed NCHW/NHWC network makes show up here).
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/augment/augment.h"
#include "core/config/experiment.h"
#include "core/data/prefetcher.h"
#include "core/data/sampler.h"
#include "core/models/transformer_ops.h"
#include "core/train/optim.h"
#include "core/train/trainer.h"
#include "core/util/seed.h"
#include "core/util/threads.h"
#include "peer_run.h"

#ifndef PRETEXT_SOURCE_DIR
#define PRETEXT_SOURCE_DIR "."
#endif

using namespace pretext;
using Clock = std::chrono::steady_clock;

namespace {

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double cpuMs() {  // CPU time of the process, all threads
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int64_t countParameters(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

std::map<std::string, std::string> runPeer(const std::string& method, int steps, int workers) {
  return bench::runPeer("/usr/bin/python3 '" PRETEXT_SOURCE_DIR "/bench/peer_train.py' " + method +
                        " " + std::to_string(steps) + " " + std::to_string(workers));
}
using bench::number;

std::string shapesText(const std::vector<std::vector<int64_t>>& shapes) {
  std::string out;
  for (const auto& s : shapes) {
    if (s.empty()) continue;
    out += out.empty() ? "[" : " [";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
    out += "]";
  }
  return out;
}

// BENCH_COPIES: sums the time of each aten::copy_ by (the ops around it, its shapes) and prints
// the largest, per step. Events come per thread in order, push and pop matched by handle.
void reportCopies(const torch::autograd::profiler::thread_event_lists& lists, int steps) {
  using torch::autograd::profiler::EventKind;
  using torch::autograd::profiler::LegacyEvent;
  std::map<std::string, std::pair<double, int>> sites;  // key -> (us, count)
  double totalUs = 0;
  for (const auto& list : lists) {
    std::vector<const LegacyEvent*> open;
    for (const auto& ev : list) {
      if (ev.kind() == EventKind::PushRange) {
        open.push_back(&ev);
      } else if (ev.kind() == EventKind::PopRange) {
        for (size_t i = open.size(); i-- > 0;) {
          if (open[i]->handle() != ev.handle()) continue;
          const LegacyEvent* start = open[i];
          if (std::string(start->name()) == "aten::copy_") {
            std::string key;
            for (size_t j = i >= 4 ? i - 4 : 0; j < i; ++j)
              key += std::string(open[j]->name()) + " > ";
            key += "copy_ " + shapesText(start->shapes());
            const double us = start->cpuElapsedUs(ev);
            sites[key].first += us;
            sites[key].second += 1;
            totalUs += us;
          }
          open.erase(open.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        }
      }
    }
  }
  std::vector<std::pair<double, std::string>> sorted;
  for (const auto& [key, v] : sites)
    sorted.emplace_back(v.first, key + "  x" + std::to_string(v.second / steps));
  std::sort(sorted.rbegin(), sorted.rend());
  std::printf("copy_: %.1f ms/step in all; the largest sites (ms/step):\n", totalUs / 1000 / steps);
  for (size_t i = 0; i < sorted.size() && i < 20; ++i)
    std::printf("  %7.2f  %s\n", sorted[i].first / 1000 / steps, sorted[i].second.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const std::string preset = argc > 1 ? argv[1] : "simclr-fashion";
  const int steps = argc > 2 ? std::atoi(argv[2]) : 20;
  std::vector<int> workers;
  {
    std::istringstream in(argc > 3 ? argv[3] : "0");
    std::string w;
    while (std::getline(in, w, ',')) workers.push_back(std::atoi(w.c_str()));
  }
  const std::string precision = argc > 4 ? argv[4] : "";
  const int threads = configureThreads(2);
  Experiment e = experimentFromJson(loadPresetJson(preset));
  if (!precision.empty()) e.precision = precision;
  const int views = e.method == "simclr" || e.method == "moco" || e.method == "byol" ? 2 : 1;
  std::printf("%s: method %s, batch %lld, %d threads, %d warm-up + %d timed steps\n",
              preset.c_str(), e.method.c_str(), (long long)e.batchSize, threads, 3, steps);

  struct Timing {
    double imgPerSec = 0, ms = 0, cpu = 0;
    int64_t trained = 0, all = 0;
  };
  // The trainer's step (core/train/trainer.cpp), phase by phase, with the weights in the given
  // layout (run.channels_last) and the ViT's ops on oneDNN or on LibTorch's.
  auto timeSteps = [&](bool channelsLast, bool oneDnn, const char* label, bool fp32 = false) {
    Experiment x = e;
    x.channelsLast = channelsLast;
    if (fp32) x.precision = "fp32";
    useOneDnnTransformerOps(oneDnn);
    Session s = makeSession(x);
    Method& method = *s.method;
    const AugmentOptions aug = augmentFromJson(x.augment);
    Optimizer opt(method.trainableParameters(), x);
    BatchSampler sampler(s.data.train.size(), x.batchSize, x.seed);
    Timing t;
    t.trained = countParameters(method.trainableParameters());
    t.all = countParameters(method.parameters());
    const int warm = 3;
    double parts[4] = {0, 0, 0, 0};  // data, forward (+ augmentation, loss), backward, optimiser
    double total = 0, cpu = 0;
    const char* trace = channelsLast && oneDnn ? std::getenv("BENCH_TRACE") : nullptr;
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
    const bool copies = channelsLast && oneDnn && std::getenv("BENCH_COPIES");
    for (int i = 0; i < steps + warm; ++i) {
      if (copies && i == warm)
        torch::autograd::profiler::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(
            torch::profiler::impl::ProfilerState::CPU, /*report_input_shapes=*/true));
      if (trace && i == warm)
        profile = std::make_unique<torch::autograd::profiler::RecordProfile>(std::string(trace) +
                                                                             "-pretext.json");
      const auto t0 = Clock::now();
      const double c0 = cpuMs();
      Batch batch =
          gatherBatch(s.data.train, sampler.indices(0, i % sampler.batchesPerEpoch()), s.device);
      const double tData = msSince(t0);
      opt.setLr(scheduledLr(x.lr, i, 1000, 0, true));
      auto gen = at::detail::createCPUGenerator(mixSeed(x.seed, static_cast<uint64_t>(i)));
      StepContext ctx{i, 0, i / 1000.0, &gen, &aug};
      method.train();
      opt.zeroGrad();
      StepResult r;
      {
        AutocastScope autocast(usesAutocast(x, s.device), s.device);
        r = method.step(batch, ctx);
      }
      const double loss = r.loss.item<double>();
      const double tForward = msSince(t0);
      r.loss.backward();
      const double tBackward = msSince(t0);
      opt.step();
      method.afterStep(ctx);
      const double tAll = msSince(t0);
      const double cAll = cpuMs() - c0;
      if (i >= warm) {
        parts[0] += tData;
        parts[1] += tForward - tData;
        parts[2] += tBackward - tForward;
        parts[3] += tAll - tBackward;
        total += tAll;
        cpu += cAll;
      }
      if (i + 1 == steps + warm) std::printf("%s: last loss %.3f\n", label, loss);
    }
    profile.reset();
    if (copies) reportCopies(torch::autograd::profiler::disableProfilerLegacy(), steps);
    // The augmentation inside the forward phase, measured alone (the views one step makes).
    double augMs = 0;
    for (int i = 0; i < steps; ++i) {
      Batch batch = gatherBatch(s.data.train, sampler.indices(0, i), s.device);
      auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(i));
      const auto t0 = Clock::now();
      for (int v = 0; v < views; ++v) (void)augmentBatch(batch.images, aug, gen);
      augMs += msSince(t0);
    }
    t.ms = total / steps;
    t.cpu = cpu / steps;
    t.imgPerSec = x.batchSize * steps * 1000.0 / total;
    std::printf(
        "%s: %.1f source img/s (%.1f ms/step, cpu %.1f ms/step: data %.1f, forward %.1f "
        "[augmentation %.1f of it], backward %.1f, optimiser %.1f)\n",
        label, t.imgPerSec, t.ms, t.cpu, parts[0] / steps, parts[1] / steps, augMs / steps,
        parts[2] / steps, parts[3] / steps);
    std::fflush(stdout);
    return t;
  };
  // Pretext as it trains (channels-last convolution kernels, oneDNN transformer ops), then
  // without one of them: what it alone is worth.
  // With PRECISION bf16: against the same in fp32 (what the autocast alone is worth).
  const bool vit = e.backbone == "vit";
  const bool bf16 = usesAutocast(e, torch::kCPU);
  const Timing mine = timeSteps(true, true, bf16 ? "pretext, bf16" : "pretext");
  const Timing other = bf16  ? timeSteps(true, true, "pretext, fp32", true)
                       : vit ? timeSteps(true, false, "pretext, LibTorch ops")
                             : timeSteps(false, true, "pretext, NCHW");
  useOneDnnTransformerOps(true);
  const double imgPerSec = mine.imgPerSec, ms = mine.ms, cpu = mine.cpu * steps;
  const int64_t trained = mine.trained, all = mine.all;
  std::printf("pretext parameters: %lld trained, %lld in all\n", (long long)trained,
              (long long)all);

  // The peer, right after, under the same load.
  std::vector<std::pair<int, std::map<std::string, std::string>>> peers;
  for (int w : workers) peers.emplace_back(w, runPeer(e.method, steps, w));

  std::printf("\n== %s, %d threads, %lld source images a step ==\n", preset.c_str(), threads,
              (long long)e.batchSize);
  std::printf("%-31s %8s %8s %7s %8s %9s  %s\n", "", "img/s", "ms/step", "ratio", "cpu ms",
              "cpu ratio", "parameters trained / all");
  std::printf("%-31s %8.1f %8.1f %7s %8.1f %9s  %lld / %lld\n",
              bf16 ? "pretext (bf16 autocast)" : "pretext", imgPerSec, ms, "", cpu / steps, "",
              (long long)trained, (long long)all);
  std::printf("%-31s %8.1f %8.1f %6.2fx %8.1f %8.2fx  (%s)\n",
              bf16  ? "pretext, fp32"
              : vit ? "pretext, LibTorch ops"
                    : "pretext, NCHW kernels",
              other.imgPerSec, other.ms, imgPerSec / other.imgPerSec, other.cpu,
              other.cpu / mine.cpu,
              bf16  ? "run.precision fp32"
              : vit ? "no oneDNN linear/attention"
                    : "run.channels_last false");
  for (const auto& [w, m] : peers) {
    const double peerImg = number(m, "img_per_s");
    char label[64];
    std::snprintf(label, sizeof label, "peer (DataLoader, %d workers)", w);
    if (peerImg <= 0) {
      std::printf("%-31s (no result)\n", label);
      continue;
    }
    const long long pt = (long long)number(m, "params_trainable"),
                    pa = (long long)number(m, "params_total");
    const double peerCpu = number(m, "cpu_ms_per_step");
    std::printf("%-31s %8.1f %8.1f %6.2fx %8.1f %8.2fx  %lld / %lld%s\n", label, peerImg,
                number(m, "ms_per_step"), imgPerSec / peerImg, peerCpu, peerCpu / (cpu / steps), pt,
                pa, pt == trained && pa == all ? " (same)" : " (DIFFERENT: not the same model)");
    std::printf("%-31s data %.1f, forward %.1f, backward %.1f, optimiser %.1f ms/step\n", "",
                number(m, "data_ms"), number(m, "forward_ms"), number(m, "backward_ms"),
                number(m, "optim_ms"));
  }
  return 0;
}
