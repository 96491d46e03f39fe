#pragma once
// One evaluation of a session's representation, as the window's Evaluation panel and
// `pretext-cli eval` run it: kNN, linear probe or few-label fine-tuning of the trained model, or
// of the same architecture untrained (the random-init baseline every method must beat).
#include <cstdint>
#include <functional>
#include <string>

#include "core/eval/finetune.h"
#include "core/eval/probes.h"
#include "core/eval/results.h"

namespace pretext {

struct Session;

struct EvalRequest {
  std::string protocol = "knn";  // knn | linear | finetune
  bool randomInit = false;       // evaluate the architecture untrained (seeded with the experiment's seed)
  KnnOptions knn;
  LinearProbeOptions linear;
  FinetuneOptions finetune;
  int64_t trainLimit = 0;        // use the first N labelled training images (0 = all)
  int64_t testLimit = 0;         // use the first N test images (0 = all)
};

// Called with what is going on and the fraction done in [0,1]; it may throw (e.g. to cancel),
// which aborts the evaluation and propagates.
using EvalProgress = std::function<void(const std::string& stage, double fraction)>;

// Runs one evaluation on the session's device, in eval mode and without touching the session's
// model: fine-tuning trains a copy of the encoder, the baseline a fresh one, and the global
// random state is restored afterwards (so a paused training run stays reproducible). Returns a
// record with method, data, protocol, settings, accuracies, sizes, time and confusion matrix
// filled in; the caller sets `run` and `step`. Throws pretext::Error when the data has no
// labels or the protocol is unknown.
EvalRecord evaluateSession(Session& session, const EvalRequest& request,
                           const EvalProgress& progress = {});

// The settings part of a record, e.g. "k=200 T=0.1", "10% labels, 1 frozen, 20 ep".
std::string describeEvalSettings(const EvalRequest& request);

}  // namespace pretext
