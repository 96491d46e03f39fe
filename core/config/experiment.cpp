#include "core/config/experiment.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "core/augment/augment.h"
#include "core/methods/registry.h"
#include "core/models/backbone.h"
#include "core/util/error.h"
#include "core/util/json_fields.h"

namespace pretext {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string fmt(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// Reads one section's fields by name, refusing unknown keys and wrong types.
class SectionReader {
 public:
  SectionReader(const json& root, std::string section) : section_(std::move(section)) {
    if (root.contains(section_)) {
      node_ = root.at(section_);
      if (!node_.is_object()) throw Error(section_ + ": expected an object, got " + node_.dump());
    }
  }
  template <typename T>
  SectionReader& field(const std::string& key, T& out) {
    known_.push_back(key);
    if (!node_.contains(key)) return *this;
    const json& v = node_.at(key);
    const std::string where = section_ + "." + key + " = " + v.dump();
    if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) throw Error(where + ": expected true or false");
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!v.is_string()) throw Error(where + ": expected a string");
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      // nlohmann's own conversion is a plain cast: undefined for a float beyond the type's range.
      int64_t i = 0;
      if (v.is_number_unsigned()) {
        out = v.get<uint64_t>();
        return *this;
      }
      if (!jsonToInt64(v, &i) || i < 0) throw Error(where + ": expected an integer from 0 to 2^64 - 1");
      out = static_cast<uint64_t>(i);
      return *this;
    } else if constexpr (std::is_integral_v<T>) {
      static_assert(std::is_same_v<T, int64_t>, "whole numbers are int64_t or uint64_t");
      if (!jsonToInt64(v, &out)) throw Error(where + ": expected an integer (within +-2^63)");
      return *this;
    } else {
      if (!v.is_number() || !std::isfinite(v.get<double>())) throw Error(where + ": expected a finite number");
    }
    out = v.get<T>();
    return *this;
  }
  SectionReader& raw(const std::string& key, json& out) {
    known_.push_back(key);
    if (node_.contains(key)) out = node_.at(key);
    return *this;
  }
  void finish() const {
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (std::find(known_.begin(), known_.end(), it.key()) == known_.end()) {
        std::string k;
        for (const auto& s : known_) k += (k.empty() ? "" : ", ") + s;
        throw Error(section_ + "." + it.key() + ": unknown field; known fields: " + k);
      }
    }
  }

 private:
  std::string section_;
  json node_ = json::object();
  std::vector<std::string> known_;
};

void require(bool ok, const std::string& path, double value, const std::string& expected) {
  if (!ok) throw Error(path + " = " + fmt(value) + ": expected " + expected);
}

void requireChoice(const std::string& path, const std::string& value,
                   const std::vector<std::string>& choices) {
  if (std::find(choices.begin(), choices.end(), value) != choices.end()) return;
  std::string c;
  for (const auto& s : choices) c += (c.empty() ? "" : ", ") + s;
  throw Error(path + " = \"" + value + "\": expected one of " + c);
}

const std::vector<std::string> kSections = {"name", "description", "data", "method", "backbone",
                                            "model", "augment", "optimizer", "schedule", "eval", "run"};

}  // namespace

Experiment experimentFromJson(const json& j) {
  if (!j.is_object()) throw Error("experiment: expected a JSON object at the top level");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(kSections.begin(), kSections.end(), it.key()) == kSections.end())
      throw Error(it.key() + ": unknown section; sections are name, description, data, method, "
                  "backbone, model, augment, optimizer, schedule, eval, run");
  }
  Experiment e;
  if (j.contains("name")) {
    if (!j["name"].is_string()) throw Error("name: expected a string");
    e.name = j["name"];
  }
  if (j.contains("description")) {
    if (!j["description"].is_string()) throw Error("description: expected a string");
    e.description = j["description"];
  }
  SectionReader(j, "data").field("source", e.data).field("image_size", e.imageSize)
      .field("limit", e.dataLimit).field("clip_frames", e.clipFrames).field("clip_stride", e.clipStride)
      .finish();
  json params = json::object();
  SectionReader(j, "method").field("name", e.method).raw("params", params).finish();
  SectionReader(j, "backbone").field("name", e.backbone).field("width", e.width)
      .field("patch_size", e.patchSize).field("depth", e.depth).field("heads", e.heads).field("stem", e.stem)
      .field("norm", e.norm).finish();
  SectionReader(j, "model").field("init_from", e.initFrom).finish();
  if (j.contains("augment")) e.augment = j["augment"];
  SectionReader(j, "optimizer").field("name", e.optimizer).field("lr", e.lr)
      .field("momentum", e.momentum).field("nesterov", e.nesterov)
      .field("beta1", e.beta1).field("beta2", e.beta2)
      .field("weight_decay", e.weightDecay).field("exclude_bias_norm", e.excludeBiasNorm)
      .field("grad_clip", e.gradClip).field("lars_eta", e.larsEta)
      .field("lr_scaling", e.lrScaling).field("lr_reference_batch", e.lrReferenceBatch).finish();
  int64_t batchPerProcess = 0;  // written for the reader (batch_size / world_size); not a setting
  SectionReader(j, "schedule").field("epochs", e.epochs).field("steps", e.steps)
      .field("batch_size", e.batchSize).field("batch_per_process", batchPerProcess)
      .field("warmup_epochs", e.warmupEpochs).field("lr_schedule", e.lrSchedule).finish();
  SectionReader(j, "eval").field("knn_every", e.knnEvery).field("knn_k", e.knnK)
      .field("knn_temperature", e.knnTemperature).field("knn_train_limit", e.knnTrainLimit)
      .field("knn_test_limit", e.knnTestLimit).finish();
  SectionReader(j, "run").field("seed", e.seed).field("device", e.device)
      .field("precision", e.precision).field("channels_last", e.channelsLast)
      .field("threads", e.threads).field("checkpoint_every", e.checkpointEvery)
      .field("log_every", e.logEvery).field("tensorboard", e.tensorboard)
      .field("sync_batch_norm", e.syncBatchNorm).field("dist_timeout", e.distTimeout)
      .field("world_size", e.worldSize).finish();

  // Values.
  if (e.data.empty()) throw Error("data.source: expected a data spec such as fashion-mnist or cifar10:DIR");
  require(e.imageSize >= 8 && e.imageSize <= 1024, "data.image_size", e.imageSize, "a value in [8, 1024]");
  require(e.dataLimit >= 0, "data.limit", e.dataLimit, "a value >= 0 (0 = all)");
  require(e.clipFrames >= 1 && e.clipFrames <= 64, "data.clip_frames", e.clipFrames,
          "a value in [1, 64] (frames per clip of a video source)");
  require(e.clipStride >= 1 && e.clipStride <= 100, "data.clip_stride", e.clipStride,
          "a value in [1, 100] (frames between a clip's frames)");
  const MethodInfo& info = MethodRegistry::instance().get(e.method);
  e.methodParams = resolveParams(info, params, "method.params");
  requireChoice("backbone.name", e.backbone, backboneNames());
  // The image size is known once the data is loaded: makeBackbone checks the patch tiling then.
  backboneOptionsOf(e, 1, 0).validateArchitecture();
  if (e.augment.is_null()) e.augment = json{{"preset", info.defaultAugment}};
  if (!e.augment.is_object()) throw Error("augment: expected an object such as {\"preset\": \"simclr\"}");
  augmentFromJson(e.augment);  // validates (names augment.<field>)
  requireChoice("optimizer.name", e.optimizer, {"sgd", "adam", "adamw", "lars", "rmsprop"});
  require(e.lr > 0 && e.lr <= 100, "optimizer.lr", e.lr, "a value in (0, 100]");
  require(e.momentum >= 0 && e.momentum < 1, "optimizer.momentum", e.momentum, "a value in [0, 1)");
  require(e.beta1 >= 0 && e.beta1 < 1, "optimizer.beta1", e.beta1,
          "a value in [0, 1) (Adam's first-moment decay; 0.9 by default, DCGAN 0.5, WGAN-GP 0)");
  require(e.beta2 >= 0 && e.beta2 < 1, "optimizer.beta2", e.beta2,
          "a value in [0, 1) (Adam's second-moment decay; 0.999 by default, WGAN-GP 0.9)");
  require(e.weightDecay >= 0 && e.weightDecay <= 1, "optimizer.weight_decay", e.weightDecay, "a value in [0, 1]");
  require(e.gradClip >= 0, "optimizer.grad_clip", e.gradClip, "a value >= 0 (0 = off)");
  require(e.larsEta > 0 && e.larsEta <= 1, "optimizer.lars_eta", e.larsEta, "a value in (0, 1]");
  requireChoice("optimizer.lr_scaling", e.lrScaling, {"none", "linear", "sqrt"});
  require(e.lrReferenceBatch >= 1, "optimizer.lr_reference_batch", e.lrReferenceBatch, "a value >= 1");
  if (e.nesterov && e.optimizer != "sgd" && e.optimizer != "lars")
    throw Error("optimizer.nesterov = true: Nesterov momentum needs optimizer.name sgd or lars");
  require(e.epochs >= 1 && e.epochs <= 100000, "schedule.epochs", e.epochs, "a value in [1, 100000]");
  require(e.steps >= 0, "schedule.steps", e.steps, "a value >= 0 (0 = use schedule.epochs)");
  require(e.batchSize >= 2 && e.batchSize <= 65536, "schedule.batch_size", e.batchSize, "a value in [2, 65536]");
  require(e.warmupEpochs >= 0, "schedule.warmup_epochs", e.warmupEpochs, "a value >= 0");
  requireChoice("schedule.lr_schedule", e.lrSchedule, {"cosine", "constant"});
  require(e.knnEvery >= 0, "eval.knn_every", e.knnEvery, "a value >= 0 (0 = off)");
  require(e.knnK >= 1, "eval.knn_k", e.knnK, "a value >= 1");
  require(e.knnTemperature > 0, "eval.knn_temperature", e.knnTemperature, "a value > 0");
  require(e.knnTrainLimit >= 0, "eval.knn_train_limit", e.knnTrainLimit, "a value >= 0 (0 = all)");
  require(e.knnTestLimit >= 0, "eval.knn_test_limit", e.knnTestLimit, "a value >= 0 (0 = all)");
  if (!(e.device == "auto" || e.device == "cpu" || e.device == "cuda" || e.device.rfind("cuda:", 0) == 0))
    throw Error("run.device = \"" + e.device + "\": expected auto, cpu, cuda or cuda:N");
  requireChoice("run.precision", e.precision, {"auto", "fp32", "bf16"});
  require(e.threads >= 0, "run.threads", e.threads, "a value >= 0 (0 = every core)");
  require(e.checkpointEvery >= 0, "run.checkpoint_every", e.checkpointEvery, "a value >= 0 (0 = every epoch)");
  require(e.logEvery >= 1, "run.log_every", e.logEvery, "a value >= 1");
  require(e.distTimeout >= 1, "run.dist_timeout", e.distTimeout, "a value >= 1 (seconds)");
  require(e.worldSize >= 1, "run.world_size", e.worldSize, "a value >= 1");
  return e;
}

json experimentToJson(const Experiment& e) {
  json j = json{
      {"name", e.name},
      {"description", e.description},
      {"data", {{"source", e.data}, {"image_size", e.imageSize}, {"limit", e.dataLimit}}},
      {"method", {{"name", e.method}, {"params", e.methodParams}}},
      {"backbone", {{"name", e.backbone}, {"width", e.width}, {"patch_size", e.patchSize},
                    {"depth", e.depth}, {"heads", e.heads}, {"stem", e.stem},
                    {"norm", e.norm}}},
      {"model", {{"init_from", e.initFrom}}},
      {"augment", e.augment},
      {"optimizer", {{"name", e.optimizer}, {"lr", e.lr}, {"momentum", e.momentum},
                     {"nesterov", e.nesterov}, {"beta1", e.beta1}, {"beta2", e.beta2},
                     {"weight_decay", e.weightDecay},
                     {"exclude_bias_norm", e.excludeBiasNorm}, {"grad_clip", e.gradClip},
                     {"lars_eta", e.larsEta}, {"lr_scaling", e.lrScaling},
                     {"lr_reference_batch", e.lrReferenceBatch}}},
      {"schedule", {{"epochs", e.epochs}, {"steps", e.steps}, {"batch_size", e.batchSize},
                    {"batch_per_process", e.batchSize / std::max<int64_t>(1, e.worldSize)},
                    {"warmup_epochs", e.warmupEpochs}, {"lr_schedule", e.lrSchedule}}},
      {"eval", {{"knn_every", e.knnEvery}, {"knn_k", e.knnK}, {"knn_temperature", e.knnTemperature},
                {"knn_train_limit", e.knnTrainLimit}, {"knn_test_limit", e.knnTestLimit}}},
      {"run", {{"seed", e.seed}, {"device", e.device}, {"precision", e.precision},
               {"channels_last", e.channelsLast}, {"threads", e.threads},
               {"checkpoint_every", e.checkpointEvery}, {"log_every", e.logEvery},
               {"tensorboard", e.tensorboard}, {"sync_batch_norm", e.syncBatchNorm},
               {"dist_timeout", e.distTimeout}, {"world_size", e.worldSize}}},
  };
  // The clip settings only where they apply, so still-image runs keep their files as before.
  if (e.data.rfind("video:", 0) == 0 || e.data == "moving-fashion") {
    j["data"]["clip_frames"] = e.clipFrames;
    j["data"]["clip_stride"] = e.clipStride;
  }
  return j;
}

double scaledLr(const Experiment& e) {
  const double ratio = double(e.batchSize) / double(std::max<int64_t>(1, e.lrReferenceBatch));
  if (e.lrScaling == "linear") return e.lr * ratio;
  if (e.lrScaling == "sqrt") return e.lr * std::sqrt(ratio);
  return e.lr;
}

BackboneOptions backboneOptionsOf(const Experiment& e, int64_t channels, int64_t imageSize) {
  return BackboneOptions()
      .name(e.backbone)
      .width(e.width)
      .patchSize(e.patchSize)
      .depth(e.depth)
      .heads(e.heads)
      .stem(e.stem)
      .norm(e.norm)
      .inChannels(channels)
      .imageSize(imageSize);
}

json parseExperimentJson(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& err) {
    throw Error(source + ": not valid JSON at byte " + std::to_string(err.byte) + ": " + err.what());
  } catch (const json::exception& err) {
    // out_of_range 406: a number beyond a double's range, such as 1e999.
    throw Error(source + ": " + err.what());
  }
}

json readExperimentJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the file (does it exist?)");
  std::ostringstream text;
  text << in.rdbuf();
  return parseExperimentJson(text.str(), path);
}

Experiment loadExperiment(const std::string& path) {
  try {
    return experimentFromJson(readExperimentJsonFile(path));
  } catch (const Error& err) {
    const std::string msg = err.what();
    if (msg.rfind(path, 0) == 0) throw;
    throw Error(path + ": " + msg);
  }
}

void saveExperiment(const Experiment& e, const std::string& path) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw Error(path + ": cannot write the file");
    out << experimentToJson(e).dump(2) << "\n";
    if (!out.flush()) throw Error(path + ": write failed (disk full?)");
  }
  fs::rename(tmp, path);
}

void applyOverride(json& j, const std::string& assignment) {
  try {
    // nlohmann refuses to write a string that is not UTF-8 (json::type_error 316): every error
    // message below and the run's experiment.json would.
    (void)json(assignment).dump();
  } catch (const json::type_error&) {
    throw Error("--set " + json(assignment).dump(-1, ' ', false, json::error_handler_t::replace) +
                ": not valid UTF-8 text");
  }
  if (!j.is_object() && !j.is_null())
    throw Error("--set " + assignment + ": the experiment is not a JSON object, so it has no settings to set");
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--set " + assignment + ": expected key.path=value, e.g. optimizer.lr=0.01");
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  json value;
  try {
    value = json::parse(text);
  } catch (const json::parse_error&) {
    value = text;  // a bare word is a string
  } catch (const json::exception&) {
    throw Error("--set " + assignment + ": " + text + " is a number beyond the range of a double");
  }
  std::vector<std::string> keys;
  std::stringstream ss(path);
  for (std::string k; std::getline(ss, k, '.');) {
    if (k.empty()) throw Error("--set " + assignment + ": empty key in \"" + path + "\"");
    keys.push_back(k);
  }
  if (std::find(kSections.begin(), kSections.end(), keys[0]) == kSections.end())
    throw Error("--set " + assignment + ": unknown section \"" + keys[0] +
                "\"; sections are data, method, backbone, model, augment, optimizer, schedule, eval, run");
  json* node = &j;
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    json& next = (*node)[keys[i]];
    if (next.is_null()) next = json::object();
    if (!next.is_object()) throw Error("--set " + assignment + ": " + keys[i] + " is not a section");
    node = &next;
  }
  (*node)[keys.back()] = value;
}

std::string resourceDirectory(const std::string& sub) {
  if (const char* env = std::getenv("PRETEXT_RESOURCES")) return std::string(env) + "/" + sub;
  return std::string(PRETEXT_RESOURCE_DIR) + "/" + sub;
}

bool isPlainResourceName(const std::string& name) {
  return !name.empty() && name.size() <= 200 && name[0] != '.' &&
         name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

std::string presetDirectory() { return resourceDirectory("presets"); }

std::vector<std::string> presetNames() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(presetDirectory(), ec))
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

json loadPresetJson(const std::string& name) {
  const std::string path = presetDirectory() + "/" + name + ".json";
  // A preset is a file name in the presets folder: no path, nothing the file system refuses to
  // look up (a 300-character name threw std::filesystem's error past every caller; found by
  // fuzz/sweep_fuzz.cpp).
  std::error_code ec;
  if (!isPlainResourceName(name) || !fs::is_regular_file(path, ec)) {
    std::string known;
    for (const auto& n : presetNames()) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown preset \"" + name + "\"; presets: " + (known.empty() ? "(none found in " + presetDirectory() + ")" : known));
  }
  return readExperimentJsonFile(path);
}

}  // namespace pretext
