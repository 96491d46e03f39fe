#pragma once
// Masked autoencoder (He et al. 2022): the pieces the tests check by hand.
#include <torch/types.h>

#include <cstdint>

namespace pretext {

// Images [N,C,H,W] -> patches [N, L, p*p*C], L = (H/p)(W/p) in row-major order; within a patch
// the values run over (row, column, channel) with the channel fastest (MAE's 'nchpwq->nhwpqc').
// Throws pretext::Error when p does not divide H and W.
torch::Tensor patchify(const torch::Tensor& images, int64_t patch);
// The inverse, for a square grid of patches: [N, L, p*p*C] -> [N, C, sqrt(L) p, sqrt(L) p].
torch::Tensor unpatchify(const torch::Tensor& patches, int64_t patch, int64_t channels);

// One random mask per sample (MAE's random_masking): uniform noise, argsort, keep the first K.
struct PatchMask {
  torch::Tensor keep;     // [N,K] int64: the visible patches, in shuffled order
  torch::Tensor mask;     // [N,L] float: 1 = masked (to be predicted), 0 = visible
  torch::Tensor restore;  // [N,L] int64: the inverse permutation (puts shuffled tokens back)
};
// K = round(L * (1 - maskRatio)), kept in [1, L-1] (for L >= 2): the encoder always sees a
// patch and the decoder always has one to predict.
int64_t visiblePatches(int64_t length, double maskRatio);
// Drawn on the CPU from `gen`; every row keeps exactly visiblePatches(length, maskRatio).
PatchMask randomMasking(int64_t n, int64_t length, double maskRatio, torch::Generator& gen);

// Per-patch normalisation of target pixels (norm_pix_loss): (x - mean) / sqrt(var + 1e-6) over
// each patch's values, with the unbiased variance as in the reference code (0 for 1-value patches).
torch::Tensor normalizePatches(const torch::Tensor& patches);
// Each patch's mean squared error [N,L] (targets normalised per patch under normPix).
torch::Tensor maePatchErrors(const torch::Tensor& pred, const torch::Tensor& target, bool normPix);
// MSE on the masked patches only: mean over a patch's values of (pred - target)^2, averaged over
// the patches with mask = 1 (pred/target [N,L,P], mask [N,L]). normPix: the target is normalised
// per patch first. Visible patches do not count; no masked patch gives 0.
torch::Tensor maeLoss(const torch::Tensor& pred, const torch::Tensor& target,
                      const torch::Tensor& mask, bool normPix);
// The baseline the loss must beat: maeLoss of predicting, at every masked patch, the mean of the
// batch's masked target patches (normalised first under normPix).
torch::Tensor meanPatchLoss(const torch::Tensor& target, const torch::Tensor& mask, bool normPix);

}  // namespace pretext
