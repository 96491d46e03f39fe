#include "core/models/backbone.h"

#include <torch/torch.h>

#include "core/models/batch_norm.h"
#include "core/models/heads.h"
#include "core/util/error.h"

namespace pretext {

std::shared_ptr<Encoder> makeConvNet(const BackboneOptions& o);
std::shared_ptr<Encoder> makeResNet(const BackboneOptions& o, int depth);
std::shared_ptr<Encoder> makeViT(const BackboneOptions& o);
std::shared_ptr<Encoder> makeMlpEncoder(const BackboneOptions& o);

std::vector<std::string> backboneNames() { return {"convnet", "resnet18", "resnet34", "vit", "mlp"}; }

void BackboneOptions::validateArchitecture() const {
  const auto names = backboneNames();
  if (std::find(names.begin(), names.end(), name()) == names.end()) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    throw Error("backbone.name = \"" + name() + "\": expected one of " + known);
  }
  if (width() < 1 || width() > 1024)
    throw Error("backbone.width = " + std::to_string(width()) + ": expected a value in [1, 1024]");
  if (patchSize() < 1 || patchSize() > 256)
    throw Error("backbone.patch_size = " + std::to_string(patchSize()) +
                ": expected a value in [1, 256]");
  if (depth() < 1 || depth() > 64)
    throw Error("backbone.depth = " + std::to_string(depth()) + ": expected a value in [1, 64]");
  if (heads() < 1 || heads() > 64)
    throw Error("backbone.heads = " + std::to_string(heads()) + ": expected a value in [1, 64]");
  if (stem() != "small" && stem() != "imagenet")
    throw Error("backbone.stem = \"" + stem() + "\": expected small or imagenet");
  if (stem() != "small" && name().rfind("resnet", 0) != 0)
    throw Error("backbone.stem = \"" + stem() + "\": only the resnets have a choice of stem; " +
                "backbone.name is " + name());
  if (norm() != "batch" && norm() != "layer" && norm() != "none")
    throw Error("backbone.norm = \"" + norm() + "\": expected batch, layer or none");
  if (norm() != "batch" && name() != "convnet")
    throw Error("backbone.norm = \"" + norm() + "\": only the convnet has a choice of "
                "normalisation; backbone.name is " + name());
  if (name() == "vit") {
    if (width() % heads() != 0)
      throw Error("backbone.heads = " + std::to_string(heads()) + ": the vit's width (embedding " +
                  "dimension) " + std::to_string(width()) + " must be divisible by the number " +
                  "of heads; change backbone.heads or backbone.width");
    if (width() % 4 != 0)
      throw Error("backbone.width = " + std::to_string(width()) + ": the vit's embedding " +
                  "dimension must be a multiple of 4 (2-D sin-cos position embeddings)");
  }
}

void BackboneOptions::validate() const {
  validateArchitecture();
  if (name() == "vit" && (imageSize() < patchSize() || imageSize() % patchSize() != 0)) {
    std::string fits;
    for (int64_t p = 2; p <= imageSize() / 2 && fits.size() < 24; ++p)
      if (imageSize() % p == 0) fits += (fits.empty() ? "" : ", ") + std::to_string(p);
    throw Error("backbone.patch_size = " + std::to_string(patchSize()) + ": the images are " +
                std::to_string(imageSize()) + "x" + std::to_string(imageSize()) +
                " pixels, which the vit's patches must tile exactly; choose a divisor of " +
                std::to_string(imageSize()) + (fits.empty() ? "" : " (" + fits + ")"));
  }
  if (inChannels() < 1 || inChannels() > 16)
    throw Error("backbone.in_channels = " + std::to_string(inChannels()) + ": expected 1..16");
  if (name() == "mlp" && inChannels() * imageSize() * imageSize() > (1 << 16))
    throw Error("backbone: the mlp flattens the image into one vector; " + std::to_string(inChannels()) +
                " x " + std::to_string(imageSize()) + " x " + std::to_string(imageSize()) +
                " inputs is too many for it (at most 65,536): use a convnet, or data.image_size");
  if (name() == "convnet" && imageSize() < 8)
    throw Error("backbone: the convnet needs images of at least 8x8 pixels, got " +
                std::to_string(imageSize()));
}

std::shared_ptr<Encoder> makeBackbone(const BackboneOptions& options) {
  options.validate();
  if (options.name() == "convnet") return makeConvNet(options);
  if (options.name() == "vit") return makeViT(options);
  if (options.name() == "mlp") return makeMlpEncoder(options);
  return makeResNet(options, options.name() == "resnet18" ? 18 : 34);
}

torch::nn::Sequential makeMlp(int64_t inDim, int64_t hiddenDim, int64_t outDim, int64_t layers,
                              bool batchNorm, bool lastBn) {
  namespace nn = torch::nn;
  nn::Sequential mlp;
  int64_t in = inDim;
  for (int64_t i = 0; i + 1 < layers; ++i) {
    mlp->push_back(nn::Linear(nn::LinearOptions(in, hiddenDim).bias(!batchNorm)));
    if (batchNorm) mlp->push_back(SyncableBatchNorm1d(hiddenDim));
    mlp->push_back(nn::ReLU(nn::ReLUOptions(true)));
    in = hiddenDim;
  }
  mlp->push_back(nn::Linear(nn::LinearOptions(in, outDim).bias(!lastBn)));
  if (lastBn) mlp->push_back(SyncableBatchNorm1d(nn::BatchNorm1dOptions(outDim).affine(false)));
  return mlp;
}

void useChannelsLast(torch::nn::Module& module) {
  torch::NoGradGuard noGrad;
  // A fresh NHWC tensor, not contiguous(ChannelsLast): with one input channel (a gray image's
  // first convolution, [w,1,3,3]) NCHW strides already count as channels-last contiguous, so
  // contiguous() keeps them, LibTorch then reads the weight as NCHW and answers that convolution
  // in NCHW, and the NHWC gradients that meet its activations are converted back on every step
  // (a [512,32,28,28] clone in the first max-pool's backward). empty_like gives [w,1,3,3]
  // the strides 9,1,3,1, which LibTorch reads as channels-last.
  auto convert = [](torch::Tensor& t) {
    if (!t.defined() || t.dim() != 4) return;
    auto nhwc = at::empty_like(t.data(), at::MemoryFormat::ChannelsLast);
    nhwc.copy_(t.data());
    t.set_data(nhwc);
  };
  for (auto& p : module.parameters()) convert(p);
  for (auto& b : module.buffers()) convert(b);
}

}  // namespace pretext
