#include "core/interop/import_run.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "core/config/experiment.h"
#include "core/interop/export_run.h"
#include "core/interop/torch_weights.h"
#include "core/methods/method.h"
#include "core/train/checkpoint.h"
#include "core/train/optim.h"
#include "core/train/run_dir.h"
#include "core/train/trainer.h"
#include "core/util/error.h"

namespace pretext {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The sidecar Pretext's export wrote beside the file, or null.
json readSidecar(const std::string& weightsPath) {
  const std::string path = sidecarPathFor(weightsPath);
  std::ifstream in(path);
  if (!in) return nullptr;
  const json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("format", std::string()) != "pretext-encoder") return nullptr;
  return j;
}

std::vector<std::string> notesOf(const StateDictFile& f, const std::vector<std::string>& ignored) {
  std::vector<std::string> notes;
  if (!f.foundUnder.empty()) notes.push_back("the state_dict was under \"" + f.foundUnder + "\"");
  if (!f.strippedPrefix.empty()) notes.push_back("key prefix \"" + f.strippedPrefix + "\" stripped");
  if (!f.skippedEntries.empty()) {
    std::string s;
    for (size_t i = 0; i < f.skippedEntries.size() && i < 6; ++i) s += (i ? ", " : "") + f.skippedEntries[i];
    if (f.skippedEntries.size() > 6) s += ", ...";
    const size_t n = f.skippedEntries.size();
    notes.push_back(std::to_string(n) + (n == 1 ? " tensor" : " tensors") +
                    " beside the encoder's left out (" + s + ")");
  }
  if (!ignored.empty())
    notes.push_back("the classifier (" + std::to_string(ignored.size()) +
                    " fc.* tensors) left out: not part of the encoder");
  return notes;
}

}  // namespace

std::vector<std::string> initEncoderFrom(Method& method, const Experiment& e, const std::string& file) {
  if (!fs::exists(file))
    throw Error("model.init_from = \"" + file + "\": no such file (expected a PyTorch state_dict, "
                "e.g. one that pretext-cli export or torch.save wrote)");
  const StateDictFile f = readStateDict(file);
  try {
    return notesOf(f, loadEncoderTensors(*method.encoder(), e.backbone, f.tensors));
  } catch (const Error& err) {
    throw Error("model.init_from = \"" + file + "\": " + err.what());
  }
}

ImportSummary importWeights(const ImportOptions& o, const std::function<void(const std::string&)>& log) {
  auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  const StateDictFile f = readStateDict(o.file);
  const json sidecar = readSidecar(o.file);
  const json arch = sidecar.is_null() ? json::object() : sidecar.value("architecture", json::object());
  std::string name = o.arch.empty() ? arch.value("name", std::string()) : o.arch;
  BackboneOptions like;
  like.heads(o.heads > 0 ? o.heads : arch.value("heads", int64_t(4)));
  InferredBackbone inferred;
  try {
    inferred = inferBackbone(f.tensors, name, like);
  } catch (const Error& err) {
    throw Error(o.file + ": " + err.what());
  }
  const BackboneOptions& b = inferred.options;
  if (!o.stem.empty() && o.stem != b.stem())
    throw Error(o.file + ": --stem " + o.stem + ", but its conv1.weight has " +
                (b.stem() == "imagenet" ? "7x7" : "3x3") + " kernels: the " + b.stem() +
                " stem (drop --stem, or pass --stem " + b.stem() + ")");

  Experiment e;
  e.name = o.name.empty() ? "imported-" + fs::path(o.file).stem().string() : o.name;
  e.description = "Weights imported from " + fs::absolute(o.file).lexically_normal().string();
  e.method = "pretrained";
  e.backbone = b.name();
  e.width = b.width();
  e.stem = b.stem();
  e.patchSize = b.patchSize();
  e.depth = b.depth();
  e.heads = b.heads();
  e.data = !o.data.empty() ? o.data
           : sidecar.is_object() && sidecar.contains("data") ? sidecar["data"].get<std::string>()
           : b.inChannels() == 1 ? "fashion-mnist"
                                 : "photos";
  e.imageSize = o.imageSize > 0              ? o.imageSize
                : inferred.imageSize > 0     ? inferred.imageSize
                : sidecar.is_object()        ? sidecar.value("input", json::object()).value("height", int64_t(32))
                                             : 32;
  e.knnEvery = 0;
  e.initFrom = fs::absolute(o.file).lexically_normal().string();
  e = experimentFromJson(experimentToJson(e));  // validated, defaults resolved
  say("reading " + e.data + " for the " + b.name() + " (" + std::to_string(b.inChannels()) +
      "-channel input)");
  Session s = makeSession(e);
  const int64_t channels = s.data.train.channels();
  if (channels != b.inChannels())
    throw Error(o.file + " takes " + std::to_string(b.inChannels()) + "-channel images, and " +
                e.data + " has " + std::to_string(channels) + "-channel ones: choose a source with " +
                std::to_string(b.inChannels()) + " channels with --data (" +
                (b.inChannels() == 3 ? "cifar10:DIR, stl10:DIR, folder:DIR, photos" : "fashion-mnist, mnist:DIR") +
                ")");
  if (inferred.imageSize > 0 && s.data.train.height() != inferred.imageSize)
    throw Error(o.file + ": the vit's position embeddings fix the images at " +
                std::to_string(inferred.imageSize) + " pixels, and " + e.data + " has " +
                std::to_string(s.data.train.height()) + "-pixel ones");
  std::vector<std::string> ignored;
  try {
    ignored = loadEncoderTensors(*s.method->encoder(), b.name(), f.tensors);
  } catch (const Error& err) {
    throw Error(o.file + ": " + err.what());
  }
  ImportSummary out;
  out.arch = b.name();
  out.tensors = static_cast<int64_t>(f.tensors.size());
  out.notes = notesOf(f, ignored);
  out.backboneSettings = "--set backbone.name=" + b.name() + " --set backbone.width=" + std::to_string(b.width());
  if (b.name() != "convnet" && b.name() != "vit" && b.stem() != "small")
    out.backboneSettings += " --set backbone.stem=" + b.stem();
  if (b.name() == "vit")
    out.backboneSettings += " --set backbone.patch_size=" + std::to_string(b.patchSize()) +
                            " --set backbone.depth=" + std::to_string(b.depth()) +
                            " --set backbone.heads=" + std::to_string(b.heads());

  const RunDirectory run = RunDirectory::create(o.outDir, e);
  out.runDir = run.path();
  try {
    Optimizer optimizer(s.method->trainableParameters(), e);
    saveCheckpoint(run, *s.method, optimizer, 0, 0, /*finished=*/true);
    run.writeState({{"step", 0}, {"epoch", 0}, {"finished", true}, {"embedding_dim", 0},
                    {"imported_from", e.initFrom}});
    run.appendLog("imported " + std::to_string(out.tensors) + " tensors from " + e.initFrom +
                  " into a " + b.name() + " encoder (" + std::to_string(s.method->encoder()->featureDim()) +
                  "-d features)");
    for (const auto& n : out.notes) run.appendLog("note: " + n);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(run.path(), ec);
    throw;
  }
  return out;
}

}  // namespace pretext
