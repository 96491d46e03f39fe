#pragma once
// Looking inside an encoder: its first-layer filters, the images that excite a channel most,
// the representational-similarity matrix of a set of images, and how well classes separate in a
// 2-D embedding. Used by the window's "Inside the encoder" and "Embedding" panels.
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "core/data/dataset.h"

namespace pretext {

class Encoder;

// The first 4-D parameter (convolution weight [O,C,kh,kw]) of the encoder in registration order,
// i.e. its first conv layer, as float on the CPU, each filter scaled on its own so that 0 maps to
// 0.5 and its largest |weight| to 0 or 1: w / (2 max|w|) + 0.5 (an all-zero filter is 0.5).
// Throws pretext::Error when the encoder has no convolution (e.g. a ViT's patch embedding
// stored otherwise).
torch::Tensor firstLayerFilters(Encoder& encoder);

// Mean activation over space of every channel after every stage, for images [N,C,H,W] (uint8 or
// float in [0,1]) run through encoder.stages() in batches on `device`: one float CPU tensor
// [N,C_s] per stage. The caller sets eval mode. Throws pretext::Error when the encoder exposes no
// stages.
std::vector<torch::Tensor> channelActivations(Encoder& encoder, const torch::Tensor& images,
                                              torch::Device device, int64_t batchSize = 256);

// The k rows of activations [N,C] with the largest value in `channel`, in decreasing order:
// {indices int64 [k], values float [k]}; k is clamped to N. Ties go to the lower index.
std::pair<torch::Tensor, torch::Tensor> topActivating(const torch::Tensor& activations,
                                                      int64_t channel, int64_t k);

// At most m row indices of `labels` [N] (int64 0..numClasses-1), as balanced across classes as
// the data allow (round-robin over classes, each class's images in their original order), then
// sorted by class (stable). Unlabelled (undefined labels): the first min(m, n) indices.
torch::Tensor classBalancedOrder(const torch::Tensor& labels, int64_t n, int64_t numClasses,
                                 int64_t m);

// Cosine similarity of every pair of rows of features [M,D]: float [M,M] in [-1,1] (a zero row
// has similarity 0 to everything, and 1 to itself).
torch::Tensor cosineSimilarityMatrix(const torch::Tensor& features);

// Mean off-diagonal similarity within classes minus the mean between classes (labels [M]); 0 when
// either set of pairs is empty.
double similarityContrast(const torch::Tensor& similarity, const torch::Tensor& labels);

// Class agreement of a low-dimensional embedding: the mean over points of the fraction of each
// point's k nearest other points (Euclidean) that share its label. 1 when classes are separated,
// about the largest class share when they are mixed. k is clamped to N - 1.
double neighbourAgreement(const torch::Tensor& points, const torch::Tensor& labels, int64_t k = 10);

}  // namespace pretext
