#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "core/dist/process_group.h"

namespace pretext {

// Data-parallel gradients, the way DistributedDataParallel's reducer does it: the trained
// parameters are grouped into buckets (in reverse order of registration, roughly the order the
// backward pass produces their gradients), a hook on each parameter copies its gradient into
// its bucket's flat buffer as soon as autograd has it, and a full bucket starts its all-reduce
// in the background while the backward pass goes on (buckets start in index order, so every
// rank issues the same collectives in the same order). finish() starts what is left (a
// parameter that got no gradient this step contributes zeros, so no rank waits for it), waits,
// and writes the mean over ranks into every parameter's .grad.
//
// Only the parameters given are synchronised: networks that get no gradient (momentum and EMA
// targets, MoCo's key encoder) are left out and stay identical across ranks because every rank
// moves them the same way from the same (synchronised) parameters.
class GradientSync {
 public:
  GradientSync(std::vector<torch::Tensor> parameters, std::shared_ptr<DistGroup> group,
               int64_t bucketBytes = 25 << 20);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;
  // Call after loss.backward(), before the optimiser step.
  void finish();
  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  int64_t bytesPerStep() const { return bytes_; }
  // Seconds finish() spent waiting on the network, summed since construction (what overlapping
  // did not hide).
  double waitSeconds() const { return waitSeconds_; }
  // Buckets whose all-reduce started during the backward pass (not in finish), summed.
  int64_t overlappedBuckets() const { return overlapped_; }

 private:
  struct Slot {
    torch::Tensor param;
    size_t bucket = 0;
    int64_t offset = 0, numel = 0;
    bool ready = false;
  };
  struct Bucket {
    torch::Tensor flat;
    std::vector<size_t> members;
    size_t pending = 0;
    std::unique_ptr<PendingCollective> work;
  };
  void onGradient(size_t slot, const torch::Tensor& grad);
  void launchReady();
  void launch(Bucket& b);

  std::shared_ptr<DistGroup> group_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  std::vector<unsigned> hookIds_;
  size_t nextLaunch_ = 0;
  bool inFinish_ = false;
  int64_t bytes_ = 0, overlapped_ = 0;
  double waitSeconds_ = 0;
};

// Makes every rank's parameters and buffers rank 0's (at the start, after a checkpoint or
// model.init_from was loaded on every rank).
void broadcastModule(torch::nn::Module& module, DistGroup& group);

}  // namespace pretext
