#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <cstdint>
#include <string>

#include "core/util/options.h"

namespace pretext {

// A convolutional decoder from a vector to an image (autoencoders, the VAE, the context
// encoder's filler, the DCGAN generator):
//   Linear(inDim -> 4w * s * s) -> BN -> ReLU, s = ceil(imageSize / 8)
//   3 x [nearest 2x upsampling -> 3x3 conv -> BN -> ReLU]  (4w -> 2w -> w channels, 8s px)
//   3x3 conv -> outChannels, centre-cropped to imageSize (28 px: 32 -> 28), then the output
//   activation. Upsampling + convolution rather than transposed convolutions: no checkerboard.
struct DecoderOptions {
  PRETEXT_ARG(int64_t, inDim) = 256;
  PRETEXT_ARG(int64_t, outChannels) = 1;
  PRETEXT_ARG(int64_t, imageSize) = 28;
  PRETEXT_ARG(int64_t, width) = 32;
  PRETEXT_ARG(std::string, output) = "sigmoid";  // sigmoid (images in [0,1]) | tanh | none (logits)
};

class ConvDecoderImpl : public torch::nn::Module {
 public:
  explicit ConvDecoderImpl(const DecoderOptions& options);
  // z [B, inDim] -> [B, outChannels, imageSize, imageSize]
  torch::Tensor forward(const torch::Tensor& z);
  const DecoderOptions& options() const { return options_; }

 private:
  DecoderOptions options_;
  int64_t side_ = 4;
  torch::nn::Linear fc_{nullptr};
  torch::nn::Sequential body_{nullptr};
};
TORCH_MODULE(ConvDecoder);

}  // namespace pretext
