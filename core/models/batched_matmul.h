#pragma once
// Batched products of small matrices, as attention needs them (q k^T and attn v for every image
// and head). LibTorch 1.13's fp32 bmm multiplies the batch's matrices one after another on one
// thread, about 3-4 us each: mae-fashion makes 1024 of them per call, 36 calls a step. Here they
// go to oneDNN's batched matmul (the library LibTorch's own convolutions use; Debian's
// libdnnl-dev) where the build found it, and otherwise to two halves of the batch side by side,
// one on LibTorch's inter-op pool. CUDA tensors and other dtypes take LibTorch's bmm.
#include <torch/types.h>

namespace pretext {

// x [..., m, k] @ y [..., k, n] (the same leading dimensions) -> [..., m, n], differentiable.
torch::Tensor batchedMatmul(const torch::Tensor& x, const torch::Tensor& y);

// Which kernel batchedMatmul uses for fp32 CPU tensors: "onednn" or "split" (for benchmarks).
const char* batchedMatmulKernel();

}  // namespace pretext
