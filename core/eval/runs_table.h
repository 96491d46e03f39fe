#pragma once
// A results table across runs: every run folder under a folder (and one level further down,
// where a sweep keeps its points), its settings flattened to dotted keys ("method.params.
// temperature"), which of them differ between the runs, and its results — the last evaluation of
// each kind (evaluations.jsonl, eval.json), the last online kNN of its metrics, and how far it
// got. What the window's Runs panel shows and `pretext-cli runs` prints.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pretext {

struct RunsTableRow {
  std::string dir;   // the run folder
  std::string name;  // its folder name
  std::map<std::string, nlohmann::json> settings;  // flattened experiment.json (no description)
  std::map<std::string, double> results;           // result name -> value (percent for accuracies)
  int64_t step = 0;
  bool finished = false;
  std::string problem;  // why the folder could not be read fully ("" when it could)
};

struct RunsTable {
  std::vector<RunsTableRow> rows;             // by folder name
  std::vector<std::string> differingSettings;  // keys whose value is not the same in every row
  std::vector<std::string> resultNames;        // every result some row has, in a fixed order
};

// Flattens a JSON object into dotted keys; arrays and scalars are leaves.
std::map<std::string, nlohmann::json> flattenSettings(const nlohmann::json& j);
// One run folder (it must hold experiment.json; throws pretext::Error otherwise).
RunsTableRow readRunsTableRow(const std::string& runDir);
// Every run folder directly under `folder` or one level below. A folder whose files are damaged
// still gets a row, with `problem` saying what could not be read. Throws pretext::Error when
// `folder` is not a readable directory.
RunsTable scanRunsTable(const std::string& folder);
// A setting's value as text ("0.2", "simclr", "true"; "-" when the run does not have it).
std::string settingText(const RunsTableRow& row, const std::string& key);
// The table as CSV: run, step, finished, the differing settings, then the results.
std::string runsTableCsv(const RunsTable& table);

}  // namespace pretext
