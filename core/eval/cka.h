#pragma once
// How similar two networks' representations are: linear centred kernel alignment (CKA,
// Kornblith, Norouzi, Lee, Hinton 2019, "Similarity of Neural Network Representations
// Revisited"). For representations X [N,p] and Y [N,q] of the same N inputs, with H the
// centring matrix I - 11^T/N, K = X X^T and L = Y Y^T,
//   CKA(X, Y) = <HKH, HLH>_F / (||HKH||_F ||HLH||_F)  =  ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)
// with Xc, Yc the column-centred matrices. It is 1 for representations equal up to an
// orthogonal transform and an isotropic scale, invariant to those, and near 0 for unrelated
// ones; it compares layers of different widths. The Gram form costs N x N per layer, whatever
// the layer's width, so a stage's whole feature map (flattened) enters, as in the paper.
#include <torch/types.h>

#include <string>
#include <vector>

namespace pretext {

class Encoder;

// The centred Gram matrix H X X^T H of x [N,...] (flattened to [N,D], as float64 on x's device).
// Throws pretext::Error for fewer than 2 rows.
torch::Tensor centeredGram(const torch::Tensor& x);
// CKA from two centred Gram matrices of the same N inputs (0 when either is all zero).
double ckaFromGrams(const torch::Tensor& kc, const torch::Tensor& lc);
// CKA of two representations x [N,...] and y [N,...] of the same N inputs.
double linearCka(const torch::Tensor& x, const torch::Tensor& y);

// One encoder's representations of a set of images, one centred Gram matrix per layer: every
// stage's output (the whole map, flattened) and then the encoder's features (what the probes
// read), named "stage 1".."stage S", "features".
struct LayerGrams {
  std::vector<std::string> names;
  std::vector<torch::Tensor> grams;  // [N,N] float64, CPU
};
// Runs images [N,C,H,W] (uint8, or float in [0,1]) through `encoder` in batches on `device`
// (no gradient; the caller sets eval mode). An encoder without stages gives its features only.
LayerGrams encoderLayerGrams(Encoder& encoder, const torch::Tensor& images, torch::Device device,
                             int64_t batchSize = 256);
// CKA of every layer of a against every layer of b: float64 [layers(a), layers(b)].
// Throws pretext::Error when they were computed on different numbers of images.
torch::Tensor ckaMatrix(const LayerGrams& a, const LayerGrams& b);

}  // namespace pretext
