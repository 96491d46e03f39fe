#pragma once
// pretext-cli label-curve: the semi-supervised curve (core/eval/label_curve.h) of a run.
#include <cstdint>
#include <ostream>
#include <string>

#include "core/eval/label_curve.h"

namespace pretext {

// pretext-cli label-curve RUN [--labels 10,50,100,500] [--steps 300] [--freeze N] [--no-scratch]
struct LabelCurveArgs {
  std::string run;
  std::string labels = "10,50,100,500";
  int64_t steps = 300;
  int64_t freeze = 0;
  bool noScratch = false, asJson = false, quiet = false;
};

// Fine-tunes the run's encoder (and the random init) at every count, appends each result to the
// run's evaluations.jsonl, and prints the table (or one JSON object with --json).
int cmdLabelCurve(const LabelCurveArgs& args);
// The same with the options already parsed (a lesson's label_curve).
int runLabelCurve(const std::string& run, const LabelCurveOptions& options, bool asJson, bool quiet);

// The table: labels per class, images, the trained encoder, from scratch, the difference.
void printLabelCurve(const std::vector<LabelCurvePoint>& curve, int64_t classes, std::ostream& out);

}  // namespace pretext
