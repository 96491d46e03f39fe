#pragma once
// The semi-supervised curve of the RotNet and SimCLR papers: test accuracy after fine-tuning on a
// few labelled images per class, for several label counts, starting from the self-supervised
// encoder and from scratch (the same architecture at random init). Each point is an ordinary
// fine-tuning evaluation (core/eval/evaluate.h) whose record carries its labels per class and is
// kept in the run's evaluations.jsonl; the curve is read back from those records, so the window,
// `pretext-cli label-curve` and a lesson show the same points.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/eval/results.h"

namespace pretext {

struct EvalRequest;  // core/eval/evaluate.h (kept out: this header is read by the window's)

struct LabelCurveOptions {
  std::vector<int64_t> labelsPerClass{10, 50, 100, 500};
  int64_t steps = 300;  // fine-tuning steps for every point (few labels still get enough updates)
  int64_t batchSize = 128;
  int64_t freezeStages = 0;  // of the trained encoder (the lecture: conv1 and conv2 frozen);
                             // the from-scratch baseline trains every layer
  bool fromScratch = true;  // also fine-tune the random-init encoder (the curve's baseline)
};

// "10,50,100,500" → {10, 50, 100, 500}: positive whole numbers, strictly ascending. Throws
// pretext::Error naming the offending entry.
std::vector<int64_t> parseLabelCounts(const std::string& text);
std::string formatLabelCounts(const std::vector<int64_t>& counts);  // "10,50,100,500"

// Checks the options (counts as parseLabelCounts wants them, steps and batch >= 1); throws
// pretext::Error naming the setting.
void validateLabelCurve(const LabelCurveOptions& options);

// The fine-tuning evaluations of the curve, in the order they should run: for each count the
// trained encoder, then (fromScratch) the random init. `seed` seeds the subsets and the heads.
std::vector<EvalRequest> labelCurveRequests(const LabelCurveOptions& options, uint64_t seed);

struct LabelCurvePoint {
  int64_t labelsPerClass = 0;
  double trained = std::numeric_limits<double>::quiet_NaN();  // top-1 %, NaN when not measured
  double scratch = std::numeric_limits<double>::quiet_NaN();
  int64_t trainedStep = 0;  // the training step of the encoder the trained point started from
  std::string settings;     // the trained point's (else the scratch point's) settings text
};

// The curve in a run's records: for every labels-per-class count, the latest fine-tuning of the
// trained encoder and of the random init (by record order). Sorted by count; empty when the
// records hold no per-class fine-tuning.
std::vector<LabelCurvePoint> labelCurveFromRecords(const std::vector<EvalRecord>& records);

}  // namespace pretext
