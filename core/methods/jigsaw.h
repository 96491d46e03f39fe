#pragma once
// Jigsaw puzzles (Noroozi & Favaro 2016): the permutation set, the tiles and the shuffling (for
// the tests, and for PIRL, whose second view is a jigsaw-transformed image).
#include <torch/types.h>

#include <cstdint>
#include <string>

#include "core/methods/patches.h"

namespace pretext {

// A set of n permutations of 0..length-1 chosen greedily for a large Hamming distance: start
// from a permutation drawn with `seed` (std::mt19937_64, so the set is the same everywhere), then
// repeatedly add the permutation, among all length! of them, whose minimum Hamming distance to
// the chosen ones is largest (ties: the largest sum of distances, which is the criterion of the
// paper's Algorithm 1; then the first in lexicographic order). Returns [n,length] int64.
// Throws pretext::Error unless 1 <= n <= length! and 2 <= length <= 9.
torch::Tensor maximalHammingPermutations(int64_t n, uint64_t seed, int64_t length = 9);
// The smallest Hamming distance between two rows of perms [n,length] (length + 1 when n < 2).
int64_t minHammingDistance(const torch::Tensor& perms);

// The nine tiles [B,9,C,P,P] jigsaw cuts from images [B,C,H,W] in [0,1] (resized to the grid's
// side first), in row-major cell order, not yet shuffled: each cell jittered by up to +-jitter
// pixels, the colour defence (colourDefence: "drop", "grayscale" or "none"), and with tileNorm
// every tile standardised on its own (zero mean, unit deviation, mapped back around 0.5).
torch::Tensor jigsawTiles(const torch::Tensor& images, const PatchGrid& grid, const std::string& colour,
                          bool tileNorm, torch::Generator& gen);
// The same with each cell's jitter given, shifts [B,9,2] (randomShifts); `gen` draws only the
// colour defence.
torch::Tensor jigsawTiles(const torch::Tensor& images, const PatchGrid& grid, const std::string& colour,
                          bool tileNorm, const torch::Tensor& shifts, torch::Generator& gen);

// Shuffles tiles [B,T,...] by permutations perm [B,T] (int64): out[b,i] = tiles[b, perm[b,i]],
// i.e. position i of the puzzle shows tile perm[b,i].
torch::Tensor shuffleTiles(const torch::Tensor& tiles, const torch::Tensor& perm);
// The inverse: puts shuffled tiles back, out[b, perm[b,i]] = shuffled[b,i].
torch::Tensor unshuffleTiles(const torch::Tensor& shuffled, const torch::Tensor& perm);

}  // namespace pretext
