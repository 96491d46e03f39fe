#pragma once
// Checkpoints. A run writes the full one while it trains (RUN/checkpoint.pt: the method's
// parameters and buffers, the optimiser's state, the step), from which it resumes. A packed run
// (`pretext-cli pack`, the examples shipped in resources/examples/) keeps only what inspecting
// and evaluating need: the model, in half precision (a quarter of a full checkpoint's size),
// with its experiment, curves and evaluation results. Tensors whose values half precision cannot
// hold (beyond +-65000) stay float32 and are listed in state.json's "float32".
#include <c10/core/Device.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pretext {

class Method;
class Optimizer;
class RunDirectory;

// Where the current epoch's running mean of the loss stands when a checkpoint is written in the
// middle of an epoch, so that a resumed run reports the same epoch means as one never stopped.
struct EpochLossSoFar {
  double sum = 0;
  int64_t steps = 0;
};

// Writes RUN/checkpoint.pt atomically, then state.json (step, epoch, finished, embedding_dim).
void saveCheckpoint(const RunDirectory& run, Method& method, Optimizer& optimizer, int64_t step,
                    int64_t epoch, bool finished, EpochLossSoFar epochLoss = {});

// state.json for the checkpoint of `step` (what saveCheckpoint writes after it). A resume writes
// it again: a kill between a checkpoint and its state.json leaves the old state behind.
void writeCheckpointState(const RunDirectory& run, Method& method, int64_t step, int64_t epoch, bool finished);

// Loads the weights of RUN/checkpoint.pt into `method` (and the optimiser's state when one is
// given: resuming) and returns the step it was saved at. A packed run's weights come back as
// float32; resuming one is refused. Throws pretext::Error naming the file when it cannot be read.
// `epochLoss`, when given, receives what the checkpoint recorded (zero for older checkpoints).
int64_t loadCheckpoint(const RunDirectory& run, Method& method, Optimizer* optimizer,
                       c10::Device device, EpochLossSoFar* epochLoss = nullptr);

// True when RUN's state.json says it is packed.
bool isPackedRun(const std::string& runDir);

struct PackSummary {
  int64_t halfTensors = 0;
  std::vector<std::string> float32Tensors;  // kept in float32 (values beyond half's range)
  uint64_t checkpointBytes = 0;
  uint64_t totalBytes = 0;
};

// Writes a packed copy of the run at `runDir` into `outDir` (created; it must not exist or be
// empty): experiment.json, state.json, metrics.csv, metrics.jsonl without its per-step lines (the
// curves read their steps from metrics.csv), log.txt, the evaluation results (evaluations.jsonl,
// eval*.json) and the half-precision checkpoint. Throws pretext::Error naming what is missing.
PackSummary packRun(const std::string& runDir, const std::string& outDir);

}  // namespace pretext
