#pragma once
#include <torch/types.h>

namespace pretext {

// RotNet's input: every image in all four quarter turns. Returns the rotated images
// [4B,C,H,W] (the B images at 0 deg, then at 90, 180, 270 deg counter-clockwise) and the
// rotation labels [4B] in 0..3.
std::pair<torch::Tensor, torch::Tensor> allRotations(const torch::Tensor& images);

}  // namespace pretext
