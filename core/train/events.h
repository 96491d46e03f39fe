#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/methods/method.h"

namespace pretext {

struct StepEvent {
  int64_t step = 0;        // steps done (1-based after the first step)
  int64_t totalSteps = 0;
  int64_t epoch = 0;       // 0-based epoch of this step
  double epochFloat = 0;   // fractional epochs done
  double loss = 0;         // mean over the steps since the last event
  double lr = 0;
  double imgPerSec = 0;
  double etaSeconds = 0;
  double wallSeconds = 0;  // since the run (or this resume) started
  std::vector<std::pair<std::string, double>> metrics;
  int64_t embeddingDim = 0;  // dimension of the embedding behind emb_std (0: none reported)
};

// Collapse monitoring: emb_std * sqrt(D), about 1 for embeddings spread over the sphere and 0
// for embeddings collapsed to a point; -1 when the method reports no emb_std.
inline double embeddingSpread(double embStd, int64_t dim) {
  return dim > 0 && embStd >= 0 ? embStd * std::sqrt(double(dim)) : -1;
}
double embeddingSpread(const StepEvent& e);
// Below this spread the trainer warns and the window shows a collapse alarm (recovery at twice it).
constexpr double kCollapseSpread = 0.2;
// A fresh network's embeddings can start bunched together and spread out in the first steps (a
// random ViT does, for ~70 steps): a low spread only counts as a collapse once the embeddings
// have been healthy (above twice kCollapseSpread) or after this many steps.
constexpr int64_t kCollapseGraceSteps = 100;

// The collapse alarm's rule, shared by the trainer's log and the window's curves panel: on when
// the spread falls below kCollapseSpread (see the grace above), off above twice it (hysteresis).
struct CollapseWatch {
  enum class Change { None, Collapsed, Recovered };
  bool collapsed = false;
  bool wasHealthy = false;
  // spread < 0 (no emb_std reported) changes nothing.
  Change update(int64_t step, double spread) {
    if (spread < 0) return Change::None;
    if (spread > 2 * kCollapseSpread) wasHealthy = true;
    if (!collapsed && spread < kCollapseSpread && (wasHealthy || step >= kCollapseGraceSteps)) {
      collapsed = true;
      return Change::Collapsed;
    }
    if (collapsed && spread > 2 * kCollapseSpread) {
      collapsed = false;
      return Change::Recovered;
    }
    return Change::None;
  }
};

struct EpochEvent {
  int64_t epoch = 0;  // the epoch that just ended (0-based)
  int64_t step = 0;
  double meanLoss = 0;
  double seconds = 0;
};

struct EvalEvent {
  int64_t epoch = 0;
  int64_t step = 0;
  std::string kind;   // "knn"
  double top1 = 0;    // percent
};

struct StartEvent {
  std::string runDir;
  std::string device;
  int64_t startStep = 0;
  int64_t totalSteps = 0;
  int64_t stepsPerEpoch = 0;
  int64_t trainImages = 0;
};

struct FinishEvent {
  std::string runDir;
  int64_t steps = 0;
  double seconds = 0;
  bool stopped = false;  // stopped early by the user (resumable)
};

// The outside world hears about a run through this interface. Callbacks run on the training
// thread: keep them short (the GUI copies into a buffer and returns).
class TrainerEvents {
 public:
  virtual ~TrainerEvents() = default;
  virtual void onStart(const StartEvent&) {}
  virtual void onStep(const StepEvent&) {}
  virtual void onEpoch(const EpochEvent&) {}
  virtual void onEvaluation(const EvalEvent&) {}
  virtual bool wantsPreviews() const { return false; }
  virtual void onPreviews(int64_t step, const std::vector<Preview>&) {}
  virtual void onLog(const std::string& line) {}
  virtual void onFinished(const FinishEvent&) {}
  virtual void onFailed(const std::string& message) {}
};

}  // namespace pretext
