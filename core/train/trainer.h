#pragma once
#include <memory>
#include <string>

#include "core/config/experiment.h"
#include "core/data/dataset.h"
#include "core/methods/method.h"
#include "core/train/control.h"
#include "core/train/events.h"

namespace pretext {

struct TrainOptions {
  std::string outDir = "runs";   // where new run folders go
  std::string resumeDir;         // non-empty: resume this run
  std::string runDir;            // non-empty: the new run's folder, exactly (a sweep's point),
                                 // instead of a timestamped one under outDir
  int64_t stepsOverride = 0;     // >0: stop after this many steps in total (the schedule's
                                 // length stays the experiment's budget, so a run cut short
                                 // and resumed matches the uninterrupted one)
  double eventInterval = 0;      // >0: step events also every this many seconds between the
                                 // metric rows (the window's live curves); 0: with the rows only
  int64_t lossReadEvery = 0;     // steps between reads of the loss back to the host (the
                                 // finite check, the epoch's mean): 0 = every step on CPU,
                                 // where a read is free, every 25 on CUDA, where a read waits
                                 // for the queued steps; also before each metric row and
                                 // checkpoint, so no checkpoint holds the weights of a NaN step
  bool distributedFromEnv = false;  // join the distributed job the launcher's environment
                                    // describes (torchrun, srun; core/dist/launch_env.h), when
                                    // it has more than one process: pretext-cli train does
};

// Whether an experiment's steps run under bf16 autocast on `device`: run.precision "bf16"
// (CPU or CUDA), or "auto" on CUDA. On CPU "auto" stays fp32.
bool usesAutocast(const Experiment& e, const c10::Device& device);

// bf16 autocast for the scope's lifetime (a step's forward pass and loss) on `device`'s type,
// when `on`; the weights and the optimiser stay fp32.
class AutocastScope {
 public:
  AutocastScope(bool on, const c10::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_, cuda_;
};

// A loaded run or a fresh experiment, ready to train or to inspect: the data, the method on its
// device. Everything the trainer and the evaluation need.
struct Session {
  Experiment experiment;
  DataSplits data;
  c10::Device device = c10::kCPU;
  std::shared_ptr<Method> method;
};

// Loads the data and builds the method (seeded) on the resolved device.
Session makeSession(const Experiment& e);
// The experiment's method for images like `train`'s (on the CPU, from the current torch seed).
std::shared_ptr<Method> makeExperimentMethod(const Experiment& e, const Dataset& train);
// Loads a run folder's experiment and its last checkpoint's model weights.
Session loadRunSession(const std::string& runDir);

// The steps a run of `e` takes on `trainImages` training images: run.steps when set, else its
// epochs of full batches (the window shows "0 / N steps" before the first Start).
int64_t plannedSteps(const Experiment& e, int64_t trainImages);

// Runs an experiment in the calling thread (the GUI calls it from its training thread).
// Throws pretext::Error for bad settings or data before training starts; failures during
// training (NaN loss, ...) are reported through events.onFailed *and* thrown.
class Trainer {
 public:
  Trainer(Experiment experiment, TrainOptions options, TrainerEvents* events = nullptr,
          TrainControl* control = nullptr);
  ~Trainer();
  // Returns the run directory.
  std::string run();
  // The live session (valid inside run(); the training thread owns it).
  Session* session() { return session_.get(); }
  // After run(): hands over the trained session (the window keeps inspecting it).
  std::unique_ptr<Session> takeSession() { return std::move(session_); }

 private:
  Experiment experiment_;
  TrainOptions options_;
  TrainerEvents* events_;
  TrainControl* control_;
  TrainControl ownControl_;
  std::unique_ptr<Session> session_;
};

}  // namespace pretext
