#pragma once
#include <torch/types.h>

#include <functional>

namespace pretext {

// MoCo's InfoNCE loss (He et al. 2020) for N queries q [N,d] and their positive keys k [N,d]
// (l2-normalised inside), against a queue of K negative keys [K,d] (used as given: its rows are
// already l2-normalised keys). For each query, the K+1 logits are
//   [ q.k+ , q.queue_1 , ... , q.queue_K ] / T
// and the loss is the cross-entropy with the positive (index 0) as the target, averaged over the
// N queries. Keys and queue are constants (no gradient reaches them). `accuracy` (if given) gets
// the share of queries whose positive scores highest among the K+1 candidates.
torch::Tensor mocoLoss(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& queue,
                       double temperature, torch::Tensor* accuracy = nullptr);

// Writes the rows of `keys` [n,d] into the ring buffer `queue` [K,d] from row `ptr` (a 0-dim long
// tensor) on, wrapping past the end to row 0, and advances ptr to (ptr + n) mod K. In place, on
// the queue's device, without reading ptr on the host. Needs n <= K.
void mocoEnqueue(torch::Tensor& queue, torch::Tensor& ptr, const torch::Tensor& keys);

// "Shuffle BN" across ranks (He et al. 2020, section 3.3): the keys of this rank's `view` [n,...]
// computed by `encode` on a shuffled global batch. The ranks' views are gathered, permuted by a
// permutation every rank draws alike from `step`, each rank encodes its n-image slice of the
// shuffled batch (so its batch norm sees images of every rank), and the keys are gathered and
// put back in the original order; the result is this rank's n keys, row i the key of view row i.
// A query and its positive key are then normalised with statistics of different sub-batches.
// Outside a multi-rank step (stepGroup() null) it is encode(view). No gradient.
torch::Tensor mocoShuffledKeys(const std::function<torch::Tensor(const torch::Tensor&)>& encode,
                               const torch::Tensor& view, int64_t step);

}  // namespace pretext
