#include "core/models/backbone.h"

#include <torch/torch.h>

#include "core/models/heads.h"
#include "core/util/error.h"

namespace pretext {

std::shared_ptr<Encoder> makeConvNet(const BackboneOptions& o);
std::shared_ptr<Encoder> makeResNet(const BackboneOptions& o, int depth);

std::vector<std::string> backboneNames() { return {"convnet", "resnet18", "resnet34"}; }

void BackboneOptions::validate() const {
  const auto names = backboneNames();
  if (std::find(names.begin(), names.end(), name()) == names.end())
    throw Error("backbone.name = \"" + name() + "\": expected one of convnet, resnet18, resnet34");
  if (width() < 1 || width() > 1024)
    throw Error("backbone.width = " + std::to_string(width()) + ": expected a value in [1, 1024]");
  if (inChannels() < 1 || inChannels() > 16)
    throw Error("backbone.in_channels = " + std::to_string(inChannels()) + ": expected 1..16");
  if (name() == "convnet" && imageSize() < 8)
    throw Error("backbone: the convnet needs images of at least 8x8 pixels, got " +
                std::to_string(imageSize()));
}

std::shared_ptr<Encoder> makeBackbone(const BackboneOptions& options) {
  options.validate();
  if (options.name() == "convnet") return makeConvNet(options);
  return makeResNet(options, options.name() == "resnet18" ? 18 : 34);
}

torch::nn::Sequential makeMlp(int64_t inDim, int64_t hiddenDim, int64_t outDim, int64_t layers,
                              bool batchNorm, bool lastBn) {
  namespace nn = torch::nn;
  nn::Sequential mlp;
  int64_t in = inDim;
  for (int64_t i = 0; i + 1 < layers; ++i) {
    mlp->push_back(nn::Linear(nn::LinearOptions(in, hiddenDim).bias(!batchNorm)));
    if (batchNorm) mlp->push_back(nn::BatchNorm1d(hiddenDim));
    mlp->push_back(nn::ReLU(nn::ReLUOptions(true)));
    in = hiddenDim;
  }
  mlp->push_back(nn::Linear(nn::LinearOptions(in, outDim).bias(!lastBn)));
  if (lastBn) mlp->push_back(nn::BatchNorm1d(nn::BatchNorm1dOptions(outDim).affine(false)));
  return mlp;
}

}  // namespace pretext
