#pragma once
// Sweeps: one experiment trained at several settings, one run after another on this machine.
//
// A sweep file (JSON):
//   {"name": "temp-lr",                                   (default: the file's name)
//    "experiment": {...} | "preset": "simclr-fashion",    (both: the object patches the preset)
//    "grid": {"method.params.temperature": [0.1, 0.2, 0.5], "optimizer.lr": [1e-3, 3e-3]},
//    or "random": {"budget": 8, "seed": 0, "space": {"optimizer.lr": {"log_uniform": [1e-4, 1e-2]},
//                  "method.params.temperature": {"uniform": [0.05, 0.5]},
//                  "schedule.batch_size": {"choice": [64, 128]}}},
//    "probe": "linear",                                   (the table's order, the heat map)
//    "evaluate": {"probes": ["knn", "linear"], "train_limit": 0, "test_limit": 0, "k": 200,
//                 "temperature": 0.1}}
// A grid has one or two axes. Keys are `--set` paths; `method.X` is short for method.params.X.
// Every point's experiment is validated before anything trains.
//
// A sweep folder holds sweep.json (the plan: the resolved experiment and every point), one
// normal run folder per point (named after its settings), and sweep_results.json +
// sweep_results.csv (each point's settings, status and probe results), rewritten after each
// point. runSweep skips finished points, resumes an interrupted one from its checkpoint and
// stops between steps when asked, so running it again continues where it stopped.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/config/experiment.h"

namespace pretext {

class Trainer;
class TrainControl;
class TrainerEvents;
struct Session;

// One grid axis: a setting and its values, in the file's order.
struct SweepAxis {
  std::string key;
  std::vector<nlohmann::json> values;
};

// One dimension of a random search: log_uniform / uniform over [low, high] (rounded to whole
// numbers when both bounds are integers), or one of `choices`.
struct SweepDimension {
  std::string key;
  std::string distribution;  // log_uniform | uniform | choice
  double low = 0, high = 0;
  bool integer = false;
  std::vector<nlohmann::json> choices;
};

// Evaluation of each trained point, through evaluateSession (the window's Evaluation panel).
struct SweepEvaluation {
  std::vector<std::string> probes{"knn", "linear"};  // knn | linear
  int64_t trainLimit = 0;                            // first N labelled training images (0 = all)
  int64_t testLimit = 0;                             // first N test images (0 = all)
  int64_t k = 200;                                   // kNN neighbours
  double temperature = 0.1;
};

struct SweepPoint {
  int index = 0;
  std::string name;  // e.g. "3_temperature=0.2_lr=0.003": the point's run folder
  std::vector<std::pair<std::string, nlohmann::json>> settings;  // key -> value, axis order
  std::vector<int> cell;  // grid: the value's index on each axis; random: empty
  Experiment experiment;  // validated
};

struct SweepPlan {
  std::string name = "sweep";
  nlohmann::json experiment;    // the base experiment: the preset patched by the file and --set
  std::vector<SweepAxis> axes;  // a grid
  std::vector<SweepDimension> space;  // a random search
  int64_t budget = 0;
  uint64_t seed = 0;
  std::string probe;  // knn | linear: sorts the table, colours the heat map
  SweepEvaluation evaluation;
  std::vector<SweepPoint> points;
  bool random() const { return !space.empty(); }
  std::vector<std::string> keys() const;  // the axes' or the space's keys
};

// The key as the experiment spells it: "method.temperature" -> "method.params.temperature".
std::string canonicalSweepKey(const std::string& key);

// Parses, expands and validates a sweep (the file's JSON). `sets` (`--set key=value`) apply to
// the base experiment before the points' settings. Throws pretext::Error naming the bad key or
// value, and for a point that does not validate, the point and its settings.
// The JSON is ordered: a grid's axes, and a random space's settings, keep the file's order.
SweepPlan parseSweep(const nlohmann::ordered_json& spec, const std::vector<std::string>& sets = {},
                     const std::string& defaultName = "sweep");
// A sweep file, or a sweep folder (its sweep.json: continues that plan; `sets` must be empty).
SweepPlan loadSweep(const std::string& path, const std::vector<std::string>& sets = {});
// The plan as sweep.json holds it; parseSweep reads it back to the same points.
nlohmann::ordered_json sweepPlanToJson(const SweepPlan& plan);
// Where a sweep file runs when no folder is given: runs/sweeps/<sweep name>.
std::string defaultSweepFolder(const SweepPlan& plan, const std::string& runsFolder = "runs");

// A point's state as sweep_results.json records it.
struct SweepPointResult {
  int index = 0;
  std::string name;
  std::vector<std::pair<std::string, nlohmann::json>> settings;
  std::vector<int> cell;
  std::string status = "pending";  // pending | running | stopped | trained | finished | failed
  int64_t step = 0, totalSteps = 0;
  std::map<std::string, double> results;  // "knn_top1", "linear_top1" (percent)
  std::string error;                      // failed: why
  double seconds = 0;                     // training and evaluation, this and earlier sessions
};

struct SweepResults {
  std::string name, probe;
  bool random = false;
  std::vector<SweepAxis> axes;    // a grid's axes
  std::vector<std::string> keys;  // every setting's key (axes or space)
  std::vector<SweepPointResult> points;
  // The chosen probe's result of a point ("knn" -> results["knn_top1"]), or NaN without one.
  double value(const SweepPointResult& p, const std::string& probe = {}) const;
  int finishedCount() const;
};

nlohmann::json sweepResultsToJson(const SweepResults& r);
SweepResults sweepResultsFromJson(const nlohmann::json& j);  // throws Error when malformed
// FOLDER/sweep_results.json; throws Error naming the file when it is missing or damaged.
SweepResults readSweepResults(const std::string& folder);
// The points sorted by the probe, best first; points without a result last, in plan order.
std::vector<SweepPointResult> sweepTable(const SweepResults& r, const std::string& probe = {});

struct SweepRunOptions {
  std::string folder;                           // the sweep folder (created)
  TrainerEvents* events = nullptr;              // each point's trainer events (progress, curves)
  TrainControl* control = nullptr;              // stop (and pause) from another thread; null: own
  double eventInterval = 0;                     // TrainOptions::eventInterval (the window: 0.1)
  std::function<void(const std::string&)> log;  // what the sweep is doing
  std::function<void(Trainer*)> onTrainer;      // the point's trainer before it runs, null after
  std::function<void(const SweepResults&)> onResults;  // after each write of the results
};

struct SweepOutcome {
  SweepOutcome();
  SweepOutcome(SweepOutcome&&) noexcept;
  SweepOutcome& operator=(SweepOutcome&&) noexcept;
  ~SweepOutcome();  // out of line: Session is complete only in sweep_run.cpp
  bool stopped = false;
  SweepResults results;
  std::unique_ptr<Session> lastSession;  // the last point trained or evaluated (the window
                                         // keeps inspecting it); may be null
};

// Runs the plan's points one after another into options.folder (see the top of this file).
// Refuses a folder that holds another plan. A point whose training fails (a NaN loss) is
// recorded as failed and the sweep goes on; an error before any point trains (data missing)
// throws. Rerunning skips failed points; delete a point's folder to train it again.
SweepOutcome runSweep(const SweepPlan& plan, const SweepRunOptions& options);

}  // namespace pretext
