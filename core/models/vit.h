#pragma once
// Vision Transformer (Dosovitskiy et al. 2021) in the form MAE uses it (He et al. 2022): a
// strided-conv patch embedding, FIXED 2-D sine-cosine position embeddings, pre-norm transformer
// blocks and a final LayerNorm. No class token: the feature is the mean of the final normed patch
// tokens (the usual pooling for MAE probes). MAE reaches inside: patchTokens() embeds every patch,
// encodeTokens() runs the blocks on any subset of them (the visible ones).
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "core/models/backbone.h"

namespace pretext {

// MAE's get_2d_sincos_pos_embed: [gridH * gridW, dim] for the patches in row-major order
// (token t = row * gridW + col). The first dim/2 values encode the column, the last dim/2 the
// row (the reference's "emb_h" half is built from the meshgrid's first plane, the x coordinate);
// each half is [sin(pos * w_0..w_{k-1}), cos(pos * w_0..w_{k-1})] with k = dim/4 and
// w_i = 1 / 10000^(i/k). `dim` must be a positive multiple of 4.
torch::Tensor sincosPosEmbed2d(int64_t dim, int64_t gridH, int64_t gridW);

// A Linear on tokens [B,L,D] through transformer_ops' linear (oneDNN on CPU), not
// nn::Linear::forward: LibTorch 1.13's C++ functional linear runs matmul + a separate bias add
// for inputs of more than 2 dimensions, and its backward went through bmm and copies.
torch::Tensor tokenLinear(const torch::nn::Linear& layer, const torch::Tensor& x);

// Xavier-uniform weights and zero biases for every Linear, unit/zero LayerNorms (MAE's init).
void initTransformerWeights(torch::nn::Module& module);

// Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x)) with an MLP of ratio 4 and
// GELU. Tokens [B,L,D] -> [B,L,D].
class TransformerBlockImpl : public torch::nn::Module {
 public:
  TransformerBlockImpl(int64_t dim, int64_t heads, int64_t mlpRatio = 4);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t heads_;
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr}, fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(TransformerBlock);

class VisionTransformer : public Encoder {
 public:
  // width = the embedding dimension; patchSize, depth, heads from the options. Throws
  // pretext::Error (backbone.patch_size / backbone.heads / backbone.width) on a bad shape.
  explicit VisionTransformer(const BackboneOptions& options);
  // Mean of the final normed tokens of all patches: [B,C,H,W] in [0,1] -> [B,dim].
  torch::Tensor forward(torch::Tensor x) override;
  // Token maps [B,dim,grid,grid] after each block (the last one after the final norm).
  std::vector<torch::Tensor> stages(torch::Tensor x) override;
  // Stage s = block s (stage 0 also holds the patch embedding).
  std::vector<torch::Tensor> stageParameters(int64_t stage) override;
  int64_t numStages() const override { return static_cast<int64_t>(blocks_->size()); }

  // Images [B,C,H,W] in [0,1] (normalised here) -> patch tokens [B,L,dim] with the position
  // embeddings added, L = grid^2 in row-major order.
  torch::Tensor patchTokens(const torch::Tensor& images);
  // Any subset of tokens [B,K,dim] -> the blocks and the final LayerNorm -> [B,K,dim].
  torch::Tensor encodeTokens(torch::Tensor tokens);

  int64_t patchSize() const { return patchSize_; }
  int64_t gridSize() const { return grid_; }
  int64_t numPatches() const { return grid_ * grid_; }
  int64_t dim() const { return dim_; }
  int64_t inChannels() const { return channels_; }

 private:
  int64_t patchSize_, grid_, dim_, channels_;
  torch::nn::Conv2d patchEmbed_{nullptr};
  torch::Tensor posEmbed_;  // [1,L,dim], fixed (a buffer: saved, never trained)
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
};

}  // namespace pretext
