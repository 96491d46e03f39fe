#pragma once
// Split-brain autoencoder (Zhang, Isola, Efros 2017): the encoder made of two halves.
#include <memory>
#include <vector>

#include "core/methods/colorization.h"

namespace pretext {

// The split-brain encoder: an L half and an ab half (each of half the backbone's width); the
// features are the two halves' features concatenated.
class SplitBrainEncoder : public Encoder {
 public:
  explicit SplitBrainEncoder(const BackboneOptions& backbone);
  torch::Tensor forward(torch::Tensor x) override;
  std::vector<torch::Tensor> stages(torch::Tensor x) override;  // both halves' maps, concatenated
  std::vector<torch::Tensor> stageParameters(int64_t stage) override;
  int64_t numStages() const override { return l_->numStages(); }
  LabEncoder& lHalf() { return *l_; }
  LabEncoder& abHalf() { return *ab_; }

 private:
  std::shared_ptr<LabEncoder> l_, ab_;
};

}  // namespace pretext
