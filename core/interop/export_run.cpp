#include "core/interop/export_run.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#ifdef PRETEXT_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif

#include "core/config/experiment.h"
#include "core/eval/probes.h"
#include "core/eval/results.h"
#include "core/interop/torch_weights.h"
#include "core/methods/method.h"
#include "core/train/run_dir.h"
#include "core/train/trainer.h"
#include "core/util/error.h"

namespace pretext {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

void writeText(const std::string& path, const std::string& text) {
  writeFileAtomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.close();
    if (!out) throw Error(path + ": cannot write (disk full or no permission?)");
  });
}

void createFolderFor(const std::string& file) {
  const auto parent = fs::path(file).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw Error(parent.string() + ": cannot create the folder (" + ec.message() + ")");
}

json architectureOf(const BackboneOptions& b) {
  json a{{"name", b.name()}, {"width", b.width()}, {"in_channels", b.inChannels()}};
  if (b.name().rfind("resnet", 0) == 0) a["stem"] = b.stem();
  if (b.name() == "mlp") a["image_size"] = b.imageSize();
  if (b.norm() != "batch") a["norm"] = b.norm();
  if (b.name() == "vit") {
    a["patch_size"] = b.patchSize();
    a["depth"] = b.depth();
    a["heads"] = b.heads();
    a["image_size"] = b.imageSize();
  }
  return a;
}

// The Python a user runs to load the file (printed by the CLI, kept in the sidecar).
std::string pythonLoader(const BackboneOptions& b, const std::string& weightsName) {
  std::ostringstream py;
  const bool torchvision = (b.name() == "resnet18" || b.name() == "resnet34") && b.width() == 64;
  if (torchvision) {
    py << "import torch, torchvision\n"
       << "model = torchvision.models." << b.name() << "()\n";
    if (b.stem() == "small")
      py << "model.conv1 = torch.nn.Conv2d(" << b.inChannels()
         << ", 64, 3, 1, 1, bias=False); model.maxpool = torch.nn.Identity()\n";
    else if (b.inChannels() != 3)
      py << "model.conv1 = torch.nn.Conv2d(" << b.inChannels() << ", 64, 7, 2, 3, bias=False)\n";
    py << "model.fc = torch.nn.Identity()\n";
  } else {
    py << "import json, torch, pretext_models  # python/pretext_models.py\n"
       << "model = pretext_models.build(json.load(open(\""
       << fs::path(weightsName).replace_extension(".json").string() << "\")))\n";
  }
  py << "model.load_state_dict(torch.load(\"" << weightsName << "\"), strict=True)\n"
     << "features = model.eval()((images - 0.5) / 0.5)  # images [N," << b.inChannels() << ","
     << b.imageSize() << "," << b.imageSize() << "] in [0, 1]\n";
  return py.str();
}

}  // namespace

std::string sidecarPathFor(const std::string& weightsPath) {
  return fs::path(weightsPath).replace_extension(".json").string();
}

ExportedEncoder exportEncoder(Session& s, const std::string& runDir, const std::string& weightsPath) {
  const Experiment& e = s.experiment;
  const BackboneOptions backbone =
      backboneOptionsOf(e, s.data.train.channels(), s.data.train.height());
  Encoder& encoder = *s.method->encoder();
  ExportedEncoder out;
  out.arch = backbone.name();
  out.weightsPath = weightsPath;
  out.sidecarPath = sidecarPathFor(weightsPath);
  if (out.sidecarPath == weightsPath)
    throw Error(weightsPath + ": the weights file needs an extension other than .json (e.g. .pt)");
  // The sidecar describes the backbone the experiment names: a method whose encoder is a network
  // of its own (PixelCNN's masked stack, colorization's Lab wrapper) would get a description its
  // tensors do not load into. Same names and shapes as a fresh backbone, or a clear refusal.
  {
    auto reference = makeBackbone(backbone);
    auto mine = encoder.named_parameters(/*recurse=*/true);
    auto theirs = reference->named_parameters(/*recurse=*/true);
    std::string differs;
    for (const auto& p : mine) {
      const auto* t = theirs.find(p.key());
      if (!t || t->sizes() != p.value().sizes()) {
        differs = p.key();
        break;
      }
    }
    if (differs.empty() && mine.size() != theirs.size()) differs = "(the number of tensors)";
    if (!differs.empty())
      throw Error(runDir + ": the " + e.method + " method's encoder is not the " +
                  backbone.name() + " backbone the export describes (its tensor " + differs +
                  " has no counterpart there), so its weights cannot be exported for "
                  "pretext_models.py; `pretext-cli features` writes its features instead");
  }
  const NamedTensors tensors = exportedEncoderTensors(encoder, backbone.name());
  out.tensors = static_cast<int64_t>(tensors.size());
  for (const auto& p : encoder.parameters()) out.parameters += p.numel();

  const json state = RunDirectory::open(runDir).state();
  json evaluations = json::array();
  for (const auto& r : readEvalRecords(runDir)) {
    json j = evalRecordToJson(r);
    j.erase("confusion");
    j.erase("class_names");
    evaluations.push_back(j);
  }
  const int64_t c = backbone.inChannels();
  const std::string weightsName = fs::path(weightsPath).filename().string();
  json sidecar{
      {"format", "pretext-encoder"},
      {"version", 1},
      {"weights", weightsName},
      {"architecture", architectureOf(backbone)},
      {"feature_dim", encoder.featureDim()},
      {"input",
       {{"channels", c},
        {"height", s.data.train.height()},
        {"width", s.data.train.width()},
        {"value_range", {0, 1}},
        {"normalize", {{"mean", std::vector<double>(c, 0.5)}, {"std", std::vector<double>(c, 0.5)}}},
        {"note",
         "images [N,C,H,W] scaled to [0,1], then (x - mean) / std before the model (Pretext's "
         "encoders normalise inside; the exported state_dict's modules do not)"}}},
      {"output", "the mean over positions of the last stage: [N, feature_dim]"},
      {"method", e.method},
      {"data", e.data},
      {"classes", s.data.test.classNames},
      {"run", fs::absolute(runDir).lexically_normal().string()},
      {"step", state.value("step", int64_t(0))},
      {"experiment", experimentToJson(e)},
      {"evaluations", evaluations},
      {"exported", utcTimestamp()},
      {"python", pythonLoader(backbone, weightsName)}};
  if (e.methodParams.contains("probe_features") &&
      e.methodParams["probe_features"] != "last")
    sidecar["probe_features_note"] =
        "this method's probes read every stage pooled (" +
        e.methodParams["probe_features"].get<std::string>() +
        "); the model's output is the last stage alone";
  out.sidecar = sidecar;

  createFolderFor(weightsPath);
  writeStateDict(weightsPath, tensors);
  writeText(out.sidecarPath, sidecar.dump(2) + "\n");
  std::error_code ec;
  out.bytes = static_cast<uint64_t>(fs::file_size(weightsPath, ec));
  return out;
}

ProjectorExport exportProjector(Session& s, const Dataset& all, const std::string& dir,
                                int64_t limit, const std::string& name) {
  const Dataset data = headOf(all, limit);
  if (data.size() == 0) throw Error(all.name + ": no images to export");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the folder (" + ec.message() + ")");
  s.method->eval();
  const auto features =
      extractFeatures([&](const torch::Tensor& x) { return s.method->features(x); }, data, s.device)
          .to(torch::kCPU, torch::kFloat)
          .contiguous();
  ProjectorExport out;
  out.points = features.size(0);
  out.dim = features.size(1);

  std::ostringstream tensors;
  tensors << std::setprecision(6);
  const float* f = features.data_ptr<float>();
  for (int64_t i = 0; i < out.points; ++i) {
    for (int64_t d = 0; d < out.dim; ++d) tensors << (d ? "\t" : "") << f[i * out.dim + d];
    tensors << "\n";
  }
  writeText(dir + "/tensors.tsv", tensors.str());

  // One column needs no header; more than one do (the projector's rule).
  std::ostringstream meta;
  if (data.labelled()) {
    meta << "index\tlabel\tclass\n";
    const auto labels = data.labels.to(torch::kLong).contiguous();
    const int64_t* l = labels.data_ptr<int64_t>();
    for (int64_t i = 0; i < out.points; ++i) {
      const bool named = l[i] >= 0 && l[i] < data.numClasses();
      meta << i << "\t" << l[i] << "\t" << (named ? data.classNames[l[i]] : std::to_string(l[i]))
           << "\n";
    }
  } else {
    for (int64_t i = 0; i < out.points; ++i) meta << i << "\n";
  }
  writeText(dir + "/metadata.tsv", meta.str());

  const int64_t h = data.height(), w = data.width();
  std::ostringstream config;
  config << "embeddings {\n  tensor_name: \"" << name << "\"\n  tensor_path: \"tensors.tsv\"\n"
         << "  metadata_path: \"metadata.tsv\"\n";
#ifdef PRETEXT_HAVE_OPENCV
  // The projector reads thumbnails off a square grid, row by row; it takes sprites up to
  // 8192 x 8192 pixels.
  const auto side = static_cast<int64_t>(std::ceil(std::sqrt(double(out.points))));
  if (side * std::max(h, w) <= 8192) {
    auto img = data.images.to(torch::kUInt8);
    if (img.size(1) != 3) img = img.narrow(1, 0, 1).expand({-1, 3, -1, -1});
    auto grid = torch::zeros({side * side, 3, h, w}, torch::kUInt8);
    grid.narrow(0, 0, out.points).copy_(img);
    // [side*side,3,h,w] -> [side*h, side*w, 3] (rows of thumbnails), RGB -> BGR for OpenCV.
    auto sheet = grid.view({side, side, 3, h, w}).permute({0, 3, 1, 4, 2}).flip(4).contiguous()
                     .view({side * h, side * w, 3});
    const cv::Mat mat(static_cast<int>(side * h), static_cast<int>(side * w), CV_8UC3,
                      sheet.data_ptr<uint8_t>());
    std::vector<uchar> png;
    if (!cv::imencode(".png", mat, png)) throw Error(dir + "/sprite.png: cannot encode the image");
    writeText(dir + "/sprite.png", std::string(png.begin(), png.end()));
    config << "  sprite {\n    image_path: \"sprite.png\"\n    single_image_dim: " << w
           << "\n    single_image_dim: " << h << "\n  }\n";
    out.sprite = true;
  }
#endif
  config << "}\n";
  writeText(dir + "/projector_config.pbtxt", config.str());
  return out;
}

}  // namespace pretext
