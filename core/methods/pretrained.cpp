// Weights from elsewhere: an encoder that `pretext-cli import` or the window's File > Open
// weights... read from a PyTorch state_dict (a torchvision ResNet, a solo-learn or lightly
// backbone, an encoder Pretext exported). It has no training objective: every panel inspects
// it, the probes evaluate it, and a method trains from it with model.init_from.
#include <torch/torch.h>

#include "core/methods/registry.h"
#include "core/util/error.h"

namespace pretext {
namespace {

class Pretrained : public Method {
 public:
  explicit Pretrained(const MethodSetup& s) : Method(s) {}
  StepResult step(const Batch&, StepContext&) override {
    throw Error("method \"pretrained\" holds imported weights and has no training objective; to "
                "train from them, choose a method and set model.init_from to the weights file");
  }
};

}  // namespace

MethodInfo pretrainedMethodInfo() {
  MethodInfo m;
  m.name = "pretrained";
  m.title = "Imported weights";
  m.family = "imported";
  m.summary =
      "An encoder trained elsewhere, read from a PyTorch state_dict (torchvision key names; "
      "backbone., encoder. and module. prefixes stripped). It is inspected and evaluated like "
      "any run; to train from it, choose a method and set model.init_from.";
  m.formula = "(none: the weights are fixed)";
  m.paper = "";
  m.trainable = false;
  m.make = [](const MethodSetup& s) { return std::make_shared<Pretrained>(s); };
  return m;
}

}  // namespace pretext
