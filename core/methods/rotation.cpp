// Rotation prediction (Gidaris, Singh, Komodakis 2018): the network must tell which of the
// four quarter turns was applied, which needs a notion of the object's shape and pose.
#include "core/methods/rotation.h"

#include <torch/torch.h>

#include "core/methods/registry.h"
#include "core/models/heads.h"
#include "core/util/device.h"

namespace pretext {

std::pair<torch::Tensor, torch::Tensor> allRotations(const torch::Tensor& images) {
  std::vector<torch::Tensor> turns;
  for (int k = 0; k < 4; ++k) turns.push_back(torch::rot90(images, k, {2, 3}));
  auto labels = torch::arange(4, torch::TensorOptions().dtype(torch::kLong).device(images.device()))
                    .repeat_interleave(images.size(0));
  return {torch::cat(turns, 0), labels};
}

namespace {

const char* kAngles[4] = {"0", "90", "180", "270"};

class Rotation : public Method {
 public:
  explicit Rotation(const MethodSetup& s) : Method(s) {
    const bool mlp = s.params["head"].get<std::string>() == "mlp";
    head_ = register_module("head", makeMlp(encoder_->featureDim(), encoder_->featureDim(), 4,
                                            mlp ? 2 : 1, true));
    allFour_ = s.params["all_rotations"].get<bool>();
  }
  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto x = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    torch::Tensor inputs, labels;
    if (allFour_) {
      std::tie(inputs, labels) = allRotations(x);
    } else {
      // rotateQuarter reads the turns on the host: give it the CPU ones (from the device
      // they would be a sync).
      const auto turns = torch::randint(0, 4, {x.size(0)}, *ctx.gen, torch::kLong);
      inputs = rotateQuarter(x, turns);
      labels = toDevice(turns, x.device());
    }
    auto logits = head_->forward(encoder_->forward(inputs));
    auto loss = torch::nn::functional::cross_entropy(logits, labels);
    auto acc = logits.argmax(1).eq(labels).to(torch::kFloat).mean().detach();
    return {loss, {{"rotation_acc", acc}}};
  }
  // One batch's loss taken apart: every image in its four turns, the network's belief over the
  // four, the true turn ringed.
  std::vector<LossAnatomy> lossAnatomy(const torch::Tensor& images, const AugmentOptions& augment,
                                       torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto x = augmentBatch(images.slice(0, 0, std::min<int64_t>(images.size(0), 16)), augment, gen);
    auto [inputs, labels] = allRotations(x);
    auto logp = torch::log_softmax(head_->forward(encoder_->forward(inputs)).to(torch::kFloat), 1);
    auto perRow = -logp.gather(1, labels.unsqueeze(1)).squeeze(1);
    LossAnatomy a;
    a.title = "Which way up? " + std::to_string(inputs.size(0)) + " turned images, 4 classes";
    a.explanation =
        "Row i: one image turned by 0, 90, 180 or 270 degrees, and the network's probability for each of "
        "the four turns. The ringed entry is the turn really applied. The loss of row i is -log of that "
        "probability: small when the network is sure of the right turn, which it can only be if it "
        "knows what the object looks like upright.";
    a.matrix = logp.exp().cpu();
    a.vmin = 0;
    a.vmax = 1;
    a.rowsTitle = "turned image";
    a.columnsTitle = "0, 90, 180, 270 deg";
    a.positives = labels.cpu();
    a.perRow = perRow.cpu();
    a.perRowTitle = "-log p(true turn)";
    a.images = inputs.detach().to(torch::kFloat).cpu();
    a.terms = {{"loss", perRow.mean().item<double>()},
               {"accuracy", 100.0 * logp.argmax(1).eq(labels).to(torch::kFloat).mean().item<double>()}};
    return {a};
  }
  Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                     torch::Generator& gen) override {
    torch::NoGradGuard ng;
    auto x = augmentBatch(images, augment, gen);
    std::vector<torch::Tensor> cols{images};
    for (int k = 0; k < 4; ++k) cols.push_back(torch::rot90(x, k, {2, 3}));
    return {"rotation inputs", "each row: an image, then its augmented view in the four turns the network must tell apart",
            torch::stack(cols, 1).flatten(0, 1).cpu(), {"image", "0 deg", "90 deg", "180 deg", "270 deg"}, 5};
  }
  std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                               const PreviewSettings&) override {
    torch::NoGradGuard ng;
    const int64_t n = std::min<int64_t>(images.size(0), 16);
    auto k = torch::randint(0, 4, {n}, gen, torch::kLong);
    auto x = rotateQuarter(images.slice(0, 0, n), k.to(images.device()));
    auto prob = torch::softmax(head_->forward(encoder_->forward(x)), 1).cpu();
    auto [conf, pred] = prob.max(1);
    Preview p{"rotation predictions", "predicted turn (confidence); a cross marks a wrong guess",
              x.cpu(), {}, 8};
    for (int64_t i = 0; i < n; ++i) {
      const auto pi = pred[i].item<int64_t>();
      p.labels.push_back(std::string(pi == k[i].item<int64_t>() ? "" : "x ") + kAngles[pi] +
                         " deg (" + std::to_string(int(conf[i].item<float>() * 100)) + "%)");
    }
    return {p};
  }

 private:
  torch::nn::Sequential head_{nullptr};
  bool allFour_ = true;
};

}  // namespace

MethodInfo rotationMethodInfo() {
  MethodInfo m;
  m.name = "rotation";
  m.title = "Rotation prediction (RotNet)";
  m.family = "pretext task";
  m.summary =
      "Each image is shown turned by 0, 90, 180 or 270 degrees and the network must say which. "
      "To answer it has to recognise what the object is and which way up it belongs.";
  m.formula = "L = -1/4 sum_{k=0..3} log p(k | rot(x, 90k deg))";
  m.paper = "Gidaris, Singh, Komodakis. Unsupervised Representation Learning by Predicting "
            "Image Rotations. ICLR 2018.";
  m.defaultAugment = "weak";
  using T = ParamSpec::Type;
  m.params = {
      {"head", T::Choice, "mlp", 0, 0, {"linear", "mlp"}, "classifier on the features"},
      {"all_rotations", T::Bool, true, 0, 0, {},
       "show every image in all four turns (RotNet) rather than one random turn"},
  };
  m.make = [](const MethodSetup& s) { return std::make_shared<Rotation>(s); };
  return m;
}

}  // namespace pretext
