#pragma once
// Colorization (Zhang, Isola, Efros 2016): the encoder that sees Lab channels and the dense head,
// shared with the split-brain autoencoder (splitbrain.h).
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <memory>
#include <vector>

#include "core/models/backbone.h"

namespace pretext {

// Which Lab channels an encoder sees: L (as L/100) or ab (as (ab + 110)/220), both in [0,1].
enum class LabInput { L, AB };

// A backbone behind a colour conversion: takes the same images as any encoder (float [N,1|3,H,W]
// in [0,1]; a gray image is the colour (g,g,g)) and converts them to its Lab channels itself, so
// features(), the probes, fine-tuning and the random-init baseline all see the same thing.
class LabEncoder : public Encoder {
 public:
  LabEncoder(BackboneOptions backbone, LabInput input);
  torch::Tensor forward(torch::Tensor x) override { return inner_->forward(channels(x)); }
  std::vector<torch::Tensor> stages(torch::Tensor x) override {
    return inner_->stages(channels(x));
  }
  std::vector<torch::Tensor> stageParameters(int64_t stage) override {
    return inner_->stageParameters(stage);
  }
  int64_t numStages() const override { return inner_->numStages(); }
  // Images -> this encoder's input channels; fromLab: the same from a Lab image [N,3,H,W].
  torch::Tensor channels(const torch::Tensor& images) const;
  torch::Tensor fromLab(const torch::Tensor& lab) const;
  std::vector<torch::Tensor> stagesFromLab(const torch::Tensor& lab) {
    return inner_->stages(fromLab(lab));
  }
  Encoder& inner() { return *inner_; }

 private:
  LabInput input_;
  std::shared_ptr<Encoder> inner_;
};

// A small dense head: the last stage's map and a middle one, each mapped to `width` channels by
// a 1x1 conv and resized to the output grid, summed, then 3x3 conv - BN - ReLU - 1x1 conv to
// `out` channels per pixel.
class DenseHeadImpl : public torch::nn::Module {
 public:
  // `encoder` is probed once (eval mode, no grad) on a gray [1,3,size,size] image for its stages'
  // channels; the middle stage is numStages/2 - 1.
  DenseHeadImpl(Encoder& encoder, int64_t imageSize, int64_t width, int64_t out);
  torch::Tensor forward(const std::vector<torch::Tensor>& stages, int64_t outSize);

 private:
  int64_t mid_ = 0;
  torch::nn::Conv2d last_{nullptr}, middle_{nullptr};
  torch::nn::Sequential tail_{nullptr};
};
TORCH_MODULE(DenseHead);

// The side of the grid the colour is predicted on: a quarter of the image (as in the paper).
int64_t predictionSize(int64_t imageSize);

}  // namespace pretext
