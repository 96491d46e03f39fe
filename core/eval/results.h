#pragma once
// Evaluation results kept in a run folder, so that reopening a run (in the window or with
// `pretext-cli`) shows every evaluation made of it: `evaluations.jsonl`, one JSON object per
// line, appended. A results table across runs is a scan of the runs folder.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pretext {

struct EvalRecord {
  std::string run;          // run folder ("" for an untrained model that has none)
  std::string method;       // the training method (experiment.method), e.g. "simclr"
  std::string data;         // the data spec, e.g. "fashion-mnist"
  std::string protocol;     // "knn" | "linear" | "finetune"
  std::string settings;     // human summary, e.g. "k=200 T=0.1", "10% labels, 0 frozen, 20 ep"
  bool randomInit = false;  // the same architecture, untrained (the baseline)
  int64_t step = 0;         // training steps the model had
  double top1 = 0;          // percent
  double top5 = 0;          // percent (0 with fewer than 5 classes)
  int64_t trainImages = 0;  // labelled images the probe was fitted on
  int64_t testImages = 0;
  int64_t labelsPerClass = 0;  // fine-tuning on this many labelled images per class (0: n/a)
  double seconds = 0;  // how long it took
  std::string time;    // UTC, ISO 8601 (when it finished)
  std::vector<std::string> classNames;
  std::vector<int64_t> confusion;  // row-major classNames.size()^2, rows = true class; may be empty

  // "kNN", "linear probe", "fine-tune" (plus " (random init)" for the baseline).
  std::string protocolTitle() const;
};

nlohmann::json evalRecordToJson(const EvalRecord& r);
// Missing fields keep their defaults; throws pretext::Error when j is not an object.
EvalRecord evalRecordFromJson(const nlohmann::json& j);

// The file the records live in: RUNDIR/evaluations.jsonl.
std::string evalResultsPath(const std::string& runDir);
// Appends one line (the folder must exist; throws pretext::Error naming the file otherwise).
void appendEvalRecord(const std::string& runDir, const EvalRecord& record);
// The records of one run, oldest first: evaluations.jsonl, then the results of the last
// `pretext-cli eval` (eval.json, eval-random-init.json) when present. Unreadable lines (a line cut
// short by a crash) are skipped; a folder without results gives an empty list. `run` is set to
// runDir on every record.
std::vector<EvalRecord> readEvalRecords(const std::string& runDir);
// The records of every run folder directly under runsFolder, by folder name then time.
std::vector<EvalRecord> scanEvalRecords(const std::string& runsFolder);

// The current time as UTC ISO 8601 ("2026-11-22T10:05:00Z").
std::string utcTimestamp();

}  // namespace pretext
