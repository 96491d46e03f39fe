// The small ConvNet: the CPU default for 28-32 px images. Four 3x3 conv stages of widths
// w, 2w, 4w, 8w, each Conv-BN-ReLU (+ 2x2 max-pool after the first three), then global
// average pooling: an 8w-dimensional representation. backbone.norm swaps the batch norm for a
// layer norm (GroupNorm with one group) or none (the convolutions then have biases); the
// modules keep their indices (stageN.1 is the norm), so the state_dict names stay PyTorch's.
#include <torch/torch.h>

#include "core/models/batch_norm.h"
#include "core/models/backbone.h"

namespace pretext {
namespace {

namespace nn = torch::nn;

nn::Sequential convStage(int64_t in, int64_t out, bool pool, const std::string& norm) {
  nn::Sequential s(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1).bias(norm == "none")));
  if (norm == "batch")
    s->push_back(SyncableBatchNorm2d(out));
  else if (norm == "layer")
    s->push_back(nn::GroupNorm(nn::GroupNormOptions(1, out)));
  else
    s->push_back(nn::Identity());
  s->push_back(nn::ReLU(nn::ReLUOptions(true)));
  if (pool) s->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(2)));
  return s;
}

class ConvNet : public Encoder {
 public:
  explicit ConvNet(const BackboneOptions& o) {
    const int64_t w = o.width();
    const int64_t widths[5] = {o.inChannels(), w, 2 * w, 4 * w, 8 * w};
    for (int i = 0; i < 4; ++i)
      stages_.push_back(register_module("stage" + std::to_string(i + 1),
                                        convStage(widths[i], widths[i + 1], i < 3, o.norm())));
    featureDim_ = 8 * w;
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = (x - 0.5) / 0.5;
    for (auto& s : stages_) x = s->forward(x);
    return x.mean({2, 3});
  }
  std::vector<torch::Tensor> stages(torch::Tensor x) override {
    std::vector<torch::Tensor> out;
    x = (x - 0.5) / 0.5;
    for (auto& s : stages_) out.push_back(x = s->forward(x));
    return out;
  }
  std::vector<torch::Tensor> stageParameters(int64_t stage) override {
    return stages_.at(stage)->parameters();
  }
  int64_t numStages() const override { return 4; }

 private:
  std::vector<nn::Sequential> stages_;
};

}  // namespace

std::shared_ptr<Encoder> makeConvNet(const BackboneOptions& o) { return std::make_shared<ConvNet>(o); }

}  // namespace pretext
