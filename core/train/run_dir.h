#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config/experiment.h"

namespace pretext {


// A run directory:
//   experiment.json   the resolved experiment (what ran, every default filled in)
//   metrics.csv       step,epoch,loss,lr,img_per_s,wall_s,knn_top1,<method metrics>
//   metrics.jsonl     one JSON object per line: {"type":"step"|"epoch"|"eval", ...}
//   checkpoint.pt     model + optimiser + step, written atomically (temp, fsync, rename)
//   state.json        {"step":..,"epoch":..,"finished":..}, written atomically
//   log.txt           the run's log lines
//   eval.json         the last `pretext-cli eval` results (eval-random-init.json: the untrained
//                     baseline; eval-on-DATA.json: a transfer probe on another source)
//   evaluations.jsonl every evaluation made in the window (core/eval/results.h)
//   tb/               TensorBoard's event file of the same scalars (run.tensorboard)
// A packed run (core/train/checkpoint.h) has the same files with a model-only checkpoint.
class RunDirectory {
 public:
  // Creates OUT/NAME-YYYYmmdd-HHMMSS (a suffix when it exists) and writes experiment.json.
  static RunDirectory create(const std::string& outDir, const Experiment& experiment);
  // Creates exactly `dir` (a sweep's point: its name is the plan's) and writes experiment.json;
  // refuses a folder that already holds a run.
  static RunDirectory createAt(const std::string& dir, const Experiment& experiment);
  // Opens an existing run (for resume or evaluation); throws Error naming what is missing.
  static RunDirectory open(const std::string& dir);

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  Experiment experiment() const;  // parses experiment.json
  bool hasCheckpoint() const;
  nlohmann::json state() const;   // {} when there is none

  void writeState(const nlohmann::json& state) const;
  void appendLog(const std::string& line) const;
  // Keeps only the metric rows with step <= `step` (before resuming from that step).
  void truncateMetrics(int64_t step) const;
  // Deletes the FILE.tmp files that an interrupted writeFileAtomically left behind (their FILE
  // is whole: the previous version) and returns their names.
  std::vector<std::string> removeUnfinishedFiles() const;

 private:
  explicit RunDirectory(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Writes `bytes` producer output to `path` atomically: `write(tmpPath)` fills a temp file,
// which is fsync'ed and renamed over `path`; a crash leaves the old file intact.
// A temp file that `write` did not create (its folder is read-only, the disk is full) is reported.
void writeFileAtomically(const std::string& path, const std::function<void(const std::string&)>& write);
// The same for bytes in memory, every write() checked: a full disk or a read-only folder is an
// Error naming the file and the system's reason, and the old file stays as it was.
void writeFileAtomically(const std::string& path, const std::string& bytes);

class TensorBoardWriter;

// CSV + JSONL metric writer with a fixed column set decided at the first row; with
// `tensorboard`, every value also goes to a TensorBoard event file in RUN/tb/.
class MetricsWriter {
 public:
  explicit MetricsWriter(const RunDirectory& run, bool tensorboard = false);
  ~MetricsWriter();
  void step(int64_t step, double epoch, double loss, double lr, double imgPerSec, double wallSeconds,
            const std::vector<std::pair<std::string, double>>& metrics);
  void eval(int64_t step, int64_t epoch, const std::string& kind, double top1);
  void epoch(int64_t epoch, int64_t step, double meanLoss, double seconds);

 private:
  std::string csvPath_, jsonlPath_;
  std::vector<std::string> metricColumns_;
  bool headerKnown_ = false;
  double lastKnn_ = -1;
  std::ofstream csv_, jsonl_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

}  // namespace pretext
