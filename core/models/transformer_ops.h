#pragma once
// The transformer's heavy ops on CPU: its linear layers, attention and attention's batched
// products of small matrices, differentiable.
//
// Where the build found oneDNN (Debian's libdnnl-dev; the library LibTorch's own convolutions
// use), fp32 CPU tensors go to oneDNN's matmul primitive, which reads and writes strided views:
// - batchedMatmul: LibTorch 1.13's fp32 bmm multiplies the batch's matrices one after another on
//   one thread, about 3-4 us each (mae-fashion makes 1024 of them per call, 36 calls a step).
// - linear: 1.1-1.3x faster than LibTorch's OpenBLAS addmm/mm at the ViT's token shapes, in the
//   forward and both backward products (BENCHMARKS.md).
// - multiHeadAttention: q, k and v are read in place from the qkv layer's output and the heads'
//   results written in place into [B,L,D]; the backward pass writes dq, dk, dv into one
//   gradient of that output. LibTorch's composite attention copies q, k, v out of a permuted
//   view, copies the result back and, in the backward pass, zero-fills a full-size gradient for
//   each of q, k, v and adds them up.
// Elsewhere (the CUDA build, other dtypes, CPU autocast, a build without oneDNN) the same maths
// runs on LibTorch's ops; on CPU without oneDNN batchedMatmul splits the batch over two threads.
#include <torch/types.h>

#include <cstdint>

namespace pretext {

// x [..., m, k] @ y [..., k, n] (the same leading dimensions) -> [..., m, n].
torch::Tensor batchedMatmul(const torch::Tensor& x, const torch::Tensor& y);

// x [..., in] W^T + b: weight [out, in], bias [out] or undefined -> [..., out].
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias);

// Multi-head self-attention's core: qkv [B,L,3D] (q, k, v side by side, each `heads` x D/heads,
// as a qkv Linear makes them) -> softmax(q k^T / sqrt(D/heads)) v per head, the heads
// concatenated: [B,L,D].
torch::Tensor multiHeadAttention(const torch::Tensor& qkv, int64_t heads);

// What these ops run on for fp32 CPU tensors: "onednn" or "libtorch" (for benchmarks and logs).
const char* transformerKernel();

// false: LibTorch's ops (the two-thread bmm split included) even where oneDNN is built in, for
// the whole process, so that a benchmark can time both in one run. Returns whether oneDNN is
// now used (never where the build lacks it).
bool useOneDnnTransformerOps(bool on);

}  // namespace pretext
