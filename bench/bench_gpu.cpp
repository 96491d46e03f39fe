// The GPU benchmark of issue 6: ResNet-18 SimCLR on 32x32 colour images, batch 512, Pretext's
// trainer (pretext-cli's engine: uint8 batches copied from pinned memory on a worker thread,
// augmentation on the device, bf16 autocast, channels-last, cuDNN autotuning, the loss read
// back at metric rows, not every step) against the PyTorch peer bench/peer_gpu.py (torchvision
// transforms per image, a DataLoader with workers and pinned memory, the same model, loss,
// optimiser, batch, bf16 autocast, channels-last and cudnn.benchmark), on the same device, in
// one run.
//   bench_gpu [--device cuda|cpu] [--steps N] [--batch B] [--workers W,W] [--data DIR]
//             [--images N] [--python PYTHON]
// Defaults: cuda, 100 timed steps (after 20 warm-up steps), batch 512, workers 8 (the peer's
// DataLoader), python3. Without --data it writes N (default 50,000) random images in CIFAR-10's
// binary format to a temporary folder (throughput does not depend on the pixels) and both
// sides read that; --data DIR uses a real cifar-10-batches-bin folder. Counts source images per
// second (two views each). On a machine without CUDA, `--device cpu --batch 32 --steps 10
// --images 2000 --workers 0` checks that both sides run (a timed span needs two metric rows,
// 10 steps apart).
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/config/experiment.h"
#include "core/data/prefetcher.h"
#include "core/data/sampler.h"
#include "core/train/trainer.h"
#include "core/util/device.h"
#include "core/util/error.h"
#include "peer_run.h"

using namespace pretext;
namespace fs = std::filesystem;

namespace {

// Step events: the time and step count of each metric row (a row reads the loss back, so the
// queued GPU work has finished when its wall time is taken).
struct Rows : TrainerEvents {
  std::vector<std::pair<int64_t, double>> rows;  // (steps done, seconds since start)
  void onStep(const StepEvent& e) override { rows.emplace_back(e.step, e.wallSeconds); }
};

// CIFAR-10's binary format: records of 1 label byte + 3072 pixel bytes (R, G, B planes).
void writeSyntheticCifar(const fs::path& dir, int64_t images) {
  fs::create_directories(dir);
  std::mt19937 rng(0);
  std::vector<unsigned char> record(3073);
  auto write = [&](const std::string& name, int64_t n) {
    std::ofstream out(dir / name, std::ios::binary);
    for (int64_t i = 0; i < n; ++i) {
      for (auto& b : record) b = static_cast<unsigned char>(rng());
      record[0] = static_cast<unsigned char>(rng() % 10);
      out.write(reinterpret_cast<const char*>(record.data()), 3073);
    }
    if (!out) throw Error("bench_gpu: cannot write " + (dir / name).string());
  };
  for (int i = 1; i <= 5; ++i)
    write("data_batch_" + std::to_string(i) + ".bin", images / 5 + (i <= images % 5 ? 1 : 0));
  write("test_batch.bin", 1000);
}

// The prefetcher's batches (gathered on its worker thread; on CUDA copied on a side stream
// and handed over with an event) must equal the same batches gathered synchronously on the
// host, also while the consuming stream is busy and the batches' memory is freed and reused
// (each batch is overwritten in place by the consumer, then dropped). Throws on a mismatch.
void checkPrefetcher(const Dataset& data, int batch, const c10::Device& device) {
  BatchSampler sampler(data.size(), batch, 0);
  Prefetcher prefetcher(data, sampler, device, 0, /*depth=*/2);  // the worker thread even on CPU
  auto busy = torch::rand({2048, 2048}, torch::TensorOptions().device(device));
  const int64_t n = std::min<int64_t>(24, sampler.batchesPerEpoch());
  for (int64_t i = 0; i < n; ++i) {
    Batch b = prefetcher.next();
    for (int k = 0; k < 8; ++k) busy = torch::tanh(busy.mm(busy));  // keep the stream busy
    const auto copy = b.images.clone();
    b.images.mul_(-1);  // a write on the consumer's stream after the handover
    const Batch host = gatherBatch(data, sampler.indices(0, i), torch::kCPU);
    const bool labelsEqual = !host.labels.defined() || torch::equal(b.labels.cpu(), host.labels);
    if (!torch::equal(copy.cpu(), host.images) || !labelsEqual)
      throw Error("bench_gpu: prefetched batch " + std::to_string(i) + " on " + device.str() +
                  " differs from the same batch gathered on the host");
  }
  std::printf("prefetcher check: %lld batches on %s equal the host's\n", static_cast<long long>(n),
              device.str().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "cuda", dataDir, workers = "8", python = "python3";
  int steps = 100, batch = 512;
  int64_t images = 50000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (!v) {
      std::fprintf(stderr, "bench_gpu: %s needs a value\n", a.c_str());
      return 2;
    }
    ++i;
    if (a == "--device") device = v;
    else if (a == "--steps") steps = std::atoi(v);
    else if (a == "--batch") batch = std::atoi(v);
    else if (a == "--workers") workers = v;
    else if (a == "--data") dataDir = v;
    else if (a == "--images") images = std::atoll(v);
    else if (a == "--python") python = v;
    else {
      std::fprintf(stderr, "bench_gpu: unknown option %s (see the comment at the top)\n", a.c_str());
      return 2;
    }
  }
  if (steps < 1 || batch < 2 || images < batch) {
    std::fprintf(stderr, "bench_gpu: expected --steps >= 1, --batch >= 2, --images >= batch\n");
    return 2;
  }
  const int warm = 20;
  try {
    const fs::path tmp = fs::temp_directory_path() / ("bench_gpu." + std::to_string(getpid()));
    if (dataDir.empty()) {
      dataDir = (tmp / "cifar-10-batches-bin").string();
      std::printf("writing %lld random 32x32 images in CIFAR-10's format to %s\n",
                  static_cast<long long>(images), dataDir.c_str());
      writeSyntheticCifar(dataDir, images);
    }
    // SimCLR's CIFAR-10 recipe at the size: ResNet-18 (small-image stem), projector
    // 512-2048-128 with batch norm, NT-Xent at T = 0.5, the "simclr" augmentation.
    const nlohmann::json j{
        {"name", "bench-gpu-simclr-resnet18"},
        {"data", {{"source", "cifar10:" + dataDir}}},
        {"method",
         {{"name", "simclr"},
          {"params", {{"temperature", 0.5}, {"proj_hidden", 2048}, {"proj_dim", 128}}}}},
        {"backbone", {{"name", "resnet18"}, {"width", 64}}},
        {"augment", {{"preset", "simclr"}}},
        {"optimizer", {{"name", "adam"}, {"lr", 1e-3}, {"weight_decay", 1e-6}}},
        {"schedule", {{"epochs", 100}, {"batch_size", batch}, {"warmup_epochs", 0}}},
        {"eval", {{"knn_every", 0}}},
        {"run",
         {{"seed", 0}, {"device", device}, {"log_every", 10}, {"checkpoint_every", 1000000}}}};
    const Experiment e = experimentFromJson(j);
    {
      const Session s = makeSession(e);
      checkPrefetcher(s.data.train, batch, s.device);
    }
    TrainOptions options{(tmp / "runs").string()};
    options.stepsOverride = warm + steps;
    Rows rows;
    std::printf("pretext: simclr resnet18, batch %d, device %s, %d warm-up + %d timed steps\n",
                batch, device.c_str(), warm, steps);
    std::fflush(stdout);
    Trainer(e, options, &rows).run();
    // The rows at the end of the warm-up and at the last step.
    auto first = std::find_if(rows.rows.begin(), rows.rows.end(),
                              [&](const auto& r) { return r.first >= warm; });
    if (first == rows.rows.end() || rows.rows.back().first <= first->first)
      throw Error("bench_gpu: too few steps to time (give --steps >= 10)");
    const auto& last = rows.rows.back();
    const double mine =
        double(batch) * double(last.first - first->first) / (last.second - first->second);
    int64_t params = 0;  // the same model as the peer's: it prints its count too
    for (const auto& p : makeSession(e).method->trainableParameters()) params += p.numel();
    std::printf("pretext: %.0f source img/s (steps %lld-%lld), %lld parameters\n", mine,
                static_cast<long long>(first->first), static_cast<long long>(last.first),
                static_cast<long long>(params));

    std::vector<std::pair<std::string, double>> peers;
    for (size_t at = 0; at <= workers.size();) {
      const size_t comma = std::min(workers.find(',', at), workers.size());
      const std::string w = workers.substr(at, comma - at);
      at = comma + 1;
      if (w.empty() || w == "none") continue;
      const auto r = bench::runPeer(python + " '" PRETEXT_SOURCE_DIR "/bench/peer_gpu.py' '" +
                                    dataDir + "' " + std::to_string(steps) + " " + w + " " +
                                    device + " " + std::to_string(batch));
      peers.emplace_back(w, bench::number(r, "img_per_s"));
    }
    std::printf("\n== SimCLR ResNet-18, 32x32, batch %d, %s (%s) ==\n", batch, device.c_str(),
                describeDevice(resolveDevice(device)).c_str());
    std::printf("%-34s %10s %8s\n", "", "img/s", "ratio");
    std::printf("%-34s %10.0f\n", "pretext", mine);
    for (const auto& [w, rate] : peers) {
      const std::string label = "peer (DataLoader, " + w + " workers)";
      if (rate > 0) std::printf("%-34s %10.0f %7.2fx\n", label.c_str(), rate, mine / rate);
      else std::printf("%-34s %10s  (no result)\n", label.c_str(), "-");
    }
    std::error_code ec;
    fs::remove_all(tmp, ec);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "bench_gpu: %s\n", ex.what());
    return 1;
  }
  return 0;
}
