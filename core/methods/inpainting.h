#pragma once
// Context encoder (Pathak et al. 2016): the pieces the tests check by hand.
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace pretext {

// Where a block is cut out of each image, as [N,1,H,W] float masks (1 = inside).
struct BlockMask {
  torch::Tensor region;  // the block the decoder must predict (block x block pixels)
  torch::Tensor hole;    // what the encoder does not see: the block shrunk by `overlap` on each
                       // side (Pathak's overlap: a ring the encoder sees and the loss weighs more)
};
// mode "center": the central block (top-left at (H-block)/2, (W-block)/2, rounded down);
// "random": one block per image at a position drawn uniformly from `gen` (wholly inside).
// Throws pretext::Error naming method.params.block_size / overlap when they do not fit.
BlockMask blockMask(int64_t n, int64_t height, int64_t width, int64_t block, int64_t overlap,
                    const std::string& mode, torch::Generator& gen);
// The encoder's input: the hole filled with the constant `fill` (0.5: the encoder's zero).
torch::Tensor maskImages(const torch::Tensor& images, const torch::Tensor& hole, double fill = 0.5);
// The per-pixel weights of the reconstruction loss: 1 in the hole, overlapWeight in the ring
// (region minus hole), 0 outside the block.
torch::Tensor inpaintingWeights(const BlockMask& mask, double overlapWeight);
// Weighted L2 over the block: sum_{c,i,j} w_ij (pred - target)^2 / (C sum_ij w_ij) per batch, i.e.
// the weighted mean squared error (plain MSE on the missing pixels when there is no ring).
torch::Tensor inpaintingLoss(const torch::Tensor& pred, const torch::Tensor& target,
                             const torch::Tensor& weights);

}  // namespace pretext
