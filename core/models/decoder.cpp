#include "core/models/batch_norm.h"
#include "core/models/decoder.h"

#include <torch/torch.h>

#include "core/util/error.h"

namespace pretext {

namespace nn = torch::nn;

ConvDecoderImpl::ConvDecoderImpl(const DecoderOptions& o) : options_(o) {
  if (o.inDim() < 1) throw Error("decoder: input dimension must be positive");
  if (o.imageSize() < 4) throw Error("decoder: images of at least 4x4 pixels expected");
  if (o.output() != "sigmoid" && o.output() != "tanh" && o.output() != "none")
    throw Error("decoder: output \"" + o.output() + "\": expected sigmoid, tanh or none");
  const int64_t w = o.width();
  side_ = (o.imageSize() + 7) / 8;
  fc_ = register_module("fc", nn::Linear(o.inDim(), 4 * w * side_ * side_));
  nn::Sequential body;
  body->push_back(SyncableBatchNorm2d(4 * w));
  body->push_back(nn::ReLU(nn::ReLUOptions(true)));
  const int64_t widths[4] = {4 * w, 2 * w, w, w};
  for (int i = 0; i < 3; ++i) {
    body->push_back(nn::Upsample(
        nn::UpsampleOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest)));
    body->push_back(nn::Conv2d(nn::Conv2dOptions(widths[i], widths[i + 1], 3).padding(1).bias(false)));
    body->push_back(SyncableBatchNorm2d(widths[i + 1]));
    body->push_back(nn::ReLU(nn::ReLUOptions(true)));
  }
  body->push_back(nn::Conv2d(nn::Conv2dOptions(w, o.outChannels(), 3).padding(1)));
  body_ = register_module("body", body);
}

torch::Tensor ConvDecoderImpl::forward(const torch::Tensor& z) {
  const int64_t w = options_.width();
  auto x = body_->forward(fc_->forward(z).view({z.size(0), 4 * w, side_, side_}));
  const int64_t extra = x.size(2) - options_.imageSize();
  if (extra > 0) {
    const int64_t a = extra / 2;
    x = x.slice(2, a, a + options_.imageSize()).slice(3, a, a + options_.imageSize());
  }
  if (options_.output() == "sigmoid") return torch::sigmoid(x);
  if (options_.output() == "tanh") return torch::tanh(x);
  return x;
}

}  // namespace pretext
