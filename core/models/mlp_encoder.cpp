// The one-layer MLP encoder of the early autoencoder papers (Vincent et al. 2008/2010): the
// flattened image through one fully connected layer of `width` sigmoid units. Each unit's
// weights cover the whole image, so its filters are whole images (the lectures' figures of
// denoising autoencoders' filters at 0%, 25% and 50% corruption).
#include <torch/torch.h>

#include "core/models/backbone.h"

namespace pretext {
namespace {

class MlpEncoder : public Encoder {
 public:
  explicit MlpEncoder(const BackboneOptions& o)
      : channels_(o.inChannels()), size_(o.imageSize()) {
    fc_ = register_module(
        "fc", torch::nn::Linear(torch::nn::LinearOptions(channels_ * size_ * size_, o.width())));
    featureDim_ = o.width();
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = (x - 0.5) / 0.5;
    return torch::sigmoid(fc_->forward(x.flatten(1)));
  }
  // One stage: the hidden units as 1x1 maps (the activation views read it).
  std::vector<torch::Tensor> stages(torch::Tensor x) override {
    const auto h = forward(x);
    return {h.view({h.size(0), h.size(1), 1, 1})};
  }
  std::vector<torch::Tensor> stageParameters(int64_t stage) override { return parameters(); }
  int64_t numStages() const override { return 1; }
  torch::Tensor inputFilters() override {
    return fc_->weight.view({featureDim_, channels_, size_, size_});
  }

 private:
  int64_t channels_, size_;
  torch::nn::Linear fc_{nullptr};
};

}  // namespace

std::shared_ptr<Encoder> makeMlpEncoder(const BackboneOptions& o) { return std::make_shared<MlpEncoder>(o); }

}  // namespace pretext
