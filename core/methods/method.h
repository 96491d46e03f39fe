#pragma once
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/augment/augment.h"
#include "core/data/prefetcher.h"
#include "core/models/backbone.h"

namespace pretext {

// What a method needs to know about the step it is taking.
struct StepContext {
  int64_t step = 0;          // global step, 0-based
  int64_t epoch = 0;
  double progress = 0;       // fraction of the budget done, in [0,1] (momentum schedules)
  torch::Generator* gen = nullptr;      // all of this step's randomness (augmentations...)
  const AugmentOptions* augment = nullptr;  // the experiment's augmentation settings
};

// Loss plus named scalar metrics, kept as 0-dim tensors so a step never waits on the device;
// the trainer reads them when it logs.
struct StepResult {
  torch::Tensor loss;
  std::vector<std::pair<std::string, torch::Tensor>> metrics;
};

// A picture a method offers to the window: a grid of images with captions.
struct Preview {
  std::string name;                   // e.g. "rotation predictions"
  std::string caption;                // one line under the grid
  torch::Tensor images;               // float [N,C,H,W] in [0,1], CPU
  std::vector<std::string> labels;    // one per image, or one per column (column headers), or empty
  int64_t columns = 8;
};

// A setting a method's pictures offer in the window as a slider, applied at inference only
// (MAE's mask ratio, colorization's annealed-mean temperature).
struct PreviewControl {
  std::string name;     // key in PreviewSettings
  std::string label;    // "mask ratio"
  double min = 0, max = 1, step = 0.05, value = 0;  // range and default
  std::string help;     // one line (tooltip)
};
// name -> value; a control missing from the map takes its default.
using PreviewSettings = std::map<std::string, double>;
// Gray images repeated to three channels (for pictures that paint in colour); RGB unchanged.
torch::Tensor toRgb(const torch::Tensor& images);
double previewSetting(const PreviewSettings& settings, const std::vector<PreviewControl>& controls,
                      const std::string& name);

// Everything a factory needs to build a method.
struct MethodSetup {
  nlohmann::json params;      // resolved against the schema (every parameter present)
  BackboneOptions backbone;
  int64_t numClasses = 0;     // 0 when the training data is unlabelled
  int64_t channels = 1;
  int64_t imageSize = 28;
  // The number of training images, 0 when unknown (a method built by hand). Methods that keep
  // one entry per training image (NPID's memory bank) size it by this and read each batch's
  // Batch::indices.
  int64_t trainImages = 0;
};

// One self-supervised (or supervised) method. Subclasses register their modules in the
// constructor (the encoder as "encoder"), so state_dict-style saving covers everything.
class Method : public torch::nn::Module {
 public:
  explicit Method(const MethodSetup& setup);
  // Augment on the batch's device -> forward -> loss. `batch.images` is float [B,C,H,W] in [0,1].
  virtual StepResult step(const Batch& batch, StepContext& ctx) = 0;
  // The representation the probes evaluate: the encoder's features (before any projector).
  virtual torch::Tensor features(const torch::Tensor& images) { return encoder_->forward(images); }
  // The features of a method with a probe_features setting (see probeFeaturesParam):
  // "last": the encoder's own features; "all-max" / "all-mean": every stage's map pooled to 1x1
  // by max or mean and the stages concatenated (a backbone without spatial stages, e.g. a ViT,
  // falls back to its own features).
  torch::Tensor stageFeatures(const torch::Tensor& images, const std::string& mode);
  // Called after the optimiser step (momentum encoders, queues).
  virtual void afterStep(const StepContext& ctx) {}
  // Method-specific pictures on a few images (eval mode, no grad): test images, or one image the
  // user opened (then `images` holds it alone, already in the data set's channels and size).
  // `settings` holds the values of previewControls() (missing ones: their defaults).
  virtual std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                                        const PreviewSettings& settings) {
    return {};
  }
  virtual std::vector<PreviewControl> previewControls() const { return {}; }
  // The training inputs as this method sees them, for the window's augmentation panel: one row
  // per image (the image, then its views), under the given augmentation settings. The default
  // shows three independent augmented views; methods override it (SimCLR's pair, rotation's four
  // turns, jigsaw tiles, masks...).
  virtual Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                             torch::Generator& gen);
  // The parameters the optimiser trains (default: all).
  virtual std::vector<torch::Tensor> trainableParameters() { return parameters(); }
  std::shared_ptr<Encoder> encoder() const { return encoder_; }
  // Dimension of the embedding that collapseMetrics() last measured (0: the method reports none).
  int64_t embeddingDim() const { return embeddingDim_; }
  // Collapse monitoring for embedding methods: {"emb_std", "eff_rank"} of a batch of embeddings
  // z [N,D] (the projector's output), as 0-dim tensors on z's device (no host sync).
  //  emb_std: mean over dimensions of the std of the l2-normalised embeddings; about 1/sqrt(D)
  //           when they spread over the sphere, 0 when they collapse to one point.
  //  eff_rank: exp(entropy of the normalised singular values of the centred batch), 1..min(N,D).
  std::vector<std::pair<std::string, torch::Tensor>> collapseMetrics(const torch::Tensor& z);

 protected:
  int64_t embeddingDim_ = 0;
  // The picture of a two-view method's inputs: each row an image and two augmented views.
  static Preview twoViews(const torch::Tensor& images, const AugmentOptions& augment,
                          torch::Generator& gen, std::string name, std::string caption,
                          std::vector<std::string> headers = {"image", "view 1", "view 2"});
  // The augmentation the two-view methods' previews use: "simclr-gray" or "simclr".
  static AugmentOptions previewAugment(const torch::Tensor& images);
  std::shared_ptr<Encoder> encoder_;
};

}  // namespace pretext
