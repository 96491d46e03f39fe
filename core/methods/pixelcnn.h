#pragma once
// PixelCNN (van den Oord, Kalchbrenner, Kavukcuoglu 2016): the pieces the tests and the benchmark
// use. The network itself lives in pixelcnn.cpp; the free functions below reach it through a
// Method made by makeMethod("pixelcnn", ...).
#include <torch/types.h>

#include <cstdint>
#include <functional>

#include "core/methods/method.h"

namespace pretext {

// The mask of a masked convolution's weight [out, in, k, k] (k odd): 1 on the kernel rows above
// the centre, and left of the centre on its row; 0 right of it and below. At the centre the
// channels are split into `colours` groups in order (channel n of N belongs to group
// n * colours / N; the image's own channels are one group each): an output may see an input of
// an earlier group, and of its own group too for type B. With one colour, type A excludes the
// centre pixel (the first layer: a pixel's prediction must not see the pixel) and type B includes
// it (the later layers: the centre of their input already holds only the pixels before it).
torch::Tensor pixelCnnMask(int64_t outChannels, int64_t inChannels, int64_t kernel, bool typeA,
                           int64_t colours);

// The 8-bit values of images in [0,1]: round(255 x), clamped to 0..255, int64.
torch::Tensor pixelValues(const torch::Tensor& images);

// -log p(x) in nats per image [N] of the 256-way softmax logits [N,C,256,H,W] for the 8-bit
// values [N,C,H,W] (int64): sum over the image's C*H*W dimensions of -log softmax(logits)[value].
torch::Tensor pixelNll(const torch::Tensor& logits, const torch::Tensor& values);

// Bits per dimension of a mean per-image negative log-likelihood in nats: nats / (dims ln 2).
double bitsPerDim(double natsPerImage, int64_t dims);

// The independent per-pixel baseline: every pixel position (and channel) its own 256-bin
// histogram of the training images' values with `pseudoCount` added to every bin (add-one
// smoothing by default): p_pos(v) = (count_pos(v) + a) / (N + 256 a).
struct PixelHistogram {
  torch::Tensor logProb;  // [C,H,W,256], natural log, float64
};
// `images`: uint8 [N,C,H,W]. Throws pretext::Error for another type or shape, or a
// pseudo-count <= 0 (a value unseen at a position would have probability 0).
PixelHistogram fitPixelHistogram(const torch::Tensor& images, double pseudoCount = 1);
// -log p(x) in nats per image [N] (float64) of uint8 images [N,C,H,W] of the histogram's shape.
torch::Tensor histogramNll(const PixelHistogram& histogram, const torch::Tensor& images);

// The network's logits [N,C,256,H,W] for images in [0,1] (with the logistic mixture output: its
// log-probabilities of the 256 values) (the method must be a pixelcnn; throws
// pretext::Error otherwise).
torch::Tensor pixelCnnLogits(Method& method, const torch::Tensor& images);
// -log p(x) in nats per image [N] for images in [0,1] (the 256-way softmax's or the logistic
// mixture's, whichever the method's `output` is; the mixture's without its [N,C,256,H,W] table).
torch::Tensor pixelCnnNll(Method& method, const torch::Tensor& images);
// The logits [N,C,256] at one pixel (row, col) computed on the smallest crop that holds the
// pixel's receptive field (what the sampler runs, one pass per pixel): equal to
// pixelCnnLogits(method, images)[:, :, :, row, col].
torch::Tensor pixelCnnPixelLogits(Method& method, const torch::Tensor& images, int64_t row,
                                  int64_t col);
// Draws the pixels of `images` (float [N,C,H,W] in [0,1], changed in place) where `known`
// ([N,1,H,W] bool, or undefined: none known) is false, one pass per pixel and channel in raster
// order, each value from softmax(logits / temperature) with `gen`. `onRow(row)` (optional) is
// called after each row (the previews copy the image at some rows).
void pixelCnnSample(Method& method, torch::Tensor& images, const torch::Tensor& known,
                    double temperature, torch::Generator& gen,
                    const std::function<void(int64_t)>& onRow = {});

}  // namespace pretext
