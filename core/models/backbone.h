#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/util/options.h"

namespace pretext {

struct BackboneOptions {
  PRETEXT_ARG(std::string, name) = "convnet";  // convnet | resnet18 | resnet34 | vit | mlp
  PRETEXT_ARG(int64_t, inChannels) = 1;
  PRETEXT_ARG(int64_t, width) = 32;            // channels of the first stage; vit: embedding dim; mlp: hidden units
  PRETEXT_ARG(int64_t, imageSize) = 28;
  PRETEXT_ARG(int64_t, patchSize) = 4;         // vit: side of the square patches (one token each)
  PRETEXT_ARG(int64_t, depth) = 4;             // vit: transformer blocks
  PRETEXT_ARG(int64_t, heads) = 4;             // vit: attention heads (must divide width)
  // resnets: "small" (a 3x3 stride-1 first convolution, no max-pool: SimCLR's CIFAR stem) or
  // "imagenet" (torchvision's 7x7 stride-2 convolution and 3x3 stride-2 max-pool)
  PRETEXT_ARG(std::string, stem) = "small";
  // convnet only: the normalisation after each convolution: "batch" (batch norm), "layer" (layer
  // norm over each image's C x H x W with a scale and shift per channel: GroupNorm with one
  // group, what Gulrajani et al. use in a WGAN-GP critic, whose gradient penalty is per image and
  // must not mix the images of a batch) or "none" (the convolutions get biases instead)
  PRETEXT_ARG(std::string, norm) = "batch";

 public:
  // Throws pretext::Error naming backbone.<field>. validateArchitecture() checks everything that
  // does not depend on the images (an experiment knows the image size only once the data is
  // loaded); validate() adds the checks against imageSize and inChannels.
  void validateArchitecture() const;
  void validate() const;
};
std::vector<std::string> backboneNames();

// An encoder maps float images [B,C,H,W] in [0,1] to features [B,featureDim]: the
// representation that the probes evaluate (before any projector). It normalises its input
// itself ((x - 0.5) / 0.5), so every caller passes images in [0,1].
class Encoder : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  // Feature maps after each stage (for "inside the encoder" views); default: none.
  virtual std::vector<torch::Tensor> stages(torch::Tensor x) { return {}; }
  // Parameters of the first `blocks` stages (fine-tuning can freeze them).
  virtual std::vector<torch::Tensor> stageParameters(int64_t stage) { return {}; }
  virtual int64_t numStages() const { return 0; }
  // The first layer's weights as images [K,C,kh,kw] when that layer is not a convolution (an
  // MLP's rows, each a whole image); undefined otherwise (the first convolution is read instead).
  virtual torch::Tensor inputFilters() { return {}; }
  int64_t featureDim() const { return featureDim_; }

 protected:
  int64_t featureDim_ = 0;
};

std::shared_ptr<Encoder> makeBackbone(const BackboneOptions& options);

// Stores every 4-D parameter and buffer of `module` (convolution kernels) in channels-last
// (NHWC) layout. Convolutions then run oneDNN's (CPU) or cuDNN's (GPU) NHWC kernels without
// reordering their weights on every call, and their outputs follow in NHWC, from the first
// convolution on (one-channel kernels get explicit NHWC strides): on the 2-core CPU a whole
// ConvNet training step is 1.20-1.53x faster. The values are unchanged (a copy in another
// memory order); Module::to(device) keeps the layout.
void useChannelsLast(torch::nn::Module& module);

}  // namespace pretext
