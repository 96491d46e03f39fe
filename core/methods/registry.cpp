#include "core/methods/registry.h"

#include "core/dist/step_group.h"

#include <torch/torch.h>

#include <algorithm>
#include <sstream>

#include "core/util/error.h"

namespace pretext {

// Each method's file defines its MethodInfo; this list is the only place that names them all
// (static registrars would be dropped by the linker from a static library).
MethodInfo supervisedMethodInfo();
MethodInfo rotationMethodInfo();
MethodInfo drlimMethodInfo();
MethodInfo npidMethodInfo();
MethodInfo pirlMethodInfo();
MethodInfo simclrMethodInfo();
MethodInfo mocoMethodInfo();
MethodInfo barlowMethodInfo();
MethodInfo swavMethodInfo();
MethodInfo cpcMethodInfo();
MethodInfo deepclusterMethodInfo();
MethodInfo byolMethodInfo();
MethodInfo simsiamMethodInfo();
MethodInfo maeMethodInfo();
MethodInfo autoencoderMethodInfo();
MethodInfo denoisingAeMethodInfo();
MethodInfo contractiveAeMethodInfo();
MethodInfo vaeMethodInfo();
MethodInfo relpatchMethodInfo();
MethodInfo jigsawMethodInfo();
MethodInfo inpaintingMethodInfo();
MethodInfo dcganMethodInfo();
MethodInfo pixelcnnMethodInfo();
MethodInfo colorizationMethodInfo();
MethodInfo videoColorizationMethodInfo();
MethodInfo splitbrainMethodInfo();
MethodInfo pretrainedMethodInfo();

MethodRegistry& MethodRegistry::instance() {
  static MethodRegistry registry = [] {
    MethodRegistry r;
    r.add(supervisedMethodInfo());
    r.add(rotationMethodInfo());
    r.add(drlimMethodInfo());
    r.add(npidMethodInfo());
    r.add(pirlMethodInfo());
    r.add(simclrMethodInfo());
    r.add(mocoMethodInfo());
    r.add(byolMethodInfo());
    r.add(simsiamMethodInfo());
    r.add(barlowMethodInfo());
    r.add(swavMethodInfo());
    r.add(cpcMethodInfo());
    r.add(deepclusterMethodInfo());
    r.add(maeMethodInfo());
    r.add(autoencoderMethodInfo());
    r.add(denoisingAeMethodInfo());
    r.add(contractiveAeMethodInfo());
    r.add(vaeMethodInfo());
    r.add(relpatchMethodInfo());
    r.add(jigsawMethodInfo());
    r.add(inpaintingMethodInfo());
    r.add(dcganMethodInfo());
    r.add(pixelcnnMethodInfo());
    r.add(colorizationMethodInfo());
    r.add(videoColorizationMethodInfo());
    r.add(splitbrainMethodInfo());
    r.add(pretrainedMethodInfo());
    return r;
  }();
  return registry;
}

void MethodRegistry::add(MethodInfo info) {
  if (has(info.name)) throw Error("method \"" + info.name + "\" is registered twice");
  methods_.push_back(std::move(info));
}

bool MethodRegistry::has(const std::string& name) const {
  for (const auto& m : methods_)
    if (m.name == name) return true;
  return false;
}

const MethodInfo& MethodRegistry::get(const std::string& name) const {
  for (const auto& m : methods_)
    if (m.name == name) return m;
  std::string known;
  for (const auto& m : methods_) known += (known.empty() ? "" : ", ") + m.name;
  throw Error("unknown method \"" + name + "\"; known methods: " + known);
}

std::vector<std::string> MethodRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& m : methods_) out.push_back(m.name);
  return out;
}

std::string paramTypeName(ParamSpec::Type type) {
  switch (type) {
    case ParamSpec::Type::Float: return "float";
    case ParamSpec::Type::Int: return "int";
    case ParamSpec::Type::Bool: return "bool";
    case ParamSpec::Type::Choice: return "choice";
  }
  return "?";
}

namespace {
std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
}  // namespace

nlohmann::json resolveParams(const MethodInfo& info, const nlohmann::json& given,
                             const std::string& path) {
  if (!given.is_null() && !given.is_object())
    throw Error(path + ": expected an object of parameters, got " + given.dump());
  nlohmann::json out = nlohmann::json::object();
  for (const auto& p : info.params) out[p.name] = p.defaultValue;
  if (given.is_null()) return out;
  for (auto it = given.begin(); it != given.end(); ++it) {
    const ParamSpec* spec = nullptr;
    for (const auto& p : info.params)
      if (p.name == it.key()) spec = &p;
    const std::string where = path + "." + it.key();
    if (!spec) {
      std::string known;
      for (const auto& p : info.params) known += (known.empty() ? "" : ", ") + p.name;
      throw Error(where + ": " + info.name + " has no such parameter; its parameters are: " +
                  (known.empty() ? "(none)" : known));
    }
    const auto& v = it.value();
    const std::string shown = where + " = " + v.dump();
    switch (spec->type) {
      case ParamSpec::Type::Bool:
        if (!v.is_boolean()) throw Error(shown + ": expected true or false");
        break;
      case ParamSpec::Type::Choice: {
        if (!v.is_string() || std::find(spec->choices.begin(), spec->choices.end(),
                                        v.get<std::string>()) == spec->choices.end()) {
          std::string c;
          for (const auto& s : spec->choices) c += (c.empty() ? "" : ", ") + s;
          throw Error(shown + ": expected one of " + c);
        }
        break;
      }
      case ParamSpec::Type::Int:
      case ParamSpec::Type::Float: {
        const bool isInt = spec->type == ParamSpec::Type::Int;
        if (!v.is_number() || (isInt && !v.is_number_integer() &&
                               v.get<double>() != std::floor(v.get<double>())))
          throw Error(shown + ": expected " + (isInt ? "an integer" : "a number"));
        const double d = v.get<double>();
        if (!(d >= spec->min && d <= spec->max))
          throw Error(shown + ": expected a value in [" + num(spec->min) + ", " + num(spec->max) + "]");
        break;
      }
    }
    out[it.key()] = (spec->type == ParamSpec::Type::Int) ? nlohmann::json(v.get<int64_t>()) : v;
  }
  return out;
}

std::shared_ptr<Method> makeMethod(const std::string& name, MethodSetup setup) {
  const MethodInfo& info = MethodRegistry::instance().get(name);
  if (info.needsLabels && setup.numClasses < 2)
    throw Error("method \"" + name + "\" needs labelled training data, but the data set has no labels");
  if (info.needsColour && setup.channels != 3)
    throw Error("method \"" + name + "\" needs colour (3-channel RGB) images, but the data has " +
                std::to_string(setup.channels) +
                " channel(s): set data.source to a colour source, e.g. photos:/usr/share/backgrounds "
                "(the built-in colour default), cifar10:DIR or folder:DIR");
  if (setup.frames > 1 && !info.clips)
    throw Error("method \"" + name + "\" trains on still images, but the data are clips of " +
                std::to_string(setup.frames) + " frames (a video source): choose a method that trains on "
                "video (video-colorization) or a still-image data.source");
  if (info.clips && setup.frames < 2)
    throw Error("method \"" + name + "\" trains on video clips, but the data are still images: set "
                "data.source to moving-fashion (built-in) or video:FILE, and data.clip_frames >= 2");
  setup.params = resolveParams(info, setup.params);
  return info.make(setup);
}

Preview Method::inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                           torch::Generator& gen) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> cols{images};
  for (int i = 0; i < 3; ++i) cols.push_back(augmentBatch(images, augment, gen));
  return {"augmented views", "each row: an image, then three random views under these settings",
          torch::stack(cols, 1).flatten(0, 1).cpu(), {}, 4};
}

BatchSlice sharedSlice(int64_t local) {
  const DistGroup* g = stepGroup();
  if (!g) return {0, local, local};
  return {g->rank() * local, local, g->worldSize() * local};
}

torch::Tensor toRgb(const torch::Tensor& images) {
  return images.size(1) == 1 ? images.repeat({1, 3, 1, 1}) : images;
}

double previewSetting(const PreviewSettings& settings, const std::vector<PreviewControl>& controls,
                      const std::string& name) {
  for (const auto& c : controls) {
    if (c.name != name) continue;
    auto it = settings.find(name);
    return it == settings.end() ? c.value : std::clamp(it->second, c.min, c.max);
  }
  throw Error("preview setting \"" + name + "\" is not among the method's controls");
}

std::vector<std::pair<std::string, torch::Tensor>> Method::collapseMetrics(const torch::Tensor& z,
                                                                           bool canCollapse) {
  torch::NoGradGuard ng;
  if (canCollapse) embeddingDim_ = z.size(1);
  auto x = z.detach().to(torch::kFloat);
  auto zn = torch::nn::functional::normalize(x, torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto std = zn.std(0, /*unbiased=*/true).mean();
  // Effective rank (Roy & Vetterli 2007) of the centred batch, from the DxD (or NxN) Gram
  // matrix's eigenvalues: singular values are their square roots.
  auto c = x - x.mean(0, /*keepdim=*/true);
  auto gram = c.size(0) < c.size(1) ? torch::mm(c, c.t()) : torch::mm(c.t(), c);
  auto sv = at::linalg_eigvalsh(gram.to(torch::kDouble), "L").clamp_min(0).sqrt();
  auto p = sv / sv.sum().clamp_min(1e-30);
  auto entropy = -(p * p.clamp_min(1e-30).log()).sum();
  auto rank = torch::where(sv.sum() > 1e-12 * (1 + x.abs().max()), entropy.exp(), torch::ones_like(entropy));
  return {{canCollapse ? "emb_std" : "feature_std", std}, {"eff_rank", rank.to(torch::kFloat)}};
}

Preview Method::twoViews(const torch::Tensor& images, const AugmentOptions& augment,
                         torch::Generator& gen, std::string name, std::string caption,
                         std::vector<std::string> headers) {
  torch::NoGradGuard ng;
  auto grid = torch::stack({images, augmentBatch(images, augment, gen), augmentBatch(images, augment, gen)}, 1)
                  .flatten(0, 1);
  return {std::move(name), std::move(caption), grid.cpu(), std::move(headers), 3};
}

AugmentOptions Method::previewAugment(const torch::Tensor& images) {
  return augmentPreset(images.size(1) == 1 ? "simclr-gray" : "simclr");
}

torch::Tensor Method::stageFeatures(const torch::Tensor& images, const std::string& mode) {
  auto maps = mode == "last" ? std::vector<torch::Tensor>{} : encoder_->stages(images);
  if (maps.empty() || maps.front().dim() != 4) return encoder_->forward(images);
  std::vector<torch::Tensor> pooled;
  for (const auto& m : maps) pooled.push_back(mode == "all-max" ? m.amax({2, 3}) : m.mean({2, 3}));
  return torch::cat(pooled, 1);
}

ParamSpec probeFeaturesParam(const std::string& defaultValue, const std::string& why) {
  return {"probe_features",
          ParamSpec::Type::Choice,
          defaultValue,
          0,
          0,
          {"all-max", "all-mean", "last"},
          "what the probes evaluate: every encoder stage pooled to 1x1 by max or mean and "
          "concatenated, or the last stage's average only (the encoder's own features); " +
              why};
}

Method::Method(const MethodSetup& setup) {
  BackboneOptions b = setup.backbone;
  b.inChannels(setup.channels).imageSize(setup.imageSize);
  encoder_ = register_module("encoder", makeBackbone(b));
}

}  // namespace pretext
