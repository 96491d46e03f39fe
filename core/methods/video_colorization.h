#pragma once
// Tracking emerges by colorizing videos (Vondrick, Shrivastava, Fathi, Guadarrama, Murphy 2018):
// the network sees gray frames and must colour the last frame of a clip by pointing, for every
// target location, at the reference locations (the earlier frames, in colour) it copies its
// colour from. The pointer is the attention A = softmax_j(f_i . f_j / T) between per-location
// embeddings; at test time the same pointers carry segmentation masks from frame to frame
// (core/eval/video_tracking.h). The pieces the tests and the tracking benchmark use:
#include <torch/types.h>

#include <cstdint>

#include "core/methods/method.h"

namespace pretext {

// k-means over points [N,D] (float): k-means++ seeding drawn with `gen`, then `iters` Lloyd steps;
// a cluster left empty keeps its centre. Returns the centres [k,D]. Needs N >= k.
torch::Tensor kmeans(const torch::Tensor& points, int64_t k, int64_t iters, torch::Generator& gen);

// The copy attention: target embeddings [B,D,P] against reference embeddings [B,D,Q]:
// A[b,i,j] = exp(f_i . f_j / T) / sum_j' exp(f_i . f_j' / T), [B,P,Q] (each row sums to 1).
torch::Tensor copyAttention(const torch::Tensor& target, const torch::Tensor& refs, double temperature);

// The colour-copy loss: the target's predicted colour distribution y_i = sum_j A_ij c_j (c_j the
// one-hot of reference location j's colour cluster, refClusters [B,Q] int64) scored by the
// cross-entropy against the target's true clusters [B,P]: L = -1/(B P) sum_i log y_i[true_i].
// `attention` [B,P,Q]; clusters in 0..numClusters-1.
torch::Tensor colourCopyLoss(const torch::Tensor& attention, const torch::Tensor& refClusters,
                             const torch::Tensor& targetClusters, int64_t numClusters);

// The method's embedding network, for the tracking benchmark and the method view: the encoder
// (gray input: L/100) up to one stage, then a 1x1 convolution to the embedding. `frames` float
// [N,1|3,H,W] in [0,1] -> [N,D,h,w]. Returns undefined when `method` is not video colorization.
torch::Tensor videoEmbeddings(Method& method, const torch::Tensor& frames);
// Its colour clusters [K,2] (ab), undefined before the first k-means or for another method.
torch::Tensor videoColourClusters(Method& method);

}  // namespace pretext
