#include "core/data/prefetcher.h"

#include <c10/core/StreamGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/torch.h>

#include "core/util/device.h"
#include "core/util/error.h"

namespace pretext {

Batch gatherBatch(const Dataset& data, const torch::Tensor& indices, torch::Device device) {
  if (!data.images.defined() || data.size() == 0)
    throw Error("cannot gather a batch: the data set is empty");
  auto idx = indices.to(torch::kCPU, torch::kLong);
  Batch b;
  auto images = data.images.index_select(0, idx);
  torch::Tensor labels;
  if (data.labelled()) labels = data.labels.index_select(0, idx);
  // Move uint8 (4x fewer bytes; on CUDA from pinned memory, without a sync), convert on the
  // device.
  images = toDevice(images, device);
  if (labels.defined()) labels = toDevice(labels, device);
  b.images = images.to(torch::kFloat).div_(255.0);
  b.labels = labels;
  b.indices = toDevice(idx, device);
  return b;
}

Prefetcher::Prefetcher(const Dataset& data, BatchSampler sampler, torch::Device device,
                       int64_t startBatch, int depth)
    : data_(data),
      sampler_(std::move(sampler)),
      device_(device),
      nextBatch_(startBatch),
      depth_(depth) {
  if (startBatch < 0) throw Error("start batch " + std::to_string(startBatch) + " is negative");
  if (sampler_.batchesPerEpoch() == 0) {
    throw Error("the data set (" + std::to_string(sampler_.datasetSize()) +
                " images) is smaller than one batch of " + std::to_string(sampler_.batchSize()) +
                ": expected a smaller batch size");
  }
  if (sampler_.datasetSize() != data.size()) {
    throw Error("the batch sampler covers " + std::to_string(sampler_.datasetSize()) +
                " images but the data set has " + std::to_string(data.size()));
  }
  if (depth < 0) throw Error("prefetch depth " + std::to_string(depth) + " is negative");
  if (depth_ > 0) worker_ = std::thread([this] { run(); });  // depth 0: next() gathers itself
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Prefetcher::run() {
  try {
    const int64_t perEpoch = sampler_.batchesPerEpoch();
    // On CUDA this thread's work goes to a pool stream (the default stream would serialise the
    // copies with the training kernels). Elsewhere there are no streams to speak of.
    c10::optional<c10::Stream> side;
    if (device_.is_cuda())
      side = c10::impl::getDeviceGuardImpl(device_.type())->getStreamFromGlobalPool(device_);
    c10::OptionalStreamGuard onSide(side);
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return stop_ || static_cast<int>(ready_.size()) < depth_; });
        if (stop_) return;
      }
      const int64_t n = nextBatch_++;
      const int64_t epoch = n / perEpoch, index = n % perEpoch;
      Batch b = gatherBatch(data_, sampler_.indices(epoch, index), device_);
      b.epoch = epoch;
      b.index = index;
      Pending p{std::move(b), c10::nullopt};
      if (side) {
        p.ready.emplace(device_.type());
        p.ready->record(*side);
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stop_) return;
        ready_.push_back(std::move(p));
      }
      cv_.notify_all();
    }
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
    }
    cv_.notify_all();
  }
}

Batch Prefetcher::next() {
  if (!worker_.joinable()) {
    const int64_t perEpoch = sampler_.batchesPerEpoch();
    const int64_t n = nextBatch_++;
    Batch b = gatherBatch(data_, sampler_.indices(n / perEpoch, n % perEpoch), device_);
    b.epoch = n / perEpoch;
    b.index = n % perEpoch;
    return b;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [this] { return !ready_.empty() || error_; });
  if (ready_.empty()) std::rethrow_exception(error_);
  Pending p = std::move(ready_.front());
  ready_.pop_front();
  lock.unlock();
  cv_.notify_all();
  if (p.ready) {
    // The caller's kernels wait for the side stream's copies on the device, not on the host.
    const auto* impl = c10::impl::getDeviceGuardImpl(device_.type());
    const c10::Stream consumer = impl->getStream(device_);
    p.ready->block(consumer);
    // Memory allocated on the side stream but used on the caller's: without this the caching
    // allocator could hand it back to the side stream while the caller's kernels still read it.
    for (const auto* t : {&p.batch.images, &p.batch.labels, &p.batch.indices})
      if (t->defined()) impl->recordDataPtrOnStream(t->storage().data_ptr(), consumer);
  }
  return std::move(p.batch);
}

}  // namespace pretext
