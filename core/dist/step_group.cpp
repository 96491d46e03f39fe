#include "core/dist/step_group.h"

#include <torch/torch.h>

namespace pretext {

namespace {

thread_local DistGroup* tStepGroup = nullptr;
thread_local bool tSyncBatchNorm = false;

namespace ag = torch::autograd;

DistGroup* groupOf(ag::AutogradContext* ctx) {
  return reinterpret_cast<DistGroup*>(ctx->saved_data["group"].toInt());
}

// Gloo reduces float32 and float64; bf16 activations (autocast) travel as float32.
torch::Tensor wireFormat(const torch::Tensor& t) {
  auto c = t.scalar_type() == torch::kDouble ? t : t.to(torch::kFloat);
  return c.contiguous().clone();
}

struct GatherFunction : public ag::Function<GatherFunction> {
  static torch::Tensor forward(ag::AutogradContext* ctx, const torch::Tensor& x, int64_t group) {
    auto* g = reinterpret_cast<DistGroup*>(group);
    ctx->saved_data["group"] = group;
    ctx->saved_data["rows"] = x.size(0);
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    return g->allGather(wireFormat(x)).to(x.scalar_type());
  }
  static ag::tensor_list backward(ag::AutogradContext* ctx, ag::tensor_list grads) {
    auto* g = groupOf(ctx);
    const int64_t rows = ctx->saved_data["rows"].toInt();
    auto sum = wireFormat(grads[0]);
    g->allReduceSum(sum);
    auto mine = sum.narrow(0, g->rank() * rows, rows)
                    .to(static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt()));
    return {mine, torch::Tensor()};
  }
};

struct AllReduceFunction : public ag::Function<AllReduceFunction> {
  static torch::Tensor forward(ag::AutogradContext* ctx, const torch::Tensor& x, int64_t group) {
    auto* g = reinterpret_cast<DistGroup*>(group);
    ctx->saved_data["group"] = group;
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    auto sum = wireFormat(x);
    g->allReduceSum(sum);
    return sum.to(x.scalar_type());
  }
  static ag::tensor_list backward(ag::AutogradContext* ctx, ag::tensor_list grads) {
    auto sum = wireFormat(grads[0]);
    groupOf(ctx)->allReduceSum(sum);
    return {sum.to(static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt())), torch::Tensor()};
  }
};

}  // namespace

StepGroupScope::StepGroupScope(DistGroup* group, bool syncBatchNorm)
    : previousGroup_(tStepGroup), previousSync_(tSyncBatchNorm) {
  const bool many = group && group->worldSize() > 1;
  tStepGroup = many ? group : nullptr;
  tSyncBatchNorm = many && syncBatchNorm;
}

StepGroupScope::~StepGroupScope() {
  tStepGroup = previousGroup_;
  tSyncBatchNorm = previousSync_;
}

DistGroup* stepGroup() { return tStepGroup; }

bool batchNormSyncActive() { return tSyncBatchNorm && tStepGroup; }

torch::Tensor gatherAcrossRanks(const torch::Tensor& x) {
  if (!tStepGroup) return x;
  return GatherFunction::apply(x, reinterpret_cast<int64_t>(tStepGroup));
}

torch::Tensor allReduceSumAcrossRanks(const torch::Tensor& x) {
  if (!tStepGroup) return x;
  return AllReduceFunction::apply(x, reinterpret_cast<int64_t>(tStepGroup));
}

torch::Tensor syncedBatchNorm(const torch::Tensor& x, const BatchNormTensors& bn) {
  const int64_t channels = x.size(1);
  std::vector<int64_t> dims{0}, shape(x.dim(), 1);
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  shape[1] = channels;
  // Sums in float64, so that E[x^2] - E[x]^2 loses nothing that the two-pass variance keeps.
  auto xf = x.to(torch::kFloat);
  auto s1 = xf.sum(dims, false, torch::kDouble);
  auto s2 = (xf * xf).sum(dims, false, torch::kDouble);
  auto count = torch::full({1}, double(x.numel() / channels), s1.options());
  auto total = allReduceSumAcrossRanks(torch::cat({s1, s2, count}));
  auto n = total.narrow(0, 2 * channels, 1);
  auto mean = total.narrow(0, 0, channels) / n;
  auto var = (total.narrow(0, channels, channels) / n - mean * mean).clamp_min(0);
  auto invStd = torch::rsqrt(var + bn.eps);
  auto y = (xf - mean.to(torch::kFloat).view(shape)) * invStd.to(torch::kFloat).view(shape);
  if (bn.weight.defined()) y = y * bn.weight.view(shape) + bn.bias.view(shape);
  if (bn.runningMean.defined()) {
    torch::NoGradGuard ng;
    bn.batchesTracked.add_(1);
    const double m = bn.momentum ? *bn.momentum : 1.0 / bn.batchesTracked.item<double>();
    // Tensor arithmetic, not a read of the count: no host sync per layer on an accelerator.
    auto unbiased = var * n / (n - 1).clamp_min(1);
    bn.runningMean.mul_(1 - m).add_(mean.detach().to(bn.runningMean.scalar_type()), m);
    bn.runningVar.mul_(1 - m).add_(unbiased.detach().to(bn.runningVar.scalar_type()), m);
  }
  return y.to(x.scalar_type());
}

}  // namespace pretext
