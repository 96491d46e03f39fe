#pragma once
#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/dist/launch_env.h"

namespace pretext {

// A collective started in the background (a gradient bucket's all-reduce); wait() blocks until
// it is done and throws the group's error, naming the rank that failed.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  virtual void wait() = 0;
};

// The job's process group: PyTorch's c10d ProcessGroupGloo over a TCPStore (rank 0's, or
// torchrun's agent's under its prefix), the same engine and rendezvous as
// torch.distributed.init_process_group("gloo", "env://"). Collectives are called by every rank
// in the same order (c10d's contract). Gloo has no AVG: sums, divided by the caller.
//
// Failure: every rank beats a heartbeat counter in the store (its own client, its own thread),
// and a rank that fails with an error writes it there before it exits. When a collective or
// the store fails, the error names the culprit: "rank 1 failed: step 12: the loss is nan",
// "rank 1 stopped answering (no heartbeat for 3 s)", or "the store at host:port is gone (rank 0
// served it)". A hung rank is caught by the group's timeout.
class DistGroup {
 public:
  // Connects to the store and forms the group; `timeout` bounds every collective and store wait.
  // Throws pretext::Error when this build has no c10d (Gloo headers missing at build time).
  static std::shared_ptr<DistGroup> connect(const LaunchEnv& env, std::chrono::milliseconds timeout);
  // Whether this build can form a group (c10d with Gloo compiled in).
  static bool available();
  virtual ~DistGroup() = default;

  int64_t rank() const { return env_.rank; }
  int64_t worldSize() const { return env_.worldSize; }
  const LaunchEnv& env() const { return env_; }

  // In place: every tensor becomes the sum over ranks (CPU tensors on Gloo).
  virtual void allReduceSum(std::vector<torch::Tensor>& tensors) = 0;
  void allReduceSum(torch::Tensor& t) {
    std::vector<torch::Tensor> v{t};
    allReduceSum(v);
  }
  virtual std::unique_ptr<PendingCollective> allReduceSumAsync(torch::Tensor& flat) = 0;
  // In place: every tensor becomes root's.
  virtual void broadcast(std::vector<torch::Tensor>& tensors, int64_t root = 0) = 0;
  // Every rank's `t` (same shape on all ranks), concatenated along dim 0 in rank order.
  virtual torch::Tensor allGather(const torch::Tensor& t) = 0;
  virtual void barrier() = 0;
  // The store, for small values shared by the ranks (rank 0's run folder): set, and get, which
  // waits up to the timeout for the key.
  virtual void storeSet(const std::string& key, const std::string& value) = 0;
  virtual std::string storeGet(const std::string& key) = 0;
  // torchrun --max_restarts: the value `key` had in the previous attempt of this job (the
  // agent's store keeps every attempt's keys under /worker/attempt_N); empty when there was no
  // previous attempt, no such key, or the store is not the agent's.
  virtual std::string previousAttemptValue(const std::string& key) = 0;
  // This rank failed: tell the others why (best effort; never throws).
  virtual void reportFailure(const std::string& message) noexcept = 0;
  // The error of a failed collective or store call, with the culprit named.
  virtual std::string diagnose(const std::string& what, const std::string& error) = 0;

 protected:
  explicit DistGroup(LaunchEnv env) : env_(std::move(env)) {}
  LaunchEnv env_;
};

}  // namespace pretext
