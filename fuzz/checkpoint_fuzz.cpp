// libFuzzer harness for checkpoint loading (core/train/checkpoint.cpp, loadCheckpoint): what
// `pretext-cli eval RUN`, `train --resume RUN` and the window's File > Open run read. The method
// is RotNet (rotation, a linear head) on a ConvNet of width 2 for 16x16 grey images, built anew
// per input (a loaded checkpoint may have changed it). The first byte chooses the file the rest
// of the input becomes (bit 0: RUN/checkpoint.pt or RUN/state.json; the other is valid) and
// whether the optimiser's state is loaded too (bit 1: resuming). Every refusal must be a
// pretext::Error, and a checkpoint that loads must leave every tensor of the method with the
// shape and type it had.
//   scripts/fuzz.sh checkpoint [SECONDS]
// PRETEXT_CHECKPOINT_SEEDS=DIR replay_checkpoint writes the seeds (tests/fuzz_corpus/checkpoint).
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/config/experiment.h"
#include "core/methods/registry.h"
#include "core/train/checkpoint.h"
#include "core/train/optim.h"
#include "core/train/run_dir.h"
#include "core/util/error.h"
#include "fuzz/fuzz_files.h"

namespace {

struct Tiny {
  std::shared_ptr<pretext::Method> method;
  std::unique_ptr<pretext::Optimizer> optimizer;
};

Tiny tinyRotation() {
  pretext::MethodSetup setup;
  setup.channels = 1;
  setup.imageSize = 16;
  setup.backbone.width(2);
  setup.params = {{"head", "linear"}};
  Tiny t;
  t.method = pretext::makeMethod("rotation", setup);
  t.optimizer = std::make_unique<pretext::Optimizer>(t.method->parameters(), pretext::Experiment());
  return t;
}

std::string readWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A valid checkpoint of tinyRotation() after one optimiser step (so Adam has its state).
const std::string& validCheckpoint() {
  static const std::string* bytes = [] {
    const std::string dir = fuzzfiles::scratchFolder() + "/template";
    std::filesystem::create_directories(dir);
    fuzzfiles::writeFile(dir + "/experiment.json", "{}", 2);
    Tiny t = tinyRotation();
    for (auto& p : t.method->parameters()) p.mutable_grad() = torch::ones_like(p);
    t.optimizer->step();
    pretext::saveCheckpoint(pretext::RunDirectory::open(dir), *t.method, *t.optimizer, 7, 1, false);
    return new std::string(readWhole(dir + "/checkpoint.pt"));
  }();
  return *bytes;
}

void writeSeed(const std::string& dir, const std::string& name, uint8_t head, const std::string& body) {
  std::string b(1, static_cast<char>(head));
  b += body;
  fuzzfiles::writeFile(dir + "/" + name, b.data(), b.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (const char* seeds = std::getenv("PRETEXT_CHECKPOINT_SEEDS")) {
    writeSeed(seeds, "checkpoint", 0, validCheckpoint());
    writeSeed(seeds, "checkpoint-resume", 2, validCheckpoint());
    writeSeed(seeds, "state", 1, "{\"step\": 7, \"epoch\": 1, \"finished\": false, \"embedding_dim\": 64}");
    writeSeed(seeds, "state-packed", 1, "{\"step\": 7, \"packed\": true, \"float32\": [\"encoder.stem.weight\"]}");
    writeSeed(seeds, "state-packed-resume", 3, "{\"step\": 7, \"packed\": true}");
    std::exit(0);
  }
  if (size < 1) return 0;
  torch::set_num_threads(1);
  const std::string& valid = validCheckpoint();
  const std::string dir = fuzzfiles::scratchFolder() + "/run";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  fuzzfiles::writeFile(dir + "/experiment.json", "{}", 2);
  const bool fuzzState = data[0] & 1, resume = data[0] & 2;
  if (fuzzState) {
    fuzzfiles::writeFile(dir + "/state.json", data + 1, size - 1);
    fuzzfiles::writeFile(dir + "/checkpoint.pt", valid.data(), valid.size());
  } else {
    fuzzfiles::writeFile(dir + "/state.json", "{\"step\": 7}", 11);
    fuzzfiles::writeFile(dir + "/checkpoint.pt", data + 1, size - 1);
  }
  Tiny t = tinyRotation();
  std::vector<std::pair<std::string, torch::Tensor>> before;
  for (const auto& p : t.method->named_parameters()) before.emplace_back(p.key(), p.value().detach().clone());
  for (const auto& b : t.method->named_buffers()) before.emplace_back(b.key(), b.value().detach().clone());
  try {
    pretext::loadCheckpoint(pretext::RunDirectory::open(dir), *t.method, resume ? t.optimizer.get() : nullptr,
                            torch::kCPU);
  } catch (const pretext::Error&) {
    return 0;
  }
  size_t k = 0;
  auto same = [&](const std::string& name, const torch::Tensor& now) {
    const torch::Tensor& was = before.at(k++).second;
    if (now.sizes() != was.sizes() || now.scalar_type() != was.scalar_type()) {
      std::fprintf(stderr, "a loaded checkpoint changed %s from %s %s to %s %s\n", name.c_str(),
                   c10::toString(was.scalar_type()), c10::str(was.sizes()).c_str(),
                   c10::toString(now.scalar_type()), c10::str(now.sizes()).c_str());
      std::abort();
    }
  };
  for (const auto& p : t.method->named_parameters()) same(p.key(), p.value());
  for (const auto& b : t.method->named_buffers()) same(b.key(), b.value());
  return 0;
}
