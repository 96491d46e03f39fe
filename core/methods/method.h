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
  // This step's randomness that does not depend on the number of processes: the same stream on
  // every rank and in one process (null: use gen). A draw that belongs to each image of the global
  // batch (PIRL's jigsaw puzzles) is made for the whole global batch from it, and each rank keeps
  // its own slice (sharedSlice), so W ranks draw for their images what one process draws.
  torch::Generator* shared = nullptr;
};

// The rows [begin, begin + local) of the global batch that this process holds, and the global
// batch's size: {0, local, local} on one process; {r * local, local, W * local} on rank r of W.
struct BatchSlice {
  int64_t begin = 0, local = 0, global = 0;
};
BatchSlice sharedSlice(int64_t local);

// What a method that works on the whole training set between epochs gets (DeepCluster's
// k-means over every image's features).
struct EpochContext {
  const Dataset* train = nullptr;  // the training set: uint8 images on the CPU, labels if any
  c10::Device device = c10::kCPU;  // where the method's tensors live
  int64_t epoch = 0;               // the epoch about to start, 0-based
  torch::Generator* gen = nullptr;  // this epoch's randomness, the same on every rank
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

// One batch's loss taken apart, for the window's "Inside the loss" panel: the matrix the loss is
// computed from (a contrastive batch's similarities, Barlow Twins' cross-correlation), which entry
// of each row is its positive, the loss of each row, the inputs behind the rows, and the loss's
// terms. Every tensor on the CPU, float (positives int64); the optional ones may be undefined.
struct LossAnatomy {
  std::string title;        // e.g. "NT-Xent over 2N = 64 views"
  std::string explanation;  // how to read the matrix and the per-row loss
  torch::Tensor matrix;     // [R,C]; NaN where an entry takes no part (an anchor with itself)
  double vmin = -1, vmax = 1;
  std::string rowsTitle, columnsTitle;
  torch::Tensor positives;  // [R] the column of each row's positive, -1 = none (optional)
  torch::Tensor perRow;     // [R] each row's share of the loss (optional)
  std::string perRowTitle;
  torch::Tensor images;     // [R,C,H,W] in [0,1]: the input behind each row (optional)
  // The input behind each column, when the columns are images too (a contrastive batch's
  // candidates); undefined when they are classes, queue keys or patches.
  torch::Tensor columnImages;
  std::vector<std::pair<std::string, double>> terms;  // the loss, its parts, a metric or two
};

// Everything a factory needs to build a method.
struct MethodSetup {
  nlohmann::json params;      // resolved against the schema (every parameter present)
  BackboneOptions backbone;
  int64_t numClasses = 0;     // 0 when the training data is unlabelled
  int64_t channels = 1;       // of one image (of one frame, for clips)
  int64_t imageSize = 28;
  // 1 for still images; T for a clip source (video:FILE, moving-fashion), whose batches hold
  // clips as images [B,T*channels,H,W] (core/data/video.h). Only methods with
  // MethodInfo::clips train on them.
  int64_t frames = 1;
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
  // Before the first step of every epoch (not when a run resumes in the middle of one: the
  // checkpoint holds what the epoch's start made). Returns a line for the run's log, or "".
  virtual std::string beginEpoch(const EpochContext& ctx) { return {}; }
  // Once before a run's first step, fresh or resumed mid-epoch, with the training set (which
  // outlives the run): a method that reads training images besides its batch's (DrLIM's pixel
  // neighbours over the whole set) keeps a reference here.
  virtual void attachTrainingSet(const Dataset& train) {}
  // Method-specific pictures on a few images (eval mode, no grad): test images, or one image the
  // user opened (then `images` holds it alone, already in the data set's channels and size).
  // `settings` holds the values of previewControls() (missing ones: their defaults).
  virtual std::vector<Preview> previews(const torch::Tensor& images, torch::Generator& gen,
                                        const PreviewSettings& settings) {
    return {};
  }
  virtual std::vector<PreviewControl> previewControls() const { return {}; }
  // The loss of one batch made of `images` (float [N,C,H,W] in [0,1]) taken apart, under the
  // run's augmentation (called in eval mode, without gradients, so the model does not change).
  // Default: none (the panel says the method does not offer it).
  virtual std::vector<LossAnatomy> lossAnatomy(const torch::Tensor& images, const AugmentOptions& augment,
                                               torch::Generator& gen) {
    return {};
  }
  // How many test images previews() gets (the trainer's pictures and the window's method views):
  // 16 by default; a picture that sorts images into groups (SwAV's prototypes) asks for more.
  virtual int64_t previewImageCount() const { return 16; }
  // The training inputs as this method sees them, for the window's augmentation panel: one row
  // per image (the image, then its views), under the given augmentation settings. The default
  // shows three independent augmented views; methods override it (SimCLR's pair, rotation's four
  // turns, jigsaw tiles, masks...).
  virtual Preview inputViews(const torch::Tensor& images, const AugmentOptions& augment,
                             torch::Generator& gen);
  // A generative method's samples: `n` new images, float [n,C,H,W] in [0,1] on the CPU, drawn
  // with `gen` (in eval mode, without gradients; the samples' quality is measured with
  // core/eval/sample_quality.h). Default: undefined (the method does not generate images).
  virtual torch::Tensor sample(int64_t n, torch::Generator& gen) { return {}; }
  // A method trained on the labels: class logits [N,numClasses] of float images [N,C,H,W] in
  // [0,1]. Default: undefined (the method has no classifier of its own).
  virtual torch::Tensor classLogits(const torch::Tensor& images) { return {}; }
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
  // A method whose loss cannot collapse (a reconstruction: MAE, the autoencoders) passes
  // `canCollapse` false: the same std is reported as "feature_std", so it is plotted but no
  // collapse alarm reads it (pooled ViT tokens share a large mean and sit near the alarm's line
  // while the features are fine: MAE at 25% masking read 0.1998 at step 100, kNN above random).
  std::vector<std::pair<std::string, torch::Tensor>> collapseMetrics(const torch::Tensor& z,
                                                                     bool canCollapse = true);

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
