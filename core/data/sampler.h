#pragma once
#include <torch/types.h>

#include <cstdint>

namespace pretext {

// Shuffled mini-batch indices, fully determined by (seed, epoch): the permutation of an epoch
// is drawn from a generator seeded with mix(seed, epoch), so a resumed run sees exactly the
// batches the uninterrupted run would. Drops the last incomplete batch when dropLast.
class BatchSampler {
 public:
  BatchSampler(int64_t datasetSize, int64_t batchSize, uint64_t seed, bool shuffle = true,
               bool dropLast = true);
  int64_t batchesPerEpoch() const;
  // Indices (int64, CPU) of batch `batch` (0-based) in epoch `epoch`.
  torch::Tensor indices(int64_t epoch, int64_t batch);
  int64_t batchSize() const { return batchSize_; }
  // Data parallelism: indices() returns only this rank's slice of each global batch (the
  // rank-th of `worldSize` equal parts, in order), so the ranks see disjoint shards of the same
  // global batches, and gathering the ranks' rows in rank order gives the global batch back.
  // The global batch size must be a multiple of worldSize.
  BatchSampler& shard(int64_t rank, int64_t worldSize);
  int64_t datasetSize() const { return size_; }

 private:
  int64_t size_, batchSize_;
  uint64_t seed_;
  bool shuffle_, dropLast_;
  int64_t rank_ = 0, worldSize_ = 1;
  int64_t cachedEpoch_ = -1;
  torch::Tensor perm_;
};

}  // namespace pretext
