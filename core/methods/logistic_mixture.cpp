#include "core/methods/logistic_mixture.h"

#include <torch/torch.h>

#include <array>
#include <cmath>
#include <string>

#include "core/util/error.h"

namespace pretext {

namespace F = torch::nn::functional;

torch::Tensor logisticMixtureLogProb(const torch::Tensor& logits, const torch::Tensor& means,
                                     const torch::Tensor& logScales, const torch::Tensor& values) {
  const auto x = values.to(logits.device()).to(torch::kFloat).unsqueeze(-1) * (2.0 / 255.0) - 1.0;  // [...,1]
  const auto mu = means.to(torch::kFloat), ls = logScales.to(torch::kFloat).clamp_min(-7.0);
  const auto centred = x - mu;
  const auto inv = torch::exp(-ls);
  const auto plusIn = inv * (centred + 1.0 / 255.0), minIn = inv * (centred - 1.0 / 255.0);
  const auto logCdfPlus = plusIn - F::softplus(plusIn);  // log sigma(plus): the bin at 0
  const auto logOneMinusCdfMin = -F::softplus(minIn);    // log(1 - sigma(min)): the bin at 255
  const auto cdfDelta = torch::sigmoid(plusIn) - torch::sigmoid(minIn);
  const auto midIn = inv * centred;
  const auto logPdfMid = midIn - ls - 2.0 * F::softplus(midIn);
  const auto inner = torch::where(cdfDelta.gt(1e-5), torch::log(cdfDelta.clamp_min(1e-12)),
                                  logPdfMid - std::log(127.5));
  const auto lp = torch::where(x.lt(-0.999), logCdfPlus, torch::where(x.gt(0.999), logOneMinusCdfMin, inner));
  return torch::logsumexp(lp + torch::log_softmax(logits.to(torch::kFloat), -1), -1);
}

namespace {

// [N,C,3K,H,W] -> logits, means, log-scales [N,C,H,W,K].
std::array<torch::Tensor, 3> splitMixture(const torch::Tensor& params) {
  if (params.dim() != 5 || params.size(2) % 3 != 0 || params.size(2) == 0)
    throw Error("logistic mixture: expected an output [N,C,3K,H,W], got " + std::to_string(params.dim()) +
                " dimensions" + (params.dim() == 5 ? " with " + std::to_string(params.size(2)) + " per channel" : ""));
  const auto p = params.permute({0, 1, 3, 4, 2});
  const auto parts = p.chunk(3, -1);
  return {parts[0], parts[1], parts[2]};
}

}  // namespace

torch::Tensor logisticMixtureTable(const torch::Tensor& params) {
  const auto [logits, means, logScales] = splitMixture(params);
  const auto values = torch::arange(256, torch::TensorOptions().dtype(torch::kLong).device(params.device()));
  const auto lp = logisticMixtureLogProb(logits.unsqueeze(4), means.unsqueeze(4), logScales.unsqueeze(4),
                                         values);  // [N,C,H,W,256]
  return lp.permute({0, 1, 4, 2, 3});
}

torch::Tensor logisticMixtureNll(const torch::Tensor& params, const torch::Tensor& values) {
  const auto [logits, means, logScales] = splitMixture(params);
  return -logisticMixtureLogProb(logits, means, logScales, values).flatten(1).sum(1);
}

}  // namespace pretext
