#include "core/models/vit.h"

#include <torch/torch.h>

#include <cmath>

#include "core/models/transformer_ops.h"
#include "core/util/error.h"

namespace pretext {

namespace nn = torch::nn;

torch::Tensor tokenLinear(const nn::Linear& layer, const torch::Tensor& x) {
  return linear(x, layer->weight, layer->bias);
}

torch::Tensor sincosPosEmbed2d(int64_t dim, int64_t gridH, int64_t gridW) {
  if (dim < 4 || dim % 4 != 0)
    throw Error("sin-cos position embeddings of dimension " + std::to_string(dim) +
                ": expected a positive multiple of 4");
  if (gridH < 1 || gridW < 1) throw Error("sin-cos position embeddings: empty patch grid");
  const int64_t k = dim / 4;
  auto opts = torch::TensorOptions().dtype(torch::kDouble);
  auto omega = torch::pow(10000.0, -torch::arange(k, opts) / double(k));  // [k]
  // One axis: positions [M] -> [M, 2k] = [sin(pos w), cos(pos w)].
  auto axis = [&](const torch::Tensor& pos) {
    auto out = torch::outer(pos, omega);
    return torch::cat({torch::sin(out), torch::cos(out)}, 1);
  };
  auto rows = torch::arange(gridH, opts).repeat_interleave(gridW);  // token t -> t / gridW
  auto cols = torch::arange(gridW, opts).repeat({gridH});           // token t -> t % gridW
  return torch::cat({axis(cols), axis(rows)}, 1).to(torch::kFloat);
}

void initTransformerWeights(nn::Module& module) {
  torch::NoGradGuard ng;
  auto visit = [](nn::Module& m) {
    if (auto* lin = m.as<nn::Linear>()) {
      nn::init::xavier_uniform_(lin->weight);
      if (lin->bias.defined()) nn::init::zeros_(lin->bias);
    } else if (auto* ln = m.as<nn::LayerNorm>()) {
      nn::init::ones_(ln->weight);
      nn::init::zeros_(ln->bias);
    }
  };
  // Not modules(include_self=true): that needs the module in a shared_ptr already, and
  // constructors call this.
  visit(module);
  for (auto& m : module.modules(/*include_self=*/false)) visit(*m);
}

TransformerBlockImpl::TransformerBlockImpl(int64_t dim, int64_t heads, int64_t mlpRatio)
    : heads_(heads) {
  if (heads < 1 || dim % heads != 0)
    throw Error("transformer block: dimension " + std::to_string(dim) + " is not divisible by " +
                std::to_string(heads) + " heads");
  auto ln = [&] { return nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-6)); };
  norm1_ = register_module("norm1", ln());
  qkv_ = register_module("qkv", nn::Linear(dim, 3 * dim));
  proj_ = register_module("proj", nn::Linear(dim, dim));
  norm2_ = register_module("norm2", ln());
  fc1_ = register_module("fc1", nn::Linear(dim, mlpRatio * dim));
  fc2_ = register_module("fc2", nn::Linear(mlpRatio * dim, dim));
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x) {
  auto y = multiHeadAttention(tokenLinear(qkv_, norm1_(x)), heads_);  // [B,L,D]
  auto h = x + tokenLinear(proj_, y);
  return h + tokenLinear(fc2_, torch::gelu(tokenLinear(fc1_, norm2_(h))));
}

VisionTransformer::VisionTransformer(const BackboneOptions& o)
    : patchSize_(o.patchSize()), dim_(o.width()), channels_(o.inChannels()) {
  o.validate();
  grid_ = o.imageSize() / patchSize_;
  patchEmbed_ = register_module(
      "patch_embed", nn::Conv2d(nn::Conv2dOptions(channels_, dim_, patchSize_).stride(patchSize_)));
  posEmbed_ = register_buffer("pos_embed", sincosPosEmbed2d(dim_, grid_, grid_).unsqueeze(0));
  blocks_ = register_module("blocks", nn::ModuleList());
  for (int64_t i = 0; i < o.depth(); ++i) blocks_->push_back(TransformerBlock(dim_, o.heads()));
  norm_ = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({dim_}).eps(1e-6)));
  featureDim_ = dim_;
  initTransformerWeights(*this);
  torch::NoGradGuard ng;
  // The patch embedding is a linear map of the flattened patch: Xavier on that view (as in MAE).
  nn::init::xavier_uniform_(patchEmbed_->weight.view({dim_, -1}));
  nn::init::zeros_(patchEmbed_->bias);
}

torch::Tensor VisionTransformer::patchTokens(const torch::Tensor& images) {
  if (images.dim() != 4 || images.size(2) != grid_ * patchSize_ ||
      images.size(3) != grid_ * patchSize_)
    throw Error("vit: expected images [B," + std::to_string(channels_) + "," +
                std::to_string(grid_ * patchSize_) + "," + std::to_string(grid_ * patchSize_) +
                "], got " + std::to_string(images.dim()) + "-d input of size " +
                (images.dim() == 4
                     ? std::to_string(images.size(2)) + "x" + std::to_string(images.size(3))
                     : std::string("?")));
  auto x = patchEmbed_->forward((images - 0.5) / 0.5);  // [B,D,g,g]
  return x.flatten(2).transpose(1, 2) + posEmbed_;      // [B,L,D]
}

torch::Tensor VisionTransformer::encodeTokens(torch::Tensor tokens) {
  for (const auto& block : *blocks_) tokens = block->as<TransformerBlock>()->forward(tokens);
  return norm_->forward(tokens);
}

torch::Tensor VisionTransformer::forward(torch::Tensor x) {
  return encodeTokens(patchTokens(x)).mean(1);
}

std::vector<torch::Tensor> VisionTransformer::stages(torch::Tensor x) {
  std::vector<torch::Tensor> out;
  auto t = patchTokens(x);
  const int64_t n = numStages();
  auto asMap = [&](const torch::Tensor& tokens) {
    return tokens.transpose(1, 2).reshape({tokens.size(0), dim_, grid_, grid_});
  };
  for (int64_t i = 0; i < n; ++i) {
    t = blocks_[i]->as<TransformerBlock>()->forward(t);
    out.push_back(asMap(i + 1 == n ? norm_->forward(t) : t));
  }
  return out;
}

std::vector<torch::Tensor> VisionTransformer::stageParameters(int64_t stage) {
  auto p = blocks_[stage]->parameters();
  if (stage == 0)
    for (auto& t : patchEmbed_->parameters()) p.push_back(t);
  if (stage + 1 == numStages())
    for (auto& t : norm_->parameters()) p.push_back(t);
  return p;
}

std::shared_ptr<Encoder> makeViT(const BackboneOptions& o) {
  return std::make_shared<VisionTransformer>(o);
}

}  // namespace pretext
