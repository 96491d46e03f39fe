#include "core/dist/gradient_sync.h"

#include <torch/torch.h>

#include <chrono>

#include "core/util/error.h"

namespace pretext {

GradientSync::GradientSync(std::vector<torch::Tensor> parameters, std::shared_ptr<DistGroup> group,
                           int64_t bucketBytes)
    : group_(std::move(group)) {
  std::vector<torch::Tensor> trained;
  for (auto& p : parameters)
    if (p.requires_grad()) trained.push_back(p);
  // Reverse registration order: the heads' gradients come first in the backward pass.
  std::vector<int64_t> sizes;  // values per bucket
  for (auto it = trained.rbegin(); it != trained.rend(); ++it) {
    const auto& p = *it;
    const bool full = !buckets_.empty() && (sizes.back() + p.numel()) * p.element_size() > bucketBytes;
    const bool otherType =
        !buckets_.empty() && slots_[buckets_.back().members.front()].param.scalar_type() != p.scalar_type();
    if (buckets_.empty() || full || otherType) {
      buckets_.emplace_back();
      sizes.push_back(0);
    }
    Slot s;
    s.param = p;
    s.bucket = buckets_.size() - 1;
    s.offset = sizes.back();
    s.numel = p.numel();
    sizes.back() += s.numel;
    buckets_.back().members.push_back(slots_.size());
    slots_.push_back(s);
  }
  for (size_t i = 0; i < buckets_.size(); ++i) {
    const auto& first = slots_[buckets_[i].members.front()].param;
    buckets_[i].flat = torch::zeros({sizes[i]}, first.options().requires_grad(false));
    bytes_ += sizes[i] * first.element_size();
  }
  for (size_t i = 0; i < slots_.size(); ++i)
    hookIds_.push_back(slots_[i].param.register_hook([this, i](const torch::Tensor& g) { onGradient(i, g); }));
  for (auto& b : buckets_) b.pending = b.members.size();
}

GradientSync::~GradientSync() {
  for (size_t i = 0; i < slots_.size() && i < hookIds_.size(); ++i) {
    try {
      slots_[i].param.remove_hook(hookIds_[i]);
    } catch (...) {
    }
  }
}

void GradientSync::onGradient(size_t i, const torch::Tensor& grad) {
  Slot& s = slots_[i];
  Bucket& b = buckets_[s.bucket];
  if (b.work) {
    throw Error("distributed training: a parameter of shape " + std::to_string(s.numel) +
                " values got a second gradient after its bucket was sent; a method whose step calls "
                "backward more than once cannot run data-parallel yet");
  }
  auto dst = b.flat.narrow(0, s.offset, s.numel);
  if (s.ready) {
    dst.add_(grad.reshape({-1}));
    return;
  }
  dst.copy_(grad.reshape({-1}));
  s.ready = true;
  if (--b.pending == 0) launchReady();
}

void GradientSync::launch(Bucket& b) {
  b.work = group_->allReduceSumAsync(b.flat);
  if (!inFinish_) ++overlapped_;
}

void GradientSync::launchReady() {
  while (nextLaunch_ < buckets_.size() && buckets_[nextLaunch_].pending == 0) launch(buckets_[nextLaunch_++]);
}

void GradientSync::finish() {
  inFinish_ = true;
  // Parameters that got no gradient this step send zeros (so the others are not kept waiting).
  for (; nextLaunch_ < buckets_.size(); ++nextLaunch_) {
    Bucket& b = buckets_[nextLaunch_];
    for (size_t si : b.members)
      if (!slots_[si].ready) b.flat.narrow(0, slots_[si].offset, slots_[si].numel).zero_();
    b.pending = 0;
    launch(b);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const double scale = 1.0 / double(group_->worldSize());
  for (auto& b : buckets_) {
    b.work->wait();
    b.work.reset();
    b.flat.mul_(scale);
  }
  waitSeconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  torch::NoGradGuard ng;
  for (auto& s : slots_) {
    auto mean = buckets_[s.bucket].flat.narrow(0, s.offset, s.numel).view(s.param.sizes());
    auto& g = s.param.mutable_grad();
    if (g.defined())
      g.copy_(mean);
    else
      g = mean.clone();
    s.ready = false;
  }
  for (auto& b : buckets_) b.pending = b.members.size();
  nextLaunch_ = 0;
  inFinish_ = false;
}

void broadcastModule(torch::nn::Module& module, DistGroup& group) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> tensors;
  for (auto& p : module.parameters()) tensors.push_back(p);
  for (auto& b : module.buffers()) tensors.push_back(b);
  // Gloo sends contiguous CPU (or CUDA) memory; parameters are contiguous, and channels-last
  // weights are synchronised through a contiguous copy.
  for (auto& t : tensors) {
    if (t.is_contiguous()) {
      std::vector<torch::Tensor> one{t};
      group.broadcast(one, 0);
    } else {
      std::vector<torch::Tensor> one{t.contiguous()};
      group.broadcast(one, 0);
      t.copy_(one[0]);
    }
  }
}

}  // namespace pretext
