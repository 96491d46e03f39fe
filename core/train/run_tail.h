#pragma once
// Following a run folder that another process is writing (a pretext-cli, a distributed job's
// rank 0, a cluster folder mounted here): what it has added since the last look. The writer
// appends whole lines to metrics.jsonl and replaces state.json and checkpoint.pt atomically
// (core/train/run_dir.h), so a reader that only takes complete lines and reads state.json's
// step never sees a half-written record. No Qt: the window polls it from a timer.
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace pretext {

struct TailStep {
  int64_t step = 0;
  double epoch = 0, loss = 0, lr = 0, imgPerSec = 0, wallSeconds = 0;
  std::vector<std::pair<std::string, double>> metrics;  // the method's metrics, by name
};

struct TailEval {
  int64_t step = 0, epoch = 0;
  std::string kind;  // "knn"
  double top1 = 0;
};

struct RunTailUpdate {
  std::vector<TailStep> steps;
  std::vector<TailEval> evals;
  // metrics.jsonl was replaced or shrank (a resume cut it back to its checkpoint): the rows
  // above are read from its start again, and what was shown of the old ones is stale.
  bool rewound = false;
  // state.json's step when it changed since the last poll (a checkpoint landed), else -1.
  int64_t checkpointStep = -1;
  bool finished = false;     // state.json says the run is finished
  int64_t skippedLines = 0;  // lines that are not rows of a metrics stream (skipped)
};

class RunTail {
 public:
  // Reads at most maxBytesPerPoll of new metrics per poll, so a long history arrives in slices
  // and no single poll keeps the caller busy.
  explicit RunTail(std::string runDir, size_t maxBytesPerPoll = size_t(4) << 20);

  // What was appended since the last poll. Missing files are not an error (the writer may not
  // have logged a step yet); a file that cannot be read throws pretext::Error naming it.
  RunTailUpdate poll();

  const std::string& runDir() const { return runDir_; }
  int64_t lastStep() const { return lastStep_; }
  // Training speed over the last rows read (steps per second of the writer's clock); 0 until
  // two rows of one session are known.
  double stepsPerSecond() const;
  // Bytes of metrics.jsonl not read yet (after a poll that was cut at maxBytesPerPoll).
  bool behind() const { return behind_; }

 private:
  void readState(RunTailUpdate& out);
  void readMetrics(RunTailUpdate& out);
  void take(const std::string& line, RunTailUpdate& out);

  std::string runDir_;
  size_t maxBytes_;
  uint64_t offset_ = 0;
  ino_t inode_ = 0;
  bool behind_ = false;
  int64_t stateStep_ = -1;
  int64_t lastStep_ = -1;
  std::deque<std::pair<double, double>> recent_;  // (wall seconds, step) of the last rows
};

}  // namespace pretext
