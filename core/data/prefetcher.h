#pragma once
#include <c10/core/Event.h>
#include <c10/core/Stream.h>
#include <c10/util/Optional.h>
#include <torch/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include "core/data/dataset.h"
#include "core/data/sampler.h"

namespace pretext {

// One prepared mini-batch: images float32 in [0,1] [B,C,H,W] and labels int64 [B]
// (undefined if unlabelled), already on the target device. `indices` int64 [B], on the same
// device: each image's row in the training set (methods that keep one entry per training image,
// e.g. NPID's memory bank); undefined for a batch made by hand.
struct Batch {
  torch::Tensor images;
  torch::Tensor labels;
  torch::Tensor indices;
  int64_t epoch = 0;
  int64_t index = 0;  // batch index within the epoch
};

// Gathers the next batches (index_select on the uint8 host tensor, conversion to float,
// transfer to the device; pinned memory + non-blocking copy on CUDA) in a background thread
// while the current one trains, keeping up to `depth` batches ready. On CUDA the worker copies
// and converts on a side stream of its own, so the transfers overlap the step's kernels instead
// of queueing behind them; next() makes the caller's current stream wait for that batch's event
// (no host sync) and records the batch's memory on the caller's stream for the caching
// allocator. With depth 0 next() gathers synchronously: the right choice on CPU, where the
// gather is ~1% of a step and a second thread only competes with LibTorch's OpenMP threads (25%
// slower steps measured on 2 cores; see prefetchDepthFor). Starts at global batch number
// `startBatch` (for resume). `data` is held by reference and must outlive the prefetcher; the
// destructor stops and joins the worker even when batches are still queued.
class Prefetcher {
 public:
  Prefetcher(const Dataset& data, BatchSampler sampler, torch::Device device,
             int64_t startBatch = 0, int depth = 2);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;
  Batch next();  // blocks until the next batch is ready; rethrows worker errors

 private:
  struct Pending {
    Batch batch;
    c10::optional<c10::Event> ready;  // recorded on the side stream after the batch's copies
  };
  void run();
  const Dataset& data_;
  BatchSampler sampler_;
  torch::Device device_;
  int64_t nextBatch_;
  int depth_;
  std::deque<Pending> ready_;
  std::exception_ptr error_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread worker_;
};

// The depth to use on a device: 0 (synchronous) on CPU, 2 on accelerators.
inline int prefetchDepthFor(const torch::Device& device) { return device.is_cpu() ? 0 : 2; }

// Gathers a batch synchronously (used by evaluation and previews).
Batch gatherBatch(const Dataset& data, const torch::Tensor& indices, torch::Device device);

}  // namespace pretext
