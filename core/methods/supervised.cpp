// Supervised training with labels: the ceiling every self-supervised method is compared with.
#include <torch/torch.h>

#include "core/methods/registry.h"

namespace pretext {
namespace {

class Supervised : public Method {
 public:
  explicit Supervised(const MethodSetup& s) : Method(s) {
    classifier_ = register_module("classifier", torch::nn::Linear(encoder_->featureDim(), s.numClasses));
    smoothing_ = s.params["label_smoothing"].get<double>();
  }
  StepResult step(const Batch& batch, StepContext& ctx) override {
    auto x = augmentBatch(batch.images, *ctx.augment, *ctx.gen);
    auto logits = classifier_->forward(encoder_->forward(x));
    auto loss = torch::nn::functional::cross_entropy(
        logits, batch.labels, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(smoothing_));
    auto acc = logits.argmax(1).eq(batch.labels).to(torch::kFloat).mean().detach();
    return {loss, {{"train_acc", acc}}};
  }
  // The classifier's own predictions (for "supervised reaches >= 92%", and the classifier that
  // measures a generator's samples: core/eval/sample_quality.h).
  torch::Tensor classLogits(const torch::Tensor& images) override {
    return classifier_->forward(encoder_->forward(images));
  }

 private:
  torch::nn::Linear classifier_{nullptr};
  double smoothing_ = 0;
};

}  // namespace

MethodInfo supervisedMethodInfo() {
  MethodInfo m;
  m.name = "supervised";
  m.title = "Supervised (labels)";
  m.family = "supervised";
  m.summary =
      "The encoder and a linear classifier are trained on the labels with cross-entropy. "
      "Not self-supervised: it is the ceiling the other methods are measured against.";
  m.formula = "L = -log softmax(W f(x) + b)_y";
  m.paper = "";
  m.needsLabels = true;
  m.defaultAugment = "weak";
  using T = ParamSpec::Type;
  m.params = {{"label_smoothing", T::Float, 0.0, 0.0, 0.5, {}, "label smoothing of the cross-entropy"}};
  m.make = [](const MethodSetup& s) { return std::make_shared<Supervised>(s); };
  return m;
}

}  // namespace pretext
