#include "core/data/sampler.h"

#include <torch/torch.h>

#include "core/data/data_io.h"
#include "core/util/error.h"

namespace pretext {

BatchSampler::BatchSampler(int64_t datasetSize, int64_t batchSize, uint64_t seed, bool shuffle,
                           bool dropLast)
    : size_(datasetSize),
      batchSize_(batchSize),
      seed_(seed),
      shuffle_(shuffle),
      dropLast_(dropLast) {
  if (batchSize < 1) {
    throw Error("batch size " + std::to_string(batchSize) + " is invalid: expected 1 or more");
  }
  if (datasetSize < 0) {
    throw Error("data set size " + std::to_string(datasetSize) + " is negative");
  }
}

int64_t BatchSampler::batchesPerEpoch() const {
  return dropLast_ ? size_ / batchSize_ : (size_ + batchSize_ - 1) / batchSize_;
}

torch::Tensor BatchSampler::indices(int64_t epoch, int64_t batch) {
  if (batch < 0 || batch >= batchesPerEpoch() || epoch < 0) {
    throw Error("batch " + std::to_string(batch) + " of epoch " + std::to_string(epoch) +
                " is out of range: expected epoch >= 0 and batch 0.." +
                std::to_string(batchesPerEpoch() - 1));
  }
  if (epoch != cachedEpoch_ || !perm_.defined()) {
    if (shuffle_) {
      at::Generator gen =
          at::detail::createCPUGenerator(data_detail::mixSeed(seed_, static_cast<uint64_t>(epoch)));
      perm_ = torch::randperm(size_, gen, torch::kLong);
    } else {
      perm_ = torch::arange(size_, torch::kLong);
    }
    cachedEpoch_ = epoch;
  }
  int64_t start = batch * batchSize_;
  auto global = perm_.narrow(0, start, std::min(batchSize_, size_ - start));
  if (worldSize_ == 1) return global;
  const int64_t part = global.size(0) / worldSize_;
  return global.narrow(0, rank_ * part, part);
}

BatchSampler& BatchSampler::shard(int64_t rank, int64_t worldSize) {
  if (worldSize < 1 || rank < 0 || rank >= worldSize)
    throw Error("rank " + std::to_string(rank) + " of " + std::to_string(worldSize) + " is invalid");
  if (batchSize_ % worldSize != 0)
    throw Error("schedule.batch_size = " + std::to_string(batchSize_) + " does not split over " +
                std::to_string(worldSize) + " processes: the global batch must be a multiple of the world size "
                "(each process takes batch_size / world size images); set schedule.batch_size to " +
                std::to_string((batchSize_ / worldSize + 1) * worldSize) + " or " +
                std::to_string(std::max<int64_t>(1, batchSize_ / worldSize) * worldSize));
  rank_ = rank;
  worldSize_ = worldSize;
  return *this;
}

}  // namespace pretext
