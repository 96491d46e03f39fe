// ResNet-18/34 (He et al. 2016) with the small-image stem used for CIFAR-sized inputs in the
// SimCLR paper (a 3x3 stride-1 first convolution and no max-pool) or, with stem "imagenet", the
// original one (7x7 stride-2 convolution, 3x3 stride-2 max-pool) that torchvision's ImageNet
// weights were trained with. core/interop/torch_weights maps the names to torchvision's.
#include <torch/torch.h>

#include "core/models/batch_norm.h"
#include "core/models/backbone.h"

namespace pretext {
namespace {

namespace nn = torch::nn;

class BasicBlockImpl : public nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn1 = register_module("bn1", SyncableBatchNorm2d(out));
    conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2 = register_module("bn2", SyncableBatchNorm2d(out));
    if (stride != 1 || in != out) {
      shortcut = register_module("shortcut", nn::Sequential(
          nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)), SyncableBatchNorm2d(out)));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    auto y = torch::relu(bn1(conv1(x)));
    y = bn2(conv2(y));
    return torch::relu(y + (shortcut ? shortcut->forward(x) : x));
  }
  nn::Conv2d conv1{nullptr}, conv2{nullptr};
  SyncableBatchNorm2d bn1{nullptr}, bn2{nullptr};
  nn::Sequential shortcut{nullptr};
};
TORCH_MODULE(BasicBlock);

class ResNet : public Encoder {
 public:
  ResNet(const BackboneOptions& o, const std::vector<int>& blocks) {
    const int64_t w = o.width();
    if (o.stem() == "imagenet")
      stem_ = register_module("stem", nn::Sequential(
          nn::Conv2d(nn::Conv2dOptions(o.inChannels(), w, 7).stride(2).padding(3).bias(false)),
          SyncableBatchNorm2d(w), nn::ReLU(nn::ReLUOptions(true)),
          nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1))));
    else
      stem_ = register_module("stem", nn::Sequential(
          nn::Conv2d(nn::Conv2dOptions(o.inChannels(), w, 3).padding(1).bias(false)),
          SyncableBatchNorm2d(w), nn::ReLU(nn::ReLUOptions(true))));
    int64_t in = w;
    for (size_t s = 0; s < blocks.size(); ++s) {
      const int64_t out = w << s;
      nn::Sequential layer;
      for (int b = 0; b < blocks[s]; ++b) {
        layer->push_back(BasicBlock(in, out, (b == 0 && s > 0) ? 2 : 1));
        in = out;
      }
      layers_.push_back(register_module("layer" + std::to_string(s + 1), layer));
    }
    featureDim_ = in;
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = stem_->forward((x - 0.5) / 0.5);
    for (auto& l : layers_) x = l->forward(x);
    return x.mean({2, 3});
  }
  std::vector<torch::Tensor> stages(torch::Tensor x) override {
    std::vector<torch::Tensor> out;
    x = stem_->forward((x - 0.5) / 0.5);
    for (auto& l : layers_) out.push_back(x = l->forward(x));
    return out;
  }
  std::vector<torch::Tensor> stageParameters(int64_t stage) override {
    auto p = layers_.at(stage)->parameters();
    if (stage == 0) for (auto& t : stem_->parameters()) p.push_back(t);
    return p;
  }
  int64_t numStages() const override { return static_cast<int64_t>(layers_.size()); }

 private:
  nn::Sequential stem_{nullptr};
  std::vector<nn::Sequential> layers_;
};

}  // namespace

std::shared_ptr<Encoder> makeResNet(const BackboneOptions& o, int depth) {
  if (depth == 18) return std::make_shared<ResNet>(o, std::vector<int>{2, 2, 2, 2});
  return std::make_shared<ResNet>(o, std::vector<int>{3, 4, 6, 3});
}

}  // namespace pretext
