#include "core/train/optim.h"

#include <torch/torch.h>

#include <cmath>

namespace pretext {

namespace optim = torch::optim;

Optimizer::Optimizer(const std::vector<torch::Tensor>& parameters, const Experiment& e)
    : all_(parameters), weightDecay_(e.weightDecay), larsEta_(e.larsEta), gradClip_(e.gradClip) {
  lars_ = e.optimizer == "lars";
  std::vector<torch::Tensor> plain;
  for (const auto& p : parameters) {
    if (!p.requires_grad()) continue;
    (e.excludeBiasNorm && p.dim() <= 1 ? plain : decayed_).push_back(p);
  }
  // LARS folds the weight decay into its trust ratio itself (see step()).
  const double wd = lars_ ? 0.0 : e.weightDecay;
  auto groups = [&](auto makeOptions) {
    std::vector<optim::OptimizerParamGroup> g;
    g.emplace_back(decayed_, makeOptions(wd));
    if (!plain.empty()) g.emplace_back(plain, makeOptions(0.0));
    return g;
  };
  if (e.optimizer == "sgd" || lars_) {
    auto make = [&](double decay) {
      return std::make_unique<optim::SGDOptions>(
          optim::SGDOptions(e.lr).momentum(e.momentum).nesterov(e.nesterov).weight_decay(decay));
    };
    optimizer_ = std::make_unique<optim::SGD>(groups(make), *make(wd));
  } else if (e.optimizer == "adam") {
    auto make = [&](double decay) {
      return std::make_unique<optim::AdamOptions>(optim::AdamOptions(e.lr).betas({e.beta1, e.beta2}).weight_decay(decay));
    };
    optimizer_ = std::make_unique<optim::Adam>(groups(make), *make(wd));
  } else if (e.optimizer == "rmsprop") {
    // PyTorch's defaults (alpha 0.99, eps 1e-8, no momentum): the WGAN paper's optimiser.
    auto make = [&](double decay) {
      return std::make_unique<optim::RMSpropOptions>(optim::RMSpropOptions(e.lr).weight_decay(decay));
    };
    optimizer_ = std::make_unique<optim::RMSprop>(groups(make), *make(wd));
  } else {
    auto make = [&](double decay) {
      return std::make_unique<optim::AdamWOptions>(
          optim::AdamWOptions(e.lr).betas({e.beta1, e.beta2}).weight_decay(decay));
    };
    optimizer_ = std::make_unique<optim::AdamW>(groups(make), *make(wd));
  }
}

void Optimizer::zeroGrad() { optimizer_->zero_grad(); }

void Optimizer::setLr(double lr) {
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
}

double Optimizer::step() {
  double norm = 0;
  if (gradClip_ > 0)
    norm = torch::nn::utils::clip_grad_norm_(all_, gradClip_);
  if (lars_) {
    // LARS (You et al. 2017): update = g + wd*w, scaled by eta*||w||/||update|| per layer.
    torch::NoGradGuard ng;
    for (auto& p : decayed_) {
      if (!p.grad().defined()) continue;
      auto g = p.grad();
      if (weightDecay_ > 0) g.add_(p, weightDecay_);
      const auto wn = p.norm();
      const auto gn = g.norm();
      auto trust = torch::where(wn.gt(0).logical_and(gn.gt(0)), larsEta_ * wn / gn,
                                torch::ones_like(wn));
      g.mul_(trust);
    }
  }
  optimizer_->step();
  return norm;
}

double scheduledLr(double baseLr, int64_t step, int64_t totalSteps, int64_t warmupSteps, bool cosine) {
  if (warmupSteps > 0 && step < warmupSteps) return baseLr * double(step + 1) / double(warmupSteps);
  if (!cosine) return baseLr;
  const double t = double(step - warmupSteps) / double(std::max<int64_t>(1, totalSteps - warmupSteps));
  return baseLr * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, t)));
}

}  // namespace pretext
