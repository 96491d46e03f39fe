#include "app/cli_results.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <vector>

#include "core/eval/compare_encoders.h"
#include "core/eval/runs_table.h"
#include "core/train/trainer.h"
#include "core/util/error.h"

namespace pretext {

using json = nlohmann::json;


// Linear CKA between every layer of a run's encoder and every layer of another's.
int cmdCompare(const CompareArgs& a) {
  if (int(!a.with.empty()) + int(a.randomInit) + int(a.itself) != 1)
    throw Error("compare: say what to compare the run with: --with OTHER_RUN, --random-init or --itself");
  Session s = loadRunSession(a.run);
  const EncoderComparison c = !a.with.empty() ? compareWithRun(s, a.with, a.images)
                              : a.randomInit  ? compareWithRandomInit(s, a.images)
                                              : compareWithItself(s, a.images);
  const auto m = c.cka.accessor<double, 2>();
  if (a.asJson) {
    json rows = json::array();
    for (int64_t i = 0; i < c.cka.size(0); ++i) {
      json row = json::array();
      for (int64_t j = 0; j < c.cka.size(1); ++j) row.push_back(m[i][j]);
      rows.push_back(row);
    }
    std::cout << json{{"run", a.run}, {"partner", c.partner}, {"images", c.images}, {"layers_run", c.layersA},
                      {"layers_partner", c.layersB}, {"linear_cka", rows}}
                     .dump()
              << "\n";
    return 0;
  }
  std::cout << "linear CKA of " << a.run << " (rows) against " << c.partner << " (columns), on " << c.images
            << " test images (1 = the same representation up to rotation and scale)\n";
  std::cout << std::setw(10) << "";
  for (const auto& name : c.layersB) std::cout << std::setw(10) << name;
  std::cout << "\n" << std::fixed << std::setprecision(3);
  for (int64_t i = 0; i < c.cka.size(0); ++i) {
    std::cout << std::setw(10) << c.layersA[static_cast<size_t>(i)];
    for (int64_t j = 0; j < c.cka.size(1); ++j) std::cout << std::setw(10) << m[i][j];
    std::cout << "\n";
  }
  return 0;
}



// The results table across the runs of a folder: the settings that differ, then the results.
int cmdRuns(const RunsArgs& a) {
  RunsTable t = scanRunsTable(a.folder);
  if (t.rows.empty()) {
    std::cout << "no runs in " << a.folder << "\n";
    return 0;
  }
  std::string key = a.sort;
  if (key.empty())
    for (const char* k : {"linear probe", "kNN", "online kNN"})
      if (std::find(t.resultNames.begin(), t.resultNames.end(), k) != t.resultNames.end()) {
        key = k;
        break;
      }
  if (!key.empty()) {
    const bool isResult = std::find(t.resultNames.begin(), t.resultNames.end(), key) != t.resultNames.end();
    const bool isSetting = t.rows.front().settings.count(key) > 0 ||
                           std::find(t.differingSettings.begin(), t.differingSettings.end(), key) != t.differingSettings.end();
    if (!isResult && !isSetting) {
      std::string known;
      for (const auto& r : t.resultNames) known += (known.empty() ? "" : ", ") + r;
      throw Error("runs --sort \"" + key + "\": neither a result (" + known + ") nor a setting of these runs");
    }
    std::stable_sort(t.rows.begin(), t.rows.end(), [&](const RunsTableRow& x, const RunsTableRow& y) {
      if (isResult) {
        const auto ix = x.results.find(key), iy = y.results.find(key);
        if (ix == x.results.end() || iy == y.results.end()) return ix != x.results.end();
        return ix->second > iy->second;  // best first
      }
      return settingText(x, key) < settingText(y, key);
    });
  }
  if (!a.csv.empty()) {
    std::ofstream out(a.csv);
    out << runsTableCsv(t);
    if (!out) throw Error(a.csv + ": cannot write the CSV file");
  }
  std::vector<std::string> columns = t.differingSettings;
  for (const auto& r : t.resultNames) columns.push_back(r);
  auto cellText = [](const RunsTableRow& r, const std::string& c) {
    if (const auto it = r.results.find(c); it != r.results.end()) {
      std::ostringstream v;
      v << std::fixed << std::setprecision(c == "steps" ? 0 : 2) << it->second;
      return v.str();
    }
    return settingText(r, c);
  };
  std::vector<size_t> widths;
  for (const auto& c : columns) {
    size_t w = c.size();
    for (const auto& r : t.rows) w = std::max(w, cellText(r, c).size());
    widths.push_back(w + 2);
  }
  size_t nameW = 3;
  for (const auto& r : t.rows) nameW = std::max(nameW, r.name.size());
  std::cout << std::left << std::setw(int(nameW) + 2) << "run";
  for (size_t i = 0; i < columns.size(); ++i) std::cout << std::setw(int(widths[i])) << columns[i];
  std::cout << "\n";
  for (const auto& r : t.rows) {
    std::cout << std::setw(int(nameW) + 2) << r.name;
    for (size_t i = 0; i < columns.size(); ++i) std::cout << std::setw(int(widths[i])) << cellText(r, columns[i]);
    if (!r.problem.empty()) std::cout << "  (" << r.problem << ")";
    std::cout << "\n";
  }
  std::cout << t.rows.size() << " runs in " << a.folder;
  if (!key.empty()) std::cout << ", sorted by " << key;
  if (!a.csv.empty()) std::cout << "; CSV written to " << a.csv;
  std::cout << "\n";
  return 0;
}

}  // namespace pretext
