#include "core/train/checkpoint.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/methods/method.h"
#include "core/train/archive_check.h"
#include "core/train/optim.h"
#include "core/train/run_dir.h"
#include "core/train/trainer.h"
#include "core/util/error.h"

namespace pretext {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Every parameter and buffer of the method by its dotted name (the names Module::save uses).
std::vector<std::pair<std::string, torch::Tensor>> namedTensorsOf(Method& method) {
  std::vector<std::pair<std::string, torch::Tensor>> all;
  for (const auto& p : method.named_parameters(/*recurse=*/true))
    all.emplace_back(p.key(), p.value());
  for (const auto& b : method.named_buffers(/*recurse=*/true)) all.emplace_back(b.key(), b.value());
  return all;
}

// Half precision holds magnitudes up to 65504; a margin keeps rounding from overflowing.
constexpr double kHalfSafeMagnitude = 65000;

bool fitsInHalf(const torch::Tensor& t) {
  if (t.numel() == 0) return true;
  const auto magnitude = t.detach().abs().max();
  return magnitude.isfinite().item<bool>() && magnitude.item<double>() <= kHalfSafeMagnitude;
}

void copyFileIfPresent(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (!fs::exists(from, ec)) return;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) throw Error(to + ": cannot write (" + ec.message() + ")");
}

uint64_t fileBytes(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

// The archive's bytes. LibTorch's writer to a file throws from its destructor when the disk fills
// up (std::terminate: found by filling a small tmpfs); in memory it cannot fail, and
// writeFileAtomically checks every write.
std::string archiveBytes(torch::serialize::OutputArchive& archive) {
  std::ostringstream bytes;
  archive.save_to(bytes);
  return std::move(bytes).str();
}

// state.json's "packed": true only when it is the boolean true (json::value() threw nlohmann's
// type_error for a state.json that is not an object, or a "packed" of another type).
bool packedState(const json& state) {
  const auto it = state.find("packed");
  return it != state.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

void saveCheckpoint(const RunDirectory& run, Method& method, Optimizer& optimizer, int64_t step,
                    int64_t epoch, bool finished, EpochLossSoFar epochLoss) {
  torch::serialize::OutputArchive archive, model, optim;
  method.save(model);
  optimizer.torchOptimizer().save(optim);
  archive.write("model", model);
  archive.write("optimizer", optim);
  archive.write("step", torch::tensor(step));
  archive.write("epoch_loss", torch::tensor({epochLoss.sum, double(epochLoss.steps)}, torch::kDouble));
  writeFileAtomically(run.file("checkpoint.pt"), archiveBytes(archive));
  writeCheckpointState(run, method, step, epoch, finished);
}

void writeCheckpointState(const RunDirectory& run, Method& method, int64_t step, int64_t epoch, bool finished) {
  run.writeState({{"step", step},
                  {"epoch", epoch},
                  {"finished", finished},
                  {"embedding_dim", method.embeddingDim()}});
}

bool isPackedRun(const std::string& runDir) {
  std::ifstream in(runDir + "/state.json");
  if (!in) return false;
  const json state = json::parse(in, nullptr, /*allow_exceptions=*/false);
  return packedState(state);
}

int64_t loadCheckpoint(const RunDirectory& run, Method& method, Optimizer* optimizer,
                       c10::Device device, EpochLossSoFar* epochLoss) {
  const std::string path = run.file("checkpoint.pt");
  const json state = run.state();
  const bool packed = packedState(state);
  if (packed && optimizer)
    throw Error(run.path() +
                " is a packed run (an example: its model in half precision, no "
                "optimiser state), so it cannot be resumed; train a new run from its "
                "experiment.json instead");
  std::set<std::string> keptFloat32;
  if (packed && state.contains("float32") && state["float32"].is_array())
    for (const auto& name : state["float32"])
      if (name.is_string()) keptFloat32.insert(name.get<std::string>());
  verifyArchiveIntegrity(path);  // before LibTorch's reader, which trusts every byte
  torch::NoGradGuard noGrad;
  // A packed archive holds half tensors, and loading replaces each tensor's storage only when
  // the types agree: the method's float32 tensors become half first, and float32 again after.
  std::vector<torch::Tensor> halved;
  if (packed)
    for (auto& [name, t] : namedTensorsOf(method))
      if (t.scalar_type() == torch::kFloat && !keptFloat32.count(name)) {
        t.set_data(t.to(torch::kHalf));
        halved.push_back(t);
      }
  try {
    torch::serialize::InputArchive archive, model, optim;
    archive.load_from(path, device);
    archive.read("model", model);
    method.load(model);
    if (optimizer) {
      archive.read("optimizer", optim);
      optimizer->torchOptimizer().load(optim);
    }
    for (auto& t : halved) t.set_data(t.to(torch::kFloat));
    torch::Tensor step, soFar;
    archive.read("step", step);
    if (epochLoss && archive.try_read("epoch_loss", soFar) && soFar.numel() == 2) {
      soFar = soFar.to(torch::kCPU, torch::kDouble);
      epochLoss->sum = soFar[0].item<double>();
      epochLoss->steps = static_cast<int64_t>(soFar[1].item<double>());
    }
    return step.item<int64_t>();
  } catch (const std::exception& e) {
    // c10::Error from the archive's reader and tensors, and torch::jit::ErrorReport (a
    // std::exception) from the TorchScript an archive carries in code/, which loading compiles.
    for (auto& t : halved)
      if (t.scalar_type() != torch::kFloat) t.set_data(t.to(torch::kFloat));
    const auto* c10Error = dynamic_cast<const c10::Error*>(&e);
    throw Error(path +
                ": cannot read the checkpoint (damaged, or written by a different "
                "method/backbone): " +
                std::string(c10Error ? c10Error->what_without_backtrace() : e.what()).substr(0, 300));
  }
}

PackSummary packRun(const std::string& runDir, const std::string& outDir) {
  if (isPackedRun(runDir)) throw Error(runDir + " is already packed");
  std::error_code ec;
  if (fs::exists(outDir, ec) && !fs::is_empty(outDir, ec))
    throw Error(outDir + ": exists and is not empty; pack into a new folder");
  Session s = loadRunSession(runDir);  // throws naming a missing checkpoint or experiment
  const RunDirectory run = RunDirectory::open(runDir);
  fs::create_directories(outDir, ec);
  if (ec) throw Error(outDir + ": cannot create the folder (" + ec.message() + ")");

  PackSummary summary;
  {
    torch::NoGradGuard noGrad;
    for (auto& [name, t] : namedTensorsOf(*s.method)) {
      if (t.scalar_type() != torch::kFloat) continue;
      if (fitsInHalf(t)) {
        t.set_data(t.to(torch::kHalf));
        ++summary.halfTensors;
      } else {
        summary.float32Tensors.push_back(name);
      }
    }
  }
  const std::string checkpoint = outDir + "/checkpoint.pt";
  {
    torch::serialize::OutputArchive archive, model;
    s.method->save(model);
    archive.write("model", model);
    archive.write("step", torch::tensor(run.state().value("step", int64_t(0))));
    writeFileAtomically(checkpoint, archiveBytes(archive));
  }

  for (const char* name : {"experiment.json", "metrics.csv", "log.txt", "evaluations.jsonl"})
    copyFileIfPresent(run.file(name), outDir + "/" + name);
  for (fs::directory_iterator it(runDir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("eval", 0) == 0 && it->path().extension() == ".json")
      copyFileIfPresent(it->path().string(), outDir + "/" + name);
  }
  {
    // The curves read their steps from metrics.csv; metrics.jsonl keeps what only it has (the
    // kNN evaluations and the epoch summaries).
    std::ifstream in(run.file("metrics.jsonl"));
    std::ofstream out(outDir + "/metrics.jsonl");
    std::string line;
    while (in && std::getline(in, line)) {
      const json row = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (row.is_object() && row.value("type", std::string()) == "step") continue;
      out << line << "\n";
    }
  }
  json state = run.state();
  state["packed"] = true;
  state["float32"] = summary.float32Tensors;
  state["packed_from"] = fs::path(runDir).filename().string();
  RunDirectory::open(outDir).writeState(state);

  summary.checkpointBytes = fileBytes(checkpoint);
  for (fs::directory_iterator it(outDir, ec), end; !ec && it != end; it.increment(ec))
    summary.totalBytes += fileBytes(it->path().string());
  return summary;
}

}  // namespace pretext
