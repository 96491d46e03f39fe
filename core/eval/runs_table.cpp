#include "core/eval/runs_table.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/eval/results.h"
#include "core/util/error.h"
#include "core/util/json_fields.h"

namespace pretext {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The result columns, in the order a reader wants them; others (unknown protocols) follow.
const std::vector<std::string>& runsTableResultOrder() {
  static const std::vector<std::string> order = {"kNN",           "linear probe",
                                                 "fine-tune",     "online kNN",
                                                 "kNN (random init)", "linear probe (random init)",
                                                 "fine-tune (random init)"};
  return order;
}

void flattenInto(const json& j, const std::string& prefix, std::map<std::string, json>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it)
      flattenInto(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
  } else {
    out[prefix] = j;
  }
}

// The last online kNN row of metrics.jsonl: the file's tail only (runs write a row per step).
bool lastOnlineKnn(const std::string& runDir, double* top1) {
  std::ifstream in(runDir + "/metrics.jsonl", std::ios::binary);
  if (!in) return false;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - (256 << 10));
  in.seekg(from);
  std::string line;
  if (from > 0) std::getline(in, line);  // a partial first line
  bool found = false;
  while (std::getline(in, line)) {
    if (line.find("\"eval\"") == std::string::npos) continue;
    const json row = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!row.is_object() || row.value("type", "") != "eval" || row.value("kind", "") != "knn") continue;
    const auto it = row.find("top1");
    if (it == row.end() || !it->is_number()) continue;
    *top1 = it->get<double>();
    found = true;
  }
  return found;
}

bool isRunFolder(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) && fs::exists(p / "experiment.json", ec);
}

}  // namespace

std::map<std::string, json> flattenSettings(const json& j) {
  std::map<std::string, json> out;
  flattenInto(j, "", out);
  out.erase("description");
  return out;
}

RunsTableRow readRunsTableRow(const std::string& runDir) {
  RunsTableRow row;
  row.dir = runDir;
  row.name = fs::path(runDir).filename().string();
  if (row.name.empty()) row.name = fs::path(runDir).parent_path().filename().string();
  std::ifstream ein(runDir + "/experiment.json");
  if (!ein) throw Error(runDir + ": not a run folder (no experiment.json)");
  std::vector<std::string> problems;
  const json experiment = json::parse(ein, nullptr, /*allow_exceptions=*/false);
  if (experiment.is_object())
    row.settings = flattenSettings(experiment);
  else
    problems.push_back("experiment.json does not parse");
  if (std::ifstream sin(runDir + "/state.json"); sin) {
    const json state = json::parse(sin, nullptr, false);
    if (state.is_object()) {
      row.step = intField(state, "step", 0);
      row.finished = state.value("finished", false);
    } else {
      problems.push_back("state.json does not parse");
    }
  }
  // The latest record of each kind wins (they are oldest first).
  for (const EvalRecord& r : readEvalRecords(runDir)) row.results[r.protocolTitle()] = r.top1;
  double online = 0;
  if (lastOnlineKnn(runDir, &online)) row.results["online kNN"] = online;
  row.results["steps"] = static_cast<double>(row.step);
  for (size_t i = 0; i < problems.size(); ++i) row.problem += (i ? "; " : "") + problems[i];
  return row;
}

RunsTable scanRunsTable(const std::string& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw Error(folder + ": not a folder of runs");
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (isRunFolder(entry.path())) {
      dirs.push_back(entry.path());
      continue;
    }
    // A sweep's folder (or any folder of runs) one level down.
    if (!entry.is_directory(ec)) continue;
    std::error_code inner;
    for (const auto& sub : fs::directory_iterator(entry.path(), inner))
      if (isRunFolder(sub.path())) dirs.push_back(sub.path());
  }
  if (ec) throw Error(folder + ": cannot list the folder (" + ec.message() + ")");
  std::sort(dirs.begin(), dirs.end());
  RunsTable table;
  for (const auto& d : dirs) {
    try {
      table.rows.push_back(readRunsTableRow(d.string()));
    } catch (const std::exception& e) {
      RunsTableRow broken;
      broken.dir = d.string();
      broken.name = d.filename().string();
      broken.problem = e.what();
      table.rows.push_back(std::move(broken));
    }
  }
  // Settings that differ among the rows whose experiment could be read (a key missing from some
  // of them differs too).
  std::vector<const RunsTableRow*> readable;
  std::set<std::string> keys;
  for (const auto& r : table.rows) {
    if (r.settings.empty()) continue;
    readable.push_back(&r);
    for (const auto& [k, v] : r.settings) keys.insert(k);
  }
  for (const auto& k : keys) {
    const std::string first = settingText(*readable.front(), k);
    for (const auto* r : readable)
      if (settingText(*r, k) != first) {
        table.differingSettings.push_back(k);
        break;
      }
  }
  std::set<std::string> results;
  for (const auto& r : table.rows)
    for (const auto& [k, v] : r.results) results.insert(k);
  for (const auto& name : runsTableResultOrder())
    if (results.erase(name)) table.resultNames.push_back(name);
  const bool steps = results.erase("steps") > 0;
  for (const auto& name : results) table.resultNames.push_back(name);
  if (steps) table.resultNames.push_back("steps");
  return table;
}

std::string settingText(const RunsTableRow& row, const std::string& key) {
  const auto it = row.settings.find(key);
  if (it == row.settings.end()) return "-";
  if (it->second.is_string()) return it->second.get<std::string>();
  return it->second.dump();
}

std::string runsTableCsv(const RunsTable& table) {
  auto quote = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::ostringstream out;
  out << "run,step,finished";
  for (const auto& k : table.differingSettings) out << "," << quote(k);
  for (const auto& k : table.resultNames)
    if (k != "steps") out << "," << quote(k);
  out << "\n";
  for (const auto& r : table.rows) {
    out << quote(r.name) << "," << r.step << "," << (r.finished ? "true" : "false");
    for (const auto& k : table.differingSettings) out << "," << quote(settingText(r, k));
    for (const auto& k : table.resultNames) {
      if (k == "steps") continue;
      out << ",";
      if (const auto it = r.results.find(k); it != r.results.end()) out << it->second;
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace pretext
