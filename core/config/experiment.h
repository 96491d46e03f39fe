#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace pretext {

struct BackboneOptions;  // core/models/backbone.h

// One experiment = one JSON document. The GUI saves and loads exactly what the CLI runs.
// Sections: data, method, backbone, augment, optimizer, schedule, eval, run. Every field has a
// default; `experimentFromJson` validates and names the path of a bad value.
struct Experiment {
  std::string name = "experiment";
  std::string description;
  // data
  std::string data = "fashion-mnist";
  int64_t imageSize = 32;       // folder:/photos: only; IDX/CIFAR/STL keep their own size
  int64_t dataLimit = 0;        // keep at most this many training images (0 = all)
  int64_t clipFrames = 4;       // video:FILE, moving-fashion: frames per clip
  int64_t clipStride = 1;       // video:FILE, moving-fashion: frames between a clip's frames
  // method
  std::string method = "simclr";
  nlohmann::json methodParams = nlohmann::json::object();  // resolved against the schema
  // backbone
  std::string backbone = "convnet";
  int64_t width = 32;           // vit: the embedding dimension
  int64_t patchSize = 4;        // vit only
  int64_t depth = 4;            // vit only: transformer blocks
  int64_t heads = 4;            // vit only: attention heads
  std::string stem = "small";   // resnets only: small (3x3 conv) | imagenet (7x7/2 conv + max-pool)
  std::string norm = "batch";   // convnet only: batch | layer | none (a WGAN-GP critic: layer/none)
  // model
  std::string initFrom;         // a PyTorch state_dict (.pt) the encoder starts from ("" = random)
  // augmentations ({"preset": ..., overrides}); null = the method's default preset
  nlohmann::json augment;
  // optimiser
  std::string optimizer = "adam";  // sgd | adam | adamw | lars | rmsprop
  double lr = 1e-3;
  double momentum = 0.9;           // sgd and lars (rmsprop runs without momentum, as PyTorch's default)
  double beta1 = 0.9;              // adam and adamw: the moments' decay rates (DCGAN: beta1 0.5;
  double beta2 = 0.999;            //   WGAN-GP: 0 and 0.9)
  bool nesterov = false;
  double weightDecay = 1e-6;
  bool excludeBiasNorm = true;     // no weight decay (and no LARS adaptation) on biases and norms
  double gradClip = 0;             // max global gradient norm (0 = off)
  double larsEta = 0.001;          // LARS trust coefficient
  // The learning-rate scaling rule of the method's paper: optimizer.lr is the rate for
  // lr_reference_batch images, and the run trains at lr x (batch_size / reference) (linear:
  // SimCLR with SGD/LARS, BYOL, MoCo) or lr x sqrt(batch_size / reference) (SimCLR's LARS at
  // large batches); none: optimizer.lr as given. See scaledLr.
  std::string lrScaling = "none";  // none | linear | sqrt
  int64_t lrReferenceBatch = 256;
  // schedule
  int64_t epochs = 10;
  int64_t steps = 0;               // >0: a step budget instead of epochs
  int64_t batchSize = 256;
  double warmupEpochs = 1;         // linear warm-up, then the schedule
  std::string lrSchedule = "cosine";  // cosine | constant
  // evaluation
  int64_t knnEvery = 1;            // online kNN every N epochs (0 = off)
  int64_t knnK = 200;
  double knnTemperature = 0.1;
  int64_t knnTrainLimit = 10000;   // online kNN: memory bank size (0 = all)
  int64_t knnTestLimit = 2000;     // online kNN: test images (0 = all)
  // run
  uint64_t seed = 0;
  std::string device = "auto";     // auto | cpu | cuda | cuda:N
  std::string precision = "auto";  // auto | fp32 | bf16 (autocast; auto: bf16 on CUDA only)
  bool channelsLast = true;        // 4-D weights in channels-last (NHWC) layout: faster convolutions
  int64_t threads = 0;             // CPU threads (0 = every core)
  int64_t checkpointEvery = 0;     // steps between checkpoints (0 = every epoch)
  int64_t logEvery = 10;           // steps between metric rows
  bool tensorboard = true;         // also write the scalars as a TensorBoard event file, RUN/tb/
  // distributed (torchrun / srun): schedule.batch_size is the global batch, split evenly over
  // the processes
  bool syncBatchNorm = true;       // several processes: batch norm over the global batch
  int64_t distTimeout = 600;       // seconds a collective waits for the other ranks
  int64_t worldSize = 1;           // the processes the run trains on (the trainer records it)
};

// The learning rate the run trains at (before warm-up and schedule): optimizer.lr scaled by the
// rule optimizer.lr_scaling for the global batch schedule.batch_size.
double scaledLr(const Experiment& e);

// Throws pretext::Error naming the path ("optimizer.lr = -1: expected a value > 0").
Experiment experimentFromJson(const nlohmann::json& j);
nlohmann::json experimentToJson(const Experiment& e);
Experiment loadExperiment(const std::string& path);           // file -> validated experiment
// A JSON document from `text`; errors name `source` (a file's path): text that is not JSON, and
// numbers beyond a double's range (1e999: nlohmann's out_of_range), are pretext::Errors.
nlohmann::json parseExperimentJson(const std::string& text, const std::string& source);
nlohmann::json readExperimentJsonFile(const std::string& path);  // the file's text, parsed so
void saveExperiment(const Experiment& e, const std::string& path);

// The backbone an experiment builds for images of `channels` x `imageSize` pixels (the data's):
// the one place that turns the backbone section into options, for the trainer's method and the
// evaluation's random-init baseline alike.
BackboneOptions backboneOptionsOf(const Experiment& e, int64_t channels, int64_t imageSize);

// `--set key.path=value`: the value is parsed as JSON when it parses (numbers, true, arrays),
// else taken as a string. Unknown top-level sections are refused with the list of sections.
void applyOverride(nlohmann::json& j, const std::string& assignment);

// Presets live in resources/presets/NAME.json.
// PRETEXT_RESOURCES/SUB when that variable is set, else the source tree's resources/SUB
// (presets, examples, lessons, sweeps).
std::string resourceDirectory(const std::string& sub);
// A name that is a plain file name in a resources folder: no path, nothing the file system
// refuses to look up (a 300-character name threw std::filesystem's error past every caller).
bool isPlainResourceName(const std::string& name);
std::string presetDirectory();
std::vector<std::string> presetNames();
nlohmann::json loadPresetJson(const std::string& name);

}  // namespace pretext
