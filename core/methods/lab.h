#pragma once
// CIE Lab colour and the quantised ab plane of colorization (Zhang, Isola, Efros 2016), as batched
// tensor ops: the pieces the colorization and split-brain methods share and the tests check.
#include <torch/types.h>

#include <cstdint>

namespace pretext {

// sRGB (gamma-encoded, [0,1], D65 white) <-> CIE L*a*b*: images [N,3,H,W] -> [N,3,H,W] with
// L in [0,100] and a, b roughly in [-110,110]. labToRgb clamps the result to [0,1] (a Lab value
// outside the sRGB gamut has no exact RGB).
torch::Tensor rgbToLab(const torch::Tensor& rgb);
torch::Tensor labToRgb(const torch::Tensor& lab);
// L of an RGB or gray image [N,1|3,H,W] (a gray pixel g is the colour (g,g,g)), in [0,100].
torch::Tensor lightness(const torch::Tensor& images);

// The centres of the in-gamut cells of the ab plane on a grid of `grid` units: every cell hit by
// some sRGB colour (the RGB cube sampled at `samples` levels per channel, converted to Lab, ab
// rounded to the nearest multiple of `grid`). [Q,2] float (a, b), sorted by a then b. Cached.
torch::Tensor abGamutBins(double grid = 10, int64_t samples = 64);

// Soft encoding of the targets: each ab value [N,2] becomes a distribution over the Q bins [Q,2]
// with its `k` nearest bins weighted by a Gaussian of the distance (sigma), summing to 1. [N,Q].
torch::Tensor softEncode(const torch::Tensor& ab, const torch::Tensor& bins, int64_t k = 5,
                         double sigma = 5);
// Index of the nearest bin of each ab value [N,2] -> [N] int64.
torch::Tensor nearestBin(const torch::Tensor& ab, const torch::Tensor& bins);

// Class-rebalancing weights (Zhang et al. eq. 3-4): w ~ ((1-lambda) p + lambda/Q)^-1, scaled so
// that sum_q p_q w_q = 1. `p` [Q] is the (smoothed) empirical bin distribution (sums to 1).
torch::Tensor rebalanceWeights(const torch::Tensor& p, double lambda = 0.5);
// The empirical distribution smoothed over the ab plane: p~ = G_sigma * p, a Gaussian of the bin
// centres' distances (sigma in ab units), renormalised.
torch::Tensor smoothBinDistribution(const torch::Tensor& p, const torch::Tensor& bins,
                                    double sigma = 5);

// The rebalanced multinomial cross-entropy (eq. 2): mean over pixels of
//   -w[argmax_q Z_q] * sum_q Z_q log softmax(logits)_q,   logits/targets [N,Q], weights [Q]
// (undefined weights: all 1).
torch::Tensor rebalancedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                     const torch::Tensor& weights);

// Annealed mean (eq. 5): f_T(z) = exp(log z / T) / sum_q exp(log z_q / T), then the mean of the
// bin centres under f_T. probs [N,Q] -> ab [N,2]. T = 1: the mean; T -> 0: the mode.
torch::Tensor annealedMean(const torch::Tensor& probs, const torch::Tensor& bins, double T);

// The cumulative per-pixel ab-error curve of Zhang et al. (thresholds 0, 1, ..., 150 in ab units):
// the share of pixels whose ab (pred, truth [N,2,H,W]) lie within each threshold (l2 distance),
// averaged over the 151 thresholds: the area under the curve, in [0,1].
torch::Tensor abErrorAuc(const torch::Tensor& predAb, const torch::Tensor& trueAb);

// Dense-prediction plumbing shared by colorization and split-brain: [N,C,h,w] -> [N*h*w, C]
// (one row per pixel) and back, and square maps resized to `size` (area-averaged down,
// bilinear up).
torch::Tensor pixelRows(const torch::Tensor& x);
torch::Tensor pixelMaps(const torch::Tensor& rows, int64_t n, int64_t h, int64_t w);
torch::Tensor resizeMaps(const torch::Tensor& x, int64_t size);

}  // namespace pretext
