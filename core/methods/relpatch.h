#pragma once
// Relative patch location (Doersch, Gupta, Efros 2015): the pairing of patches, for the tests.
#include <torch/types.h>

#include <utility>

namespace pretext {

// All eight questions of each image at once: per-patch features f [B,9,D] (cells in row-major
// order) -> the pairs [8B,2D] (centre's features, then the neighbour's) and their labels [8B]:
// row 8b+k pairs image b's centre with its neighbour k (cell kNeighbourCell[k]), label k.
std::pair<torch::Tensor, torch::Tensor> allNeighbourPairs(const torch::Tensor& f);
// One question per image: patches [B,9,...] and labels [B] in 0..7 -> the neighbour patch
// [B,...] at cell kNeighbourCell[label].
torch::Tensor neighbourPatches(const torch::Tensor& patches, const torch::Tensor& labels);

}  // namespace pretext
