#pragma once
// The trainer's guard against NaN and infinity beyond the loss: a loss whose backward divides by
// zero (the norm of an all-zero vector, a square root at 0) has a finite value and non-finite
// gradients, and one optimiser step with them makes every weight NaN. The trainer checks the
// gradients before each optimiser step where it reads the loss every step (the CPU), and the
// weights before every checkpoint (everywhere), so that a checkpoint never holds a NaN.
#include <torch/torch.h>

#include <string>

namespace pretext {

// The first parameter whose gradient holds a NaN or an infinity, as "NAME (nan)" / "NAME (inf)";
// empty when all are finite. One pass over the gradients, one read.
std::string firstNonFiniteGradient(const torch::nn::Module& module);

// The same for the parameters and buffers themselves (running statistics included).
std::string firstNonFiniteTensor(const torch::nn::Module& module);

}  // namespace pretext
