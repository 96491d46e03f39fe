// pretext-cli: the headless front end of the Pretext engine (train, eval, methods, data).
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "core/config/experiment.h"
#include "core/data/conform.h"
#include "core/data/dataset.h"
#include "app/cli_progress.h"
#include "app/cli_results.h"
#include "app/cli_label_curve.h"
#include "app/cli_lesson.h"
#include "app/cli_samples.h"
#include "app/cli_sweep.h"
#include "core/dist/launch_env.h"
#include "core/eval/finetune.h"
#include "core/eval/npy.h"
#include "core/eval/probes.h"
#include "core/interop/export_run.h"
#include "core/interop/import_run.h"
#include "core/methods/registry.h"
#include "core/train/checkpoint.h"
#include "core/train/examples.h"
#include "core/train/run_dir.h"
#include "core/train/sweep.h"
#include "core/train/trainer.h"
#include "core/util/device.h"
#include "core/util/error.h"
#include "core/util/threads.h"

using namespace pretext;
using json = nlohmann::json;

namespace {


int cmdTrain(const std::string& file, const std::string& preset, const std::vector<std::string>& sets,
             const std::string& out, int64_t steps, const std::string& resume, bool quiet,
             std::string* runDir = nullptr) {
  CliEvents events(quiet);
  TrainOptions options;
  options.outDir = out;
  options.stepsOverride = steps;
  // Under torchrun or srun (RANK/WORLD_SIZE, SLURM_PROCID/SLURM_NTASKS): one rank of a
  // data-parallel job; rank 0 writes the run and prints the progress.
  options.distributedFromEnv = true;
  Experiment experiment;
  if (!resume.empty()) {
    if (!file.empty() || !preset.empty() || !sets.empty())
      throw Error("--resume continues a run as it was configured: drop the experiment file, --preset and --set");
    options.resumeDir = resume;
  } else {
    if (!file.empty() && !preset.empty()) throw Error("give either an experiment file or --preset, not both");
    json j = json::object();
    if (!file.empty()) {
      j = readExperimentJsonFile(file);
    } else {
      j = loadPresetJson(preset.empty() ? "simclr-fashion" : preset);
    }
    for (const auto& s : sets) applyOverride(j, s);
    experiment = experimentFromJson(j);
  }
  Trainer trainer(experiment, options, &events);
  const std::string dir = trainer.run();
  if (runDir) *runDir = dir;
  if (readLaunchEnv().rank == 0)
    std::cout << "\nrun saved in " << dir << "\nevaluate it with: pretext-cli eval " << dir << "\n";
  return 0;
}

struct EvalArgs {
  bool knn = false, linear = false, asJson = false, randomInit = false;
  int64_t k = 200;
  double t = 0.1;
  double finetune = 0;  // fraction of labels (0 = no fine-tuning)
  int64_t freeze = 0, finetuneEpochs = 20;
  std::string probeData;  // probe on this labelled source instead of the run's own data
};

int cmdEval(const std::string& dir, EvalArgs a) {
  bool knn = a.knn, linear = a.linear;
  const bool asJson = a.asJson;
  const int64_t k = a.k;
  const double t = a.t;
  if (!knn && !linear && a.finetune <= 0) knn = linear = true;
  // --random-init: the same architecture, seeded, untrained: the baseline a method must beat.
  Session s = a.randomInit ? makeSession(RunDirectory::open(dir).experiment()) : loadRunSession(dir);
  if (!a.probeData.empty()) {
    // A transfer probe: another labelled source, its images converted to what the method was
    // trained on (channels, size), e.g. a colour method trained on photos, probed on Fashion-MNIST.
    const Dataset& like = s.data.train;
    auto probe = loadData(a.probeData, DataOptions().imageSize(like.height()).seed(s.experiment.seed));
    s.data.trainLabelled = conformImages(probe.trainLabelled, like.channels() / like.frames, like.height());
    s.data.test = conformImages(probe.test, like.channels() / like.frames, like.height());
  }
  if (!s.data.trainLabelled.labelled() || !s.data.test.labelled())
    throw Error(dir + ": the run's data (" + (a.probeData.empty() ? s.experiment.data : a.probeData) +
                ") has no labels to evaluate with; probe on a labelled source instead, e.g. "
                "--data fashion-mnist or --data cifar10:DIR");
  auto say = [&](const std::string& line) {
    if (!asJson) std::cout << line << std::endl;
  };
  s.method->eval();
  auto encode = [&](const torch::Tensor& x) { return s.method->features(x); };
  say("extracting features of " + std::to_string(s.data.trainLabelled.size()) + " train and " +
      std::to_string(s.data.test.size()) + " test images on " + describeDevice(s.device));
  auto trainF = extractFeatures(encode, s.data.trainLabelled, s.device);
  auto testF = extractFeatures(encode, s.data.test, s.device);
  json result{{"run", dir}, {"method", s.experiment.method}, {"random_init", a.randomInit},
              {"probe_data", a.probeData.empty() ? s.experiment.data : a.probeData}, {"feature_dim", trainF.size(1)},
              {"train_images", trainF.size(0)}, {"test_images", testF.size(0)}};
  const int64_t classes = s.data.test.numClasses();
  if (knn) {
    auto r = knnClassify(trainF, s.data.trainLabelled.labels, testF, s.data.test.labels, classes,
                         KnnOptions().k(k).temperature(t));
    result["knn_top1"] = r.top1;
    result["knn_k"] = k;
    result["knn_temperature"] = t;
    std::ostringstream l;
    l << std::fixed << std::setprecision(2) << "kNN (k=" << k << ", T=" << t << "): top-1 " << r.top1 << "%";
    say(l.str());
  }
  if (linear) {
    say("fitting the linear probe...");
    auto r = linearProbe(trainF, s.data.trainLabelled.labels, testF, s.data.test.labels, classes);
    result["linear_top1"] = r.top1;
    std::ostringstream l;
    l << std::fixed << std::setprecision(2) << "linear probe: top-1 " << r.top1 << "%";
    say(l.str());
  }
  if (a.finetune > 0) {
    say("fine-tuning on " + std::to_string(a.finetune * 100) + "% of the labels (" +
        std::to_string(a.freeze) + " frozen stages, " + std::to_string(a.finetuneEpochs) + " epochs)...");
    auto r = fineTune(*s.method->encoder(), s.data.trainLabelled, s.data.test, s.device,
                      FinetuneOptions().fraction(a.finetune).freezeStages(a.freeze).epochs(a.finetuneEpochs)
                          .seed(s.experiment.seed),
                      [&](int64_t done, int64_t total, double loss) {
                        if (!asJson)
                          std::cout << "  step " << done << "/" << total << " loss " << loss << std::endl;
                      });
    result["finetune_top1"] = r.top1;
    result["finetune_fraction"] = a.finetune;
    result["finetune_frozen_stages"] = a.freeze;
    std::ostringstream l;
    l << std::fixed << std::setprecision(2) << "fine-tuning (" << a.finetune * 100 << "% labels): top-1 " << r.top1 << "%";
    say(l.str());
  }
  const RunDirectory run = RunDirectory::open(dir);
  std::string name = a.randomInit ? "eval-random-init" : "eval";
  if (!a.probeData.empty()) {  // e.g. eval-on-fashion-mnist.json: never overwrites the own-data record
    name += "-on-";
    for (char c : a.probeData) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  }
  writeFileAtomically(run.file(name + ".json"), [&](const std::string& tmp) {
    std::ofstream out(tmp);
    out << result.dump(2) << "\n";
  });
  if (asJson) std::cout << result.dump() << std::endl;
  return 0;
}

// pretext-cli features: the encoder's features of a split as NumPy files.
int cmdFeatures(const std::string& dir, const std::string& dataSpec, const std::string& split,
                const std::string& outDir) {
  Session s = loadRunSession(dir);
  Dataset data = split == "train" ? s.data.train : s.data.test;
  if (!dataSpec.empty()) {  // another source, converted to what the method was trained on
    const Dataset& like = s.data.train;
    auto other = loadData(dataSpec, DataOptions().imageSize(like.height()).seed(s.experiment.seed));
    data = conformImages(split == "train" ? other.train : other.test, like.channels() / like.frames, like.height());
  }
  std::error_code ec;
  std::filesystem::create_directories(outDir, ec);
  if (ec) throw Error(outDir + ": cannot create the folder (" + ec.message() + ")");
  s.method->eval();
  std::cout << "extracting features of " << data.size() << " " << split << " images ("
            << data.name << ") on " << describeDevice(s.device) << std::endl;
  const auto features = extractFeatures([&](const torch::Tensor& x) { return s.method->features(x); },
                                        data, s.device)
                            .to(torch::kCPU, torch::kFloat);
  writeNpy(outDir + "/features.npy", features);
  writeNpy(outDir + "/index.npy", torch::arange(data.size(), torch::kLong));
  std::cout << outDir << "/features.npy: float32 " << features.size(0) << " x " << features.size(1)
            << "\n" << outDir << "/index.npy: int64, each row's position in " << data.name << "\n";
  if (data.labelled()) {
    writeNpy(outDir + "/labels.npy", data.labels.to(torch::kLong));
    std::ofstream names(outDir + "/classes.txt");
    for (const auto& n : data.classNames) names << n << "\n";
    std::cout << outDir << "/labels.npy: int64; class names in " << outDir << "/classes.txt\n";
  } else {
    std::cout << "(" << data.name << " has no labels: no labels.npy)\n";
  }
  std::cout << "in Python: numpy.load(\"" << outDir << "/features.npy\")\n";
  return 0;
}

struct ExportArgs {
  std::string run, out, projector, data, split = "test";
  int64_t projectorLimit = 2000;
};

// pretext-cli export: the encoder as a PyTorch state_dict (+ sidecar), and/or the features for
// TensorBoard's Embedding Projector.
int cmdExport(const ExportArgs& a) {
  Session s = loadRunSession(a.run);
  const bool weights = !a.out.empty() || a.projector.empty();
  if (weights) {
    const std::string file = a.out.empty() ? a.run + "/export/encoder.pt" : a.out;
    const ExportedEncoder x = exportEncoder(s, a.run, file);
    std::cout << x.weightsPath << ": the " << x.arch << " encoder as a PyTorch state_dict, "
              << x.tensors << " tensors, " << x.parameters << " parameters, " << std::fixed
              << std::setprecision(2) << double(x.bytes) / 1e6 << " MB\n"
              << x.sidecarPath << ": architecture, input, normalisation, evaluations\n"
              << "in Python:\n" << x.sidecar["python"].get<std::string>();
  }
  if (!a.projector.empty()) {
    Dataset data = a.split == "train" ? s.data.train : s.data.test;
    if (!a.data.empty()) {
      const Dataset& like = s.data.train;
      auto other = loadData(a.data, DataOptions().imageSize(like.height()).seed(s.experiment.seed));
      data = conformImages(a.split == "train" ? other.train : other.test, like.channels() / like.frames, like.height());
    }
    std::cout << "extracting features of " << std::min<int64_t>(a.projectorLimit, data.size())
              << " " << data.name << " images on " << describeDevice(s.device) << std::endl;
    const ProjectorExport p = exportProjector(s, data, a.projector, a.projectorLimit,
                                              s.experiment.name + " (" + s.experiment.method + ")");
    std::cout << a.projector << ": " << p.points << " points of " << p.dim
              << " dimensions (tensors.tsv, metadata.tsv" << (p.sprite ? ", sprite.png" : "")
              << ", projector_config.pbtxt)\nopen it with: tensorboard --logdir " << a.projector
              << "  (the Projector tab), or load the .tsv files at projector.tensorflow.org\n";
  }
  return 0;
}

int cmdImport(const ImportOptions& o) {
  const ImportSummary r = importWeights(o, [](const std::string& line) { std::cout << line << std::endl; });
  std::cout << "imported " << r.tensors << " tensors from " << o.file << " into a " << r.arch
            << " encoder\n";
  for (const auto& n : r.notes) std::cout << "note: " << n << "\n";
  std::cout << "run saved in " << r.runDir << "\nevaluate it with: pretext-cli eval " << r.runDir
            << "\ntrain from it: pretext-cli train --preset NAME --set model.init_from=" << o.file
            << " " << r.backboneSettings << "\n";
  return 0;
}

int cmdMethods(bool asJson) {
  json all = json::array();
  for (const auto& m : MethodRegistry::instance().all()) {
    json params = json::array();
    for (const auto& p : m.params) {
      json pj{{"name", p.name}, {"type", paramTypeName(p.type)}, {"default", p.defaultValue}, {"help", p.help}};
      if (p.type == ParamSpec::Type::Float || p.type == ParamSpec::Type::Int) pj["range"] = {p.min, p.max};
      if (p.type == ParamSpec::Type::Choice) pj["choices"] = p.choices;
      params.push_back(pj);
    }
    all.push_back({{"name", m.name}, {"title", m.title}, {"family", m.family}, {"summary", m.summary},
                   {"formula", m.formula}, {"paper", m.paper}, {"needs_labels", m.needsLabels},
                   {"default_augment", m.defaultAugment}, {"params", params}});
  }
  if (asJson) {
    std::cout << all.dump(2) << "\n";
    return 0;
  }
  for (const auto& m : all) {
    std::cout << m["name"].get<std::string>() << "  -  " << m["title"].get<std::string>() << " ["
              << m["family"].get<std::string>() << "]\n  " << m["summary"].get<std::string>()
              << "\n  loss: " << m["formula"].get<std::string>() << "\n";
    if (!m["paper"].get<std::string>().empty()) std::cout << "  paper: " << m["paper"].get<std::string>() << "\n";
    for (const auto& p : m["params"]) {
      std::cout << "    method.params." << p["name"].get<std::string>() << " (" << p["type"].get<std::string>()
                << ", default " << p["default"].dump();
      if (p.contains("range")) std::cout << ", range " << p["range"][0] << ".." << p["range"][1];
      if (p.contains("choices")) std::cout << ", one of " << p["choices"].dump();
      std::cout << "): " << p["help"].get<std::string>() << "\n";
    }
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything, for the commands that compute for long: beside other work, OpenMP's workers
  // must not spin. It costs a second start (~0.4 s), which the listing commands need not pay.
  if (argc > 1) {
    const std::string command = argv[1];
    if (command == "train" || command == "eval" || command == "features" || command == "compare" ||
        command == "sample-quality" || command == "sweep" || command == "lesson" ||
        command == "label-curve")
      pretext::useOpenMpWaitPolicy(argv);
  }
  CLI::App app{"pretext-cli: train and evaluate self-supervised visual representations"};
  app.require_subcommand(1);

  auto* train = app.add_subcommand("train", "train a method (a new run, or --resume one)");
  std::string file, preset, out = "runs", resume;
  std::vector<std::string> sets;
  int64_t steps = 0;
  bool quiet = false;
  train->add_option("experiment", file, "experiment JSON file");
  train->add_option("--preset", preset, "a preset from resources/presets (default simclr-fashion)");
  train->add_option("--set", sets, "override a setting: key.path=value (repeatable)");
  train->add_option("--out", out, "folder for run folders")->capture_default_str();
  train->add_option("--steps", steps, "stop after N steps (the schedule keeps the full budget)")
      ->check(CLI::Validator(
          [](std::string& v) {
            char* end = nullptr;
            const long long n = std::strtoll(v.c_str(), &end, 10);
            if (end != v.c_str() && *end == '\0' && n > 0) return std::string();
            return "a whole number of steps above 0 (got " + v +
                   "); leave --steps out to train the whole schedule";
          },
          "N>0"));
  train->add_option("--resume", resume, "continue the run in this folder from its checkpoint");
  train->add_flag("--quiet", quiet, "no per-step progress");

  auto* eval = app.add_subcommand("eval", "evaluate a run's features with kNN and a linear probe");
  std::string runDir;
  EvalArgs ea;
  eval->add_option("run", runDir, "run folder")->required();
  eval->add_flag("--knn", ea.knn, "weighted kNN only (with --linear: both)");
  eval->add_flag("--linear", ea.linear, "linear probe only (with --knn: both)");
  eval->add_flag("--json", ea.asJson, "print one JSON object (knn_top1, linear_top1 in percent)");
  eval->add_option("--k", ea.k, "neighbours for kNN")->capture_default_str();
  eval->add_option("--temperature", ea.t, "kNN temperature")->capture_default_str();
  eval->add_option("--data", ea.probeData,
                   "probe on this labelled source instead of the run's data (a transfer probe; "
                   "images converted to the run's channels and size), e.g. fashion-mnist, cifar10:DIR");
  eval->add_flag("--random-init", ea.randomInit,
                 "evaluate the run's architecture untrained (seeded): the baseline to beat");
  eval->add_option("--finetune", ea.finetune, "fine-tune on this fraction of the labels, e.g. 0.01")
      ->check(CLI::Range(0.0, 1.0));
  eval->add_option("--freeze", ea.freeze, "fine-tuning: keep the first N encoder stages fixed")
      ->capture_default_str();
  eval->add_option("--finetune-epochs", ea.finetuneEpochs, "fine-tuning epochs")->capture_default_str();

  auto* labelCurve = app.add_subcommand(
      "label-curve",
      "the semi-supervised curve: fine-tune the run's encoder and the same network from scratch "
      "on a few labels per class, for several counts (RotNet's and SimCLR's figure)");
  LabelCurveArgs la;
  labelCurve->add_option("run", la.run, "run folder")->required();
  labelCurve->add_option("--labels", la.labels, "labelled images per class, rising, comma-separated")
      ->capture_default_str();
  labelCurve->add_option("--steps", la.steps, "fine-tuning steps per point (batch 128)")
      ->capture_default_str();
  labelCurve->add_option("--freeze", la.freeze, "keep the first N encoder stages fixed")
      ->capture_default_str();
  labelCurve->add_flag("--no-scratch", la.noScratch, "skip the from-scratch baseline");
  labelCurve->add_flag("--json", la.asJson, "print one JSON object");
  labelCurve->add_flag("--quiet", la.quiet, "no progress within a point");

  auto* methods = app.add_subcommand("methods", "list the methods and their parameters");
  bool methodsJson = false;
  methods->add_flag("--json", methodsJson, "as JSON");

  auto* data = app.add_subcommand("data", "summarise a data source");
  std::string spec = "fashion-mnist";
  data->add_option("spec", spec, "fashion-mnist, mnist:DIR, cifar10:DIR, cifar100:DIR, stl10:DIR, folder:DIR, photos:DIR")
      ->capture_default_str();

  auto* presets = app.add_subcommand("presets", "list the experiment presets");

  auto* pack = app.add_subcommand(
      "pack", "copy a run with its model in half precision, for inspecting and evaluating only "
              "(how the examples are made)");
  std::string packRunDir, packOut;
  pack->add_option("run", packRunDir, "run folder")->required();
  pack->add_option("--out", packOut, "the new folder (must not exist or be empty)")->required();

  auto* examples = app.add_subcommand("examples", "list the ready-trained examples");

  auto* features = app.add_subcommand(
      "features", "write a run's features as NumPy files: features.npy (float32, N x D), "
                  "labels.npy and index.npy (int64)");
  std::string featuresRun, featuresData, featuresSplit = "test", featuresOut;
  features->add_option("run", featuresRun, "run folder")->required();
  features->add_option("--data", featuresData,
                       "another source's images, converted to the run's channels and size");
  features->add_option("--split", featuresSplit, "train or test")
      ->check(CLI::IsMember({"train", "test"}))
      ->capture_default_str();
  features->add_option("--out", featuresOut, "the folder for the .npy files")->required();

  auto* exportCmd = app.add_subcommand(
      "export", "write a run's encoder as a PyTorch state_dict (torch.load reads it; torchvision "
                "names for the ResNets) with a JSON sidecar, and/or its features for "
                "TensorBoard's Embedding Projector");
  ExportArgs xa;
  exportCmd->add_option("run", xa.run, "run folder")->required();
  exportCmd->add_option("--out", xa.out, "the weights file (default RUN/export/encoder.pt)");
  exportCmd->add_option("--projector", xa.projector,
                        "also (or only, without --out) write tensors.tsv, metadata.tsv, sprite.png "
                        "and projector_config.pbtxt into this folder");
  exportCmd->add_option("--projector-limit", xa.projectorLimit, "images in the projector")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  exportCmd->add_option("--data", xa.data, "the projector's images from another source");
  exportCmd->add_option("--split", xa.split, "the projector's split: train or test")
      ->check(CLI::IsMember({"train", "test"}))
      ->capture_default_str();

  auto* importCmd = app.add_subcommand(
      "import", "make a run from a PyTorch state_dict (a torchvision ResNet, a solo-learn or "
                "lightly backbone, a Pretext export) that the window and eval open");
  ImportOptions io;
  importCmd->add_option("file", io.file, "the .pt file torch.save wrote")->required();
  importCmd->add_option("--arch", io.arch, "resnet18, resnet34, convnet, vit or mlp (default: read off the keys)")
      ->check(CLI::IsMember({"resnet18", "resnet34", "convnet", "vit", "mlp"}));
  importCmd->add_option("--stem", io.stem, "resnets: small (3x3 conv) or imagenet (7x7 + max-pool); default: read off conv1")
      ->check(CLI::IsMember({"small", "imagenet"}));
  importCmd->add_option("--data", io.data,
                        "the data to inspect and evaluate it on (default: the export's, else "
                        "fashion-mnist for 1-channel weights, photos for 3-channel ones)");
  importCmd->add_option("--image-size", io.imageSize, "folder:/photos: sources: image size");
  importCmd->add_option("--heads", io.heads, "vit: attention heads (the weights do not say)");
  importCmd->add_option("--out", io.outDir, "folder for run folders")->capture_default_str();
  importCmd->add_option("--name", io.name, "the run's name (default imported-FILE)");

  auto* compare = app.add_subcommand(
      "compare", "how similar two encoders' representations are, layer by layer (linear CKA on the "
                 "run's test images): a run against another, its random init, or itself");
  CompareArgs ca;
  compare->add_option("run", ca.run, "run folder")->required();
  compare->add_option("--with", ca.with, "the other run folder");
  compare->add_flag("--random-init", ca.randomInit, "against the encoder the run started from");
  compare->add_flag("--itself", ca.itself, "the run's layers against each other");
  compare->add_option("--images", ca.images, "test images both encoders see")
      ->check(CLI::Range(int64_t(2), int64_t(20000)))
      ->capture_default_str();
  compare->add_flag("--json", ca.asJson, "print one JSON object");

  auto* samplesCmd = app.add_subcommand(
      "sample-quality",
      "how good a generative run's samples are: the Frechet distance to the test images in the "
      "features of a supervised classifier, and the classes it finds among them");
  SampleQualityArgs sq;
  samplesCmd->add_option("run", sq.run, "the generative run folder (a dcgan run)");
  samplesCmd->add_option("--classifier", sq.classifier,
                         "a run trained on the labels (e.g. resources/examples/supervised-fashion)")
      ->required();
  samplesCmd->add_option("--samples", sq.samples, "images compared by the Frechet distance")
      ->capture_default_str();
  samplesCmd->add_option("--coverage", sq.coverage,
                         "the first N of them sorted into classes (classes found, entropy)")
      ->capture_default_str();
  samplesCmd->add_option("--seed", sq.seed, "seed of the noise (or of the real images drawn)")
      ->capture_default_str();
  samplesCmd->add_flag("--real", sq.real,
                       "real training images instead of a run's samples: the floor to compare with");
  samplesCmd->add_flag("--json", sq.asJson, "print one JSON object");
  samplesCmd->add_option("--grid", sq.grid,
                         "also write the first 64 images as an 8x8 grid to this file (PGM for "
                         "gray images, PPM for colour)");

  auto* runsCmd = app.add_subcommand(
      "runs", "the results table across the runs of a folder (and of sweep folders in it): the "
              "settings that differ between them and their evaluations");
  RunsArgs ra;
  runsCmd->add_option("folder", ra.folder, "the folder of runs")->capture_default_str();
  runsCmd->add_option("--sort", ra.sort, "a result (best first) or a setting to sort by (default: linear probe, else kNN)");
  runsCmd->add_option("--csv", ra.csv, "also write the table as CSV to this file");

  auto* sweep = app.add_subcommand(
      "sweep",
      "train an experiment at a grid of settings (or a random search), one run after "
      "another, evaluate each, and tabulate; stop with Ctrl+C, run again to continue");
  std::string sweepFile, sweepOut;
  std::vector<std::string> sweepSets;
  bool sweepDryRun = false, sweepQuiet = false;
  sweep->add_option("file", sweepFile, "the sweep file (JSON), or a sweep folder to continue")
      ->required();
  sweep->add_option("--out", sweepOut, "the sweep folder (default runs/sweeps/NAME)");
  sweep->add_option("--set", sweepSets,
                    "override a setting of the base experiment: key.path=value");
  sweep->add_flag("--dry-run", sweepDryRun, "print the plan and its points; train nothing");
  sweep->add_flag("--quiet", sweepQuiet, "no per-step progress");

  auto* lessons = app.add_subcommand("lessons", "list the lessons: the lectures' figures, replayable");
  auto* lesson = app.add_subcommand(
      "lesson", "run a lesson (resources/lessons): its run or sweep, then what to look at");
  std::string lessonName, lessonOut;
  bool lessonDryRun = false, lessonQuiet = false;
  lesson->add_option("name", lessonName, "the lesson (pretext-cli lessons lists them)")->required();
  lesson->add_option("--out", lessonOut, "where its runs go (default runs/lessons/NAME)");
  lesson->add_flag("--dry-run", lessonDryRun, "print the lesson and what it would train; train nothing");
  lesson->add_flag("--quiet", lessonQuiet, "no per-step progress");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*train) return cmdTrain(file, preset, sets, out, steps, resume, quiet);
    if (*sweep) return cmdSweep(sweepFile, sweepSets, sweepOut, sweepDryRun, sweepQuiet);
    if (*lessons) {
      printLessonList(std::cout);
      return 0;
    }
    if (*lesson) {
      const Lesson l = loadLesson(lessonName);
      const std::string folder = lessonOut.empty() ? defaultLessonFolder(l) : lessonOut;
      printLessonIntro(l, std::cout);
      int rc = 0;
      std::string shown = folder;
      if (l.isSweep()) {
        rc = cmdSweep(lessonSweepPath(l), {}, folder, lessonDryRun, lessonQuiet);
      } else if (lessonDryRun) {
        std::cout << "(dry run: nothing trained; run it without --dry-run)\n";
      } else {
        if (l.isExample()) {
          shown = copyExampleRun(l.example, folder);
          std::cout << "the example " << l.example << " copied to " << shown << "\n";
        } else {
          rc = cmdTrain("", l.preset, l.sets, folder, 0, "", lessonQuiet, &shown);
        }
        if (rc == 0 && (l.evaluate || l.labelCurve)) configureThreads();
        if (rc == 0 && l.evaluate) rc = cmdEval(shown, EvalArgs{});
        if (rc == 0 && l.labelCurve) rc = runLabelCurve(shown, l.labelCurveOptions, false, lessonQuiet);
      }
      if (rc == 0 && !lessonDryRun) printLessonOutro(l, shown, std::cout);
      return rc;
    }
    if (*eval) {
      configureThreads();
      return cmdEval(runDir, ea);
    }
    if (*labelCurve) {
      configureThreads();
      return cmdLabelCurve(la);
    }
    if (*methods) return cmdMethods(methodsJson);
    if (*data) {
      configureThreads();
      std::cout << describeData(loadData(spec)) << "\n";
      return 0;
    }
    if (*pack) {
      configureThreads();
      const PackSummary p = packRun(packRunDir, packOut);
      std::cout << "packed " << packRunDir << " into " << packOut << ": " << p.halfTensors
                << " tensors in half precision";
      if (!p.float32Tensors.empty()) std::cout << ", " << p.float32Tensors.size() << " kept in float32";
      std::cout << "; checkpoint " << std::fixed << std::setprecision(2)
                << double(p.checkpointBytes) / 1e6 << " MB, folder " << double(p.totalBytes) / 1e6
                << " MB\n";
      return 0;
    }
    if (*features) {
      configureThreads();
      return cmdFeatures(featuresRun, featuresData, featuresSplit, featuresOut);
    }
    if (*exportCmd) {
      configureThreads();
      return cmdExport(xa);
    }
    if (*samplesCmd) {
      configureThreads();
      return cmdSampleQuality(sq);
    }
    if (*runsCmd) return cmdRuns(ra);
    if (*compare) {
      configureThreads();
      return cmdCompare(ca);
    }
    if (*importCmd) {
      configureThreads();
      return cmdImport(io);
    }
    if (*examples) {
      for (const auto& e : exampleRuns()) {
        std::cout << e.name << "  -  " << e.title << " (" << e.method << ", " << e.steps << " steps)";
        if (e.knnTop1 >= 0)
          std::cout << std::fixed << std::setprecision(2) << "  kNN " << e.knnTop1 << "%, linear "
                    << e.linearTop1 << "%";
        std::cout << "\n";
      }
      std::cout << "(in " << examplesDirectory() << "; the window opens them from its Start tab)\n";
      return 0;
    }
    if (*presets) {
      for (const auto& name : presetNames()) {
        const json j = loadPresetJson(name);
        std::cout << name << "  -  " << j.value("description", std::string()) << "\n";
      }
      return 0;
    }
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
