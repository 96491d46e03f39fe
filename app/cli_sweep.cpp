#include "app/cli_sweep.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <thread>

#include "app/cli_progress.h"
#include "core/train/control.h"
#include "core/train/sweep.h"
#include "core/util/error.h"

namespace pretext {

using json = nlohmann::json;

namespace {

// SIGINT / SIGTERM during a sweep: the handler only sets this flag; a watcher thread turns it
// into TrainControl::stop (which takes a lock, not allowed in a handler). A second signal kills.
std::atomic<bool> gSweepStopSignal{false};
void onSweepStopSignal(int sig) {
  gSweepStopSignal = true;
  ::signal(sig, SIG_DFL);
}

std::string percentText(double v) {
  if (std::isnan(v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << v;
  return s.str();
}

void printSweepTable(const SweepResults& r, const std::vector<std::string>& probes) {
  std::vector<std::string> header{"rank", "point"};
  for (const auto& k : r.keys) header.push_back(k);
  for (const auto& p : probes) header.push_back(p + "_top1" + (p == r.probe ? "*" : ""));
  header.push_back("status");
  std::vector<std::vector<std::string>> rows{header};
  int rank = 0;
  for (const auto& p : sweepTable(r)) {
    std::vector<std::string> row{std::isnan(r.value(p)) ? "-" : std::to_string(++rank), p.name};
    for (const auto& [k, v] : p.settings)
      row.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    for (const auto& probe : probes) row.push_back(percentText(r.value(p, probe)));
    row.push_back(p.status);
    rows.push_back(row);
  }
  std::vector<size_t> width(header.size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c)
      std::cout << (c ? "  " : "") << std::left << std::setw(c + 1 < row.size() ? int(width[c]) : 0)
                << row[c];
    std::cout << std::right << "\n";
  }
}

}  // namespace

// pretext-cli sweep: a grid or random search, one run after another (core/train/sweep.h).
int cmdSweep(const std::string& file, const std::vector<std::string>& sets, const std::string& out,
             bool dryRun, bool quiet) {
  const SweepPlan plan = loadSweep(file, sets);
  const std::string folder = !out.empty()                          ? out
                             : std::filesystem::is_directory(file) ? file
                                                                   : defaultSweepFolder(plan);
  const Experiment& base = plan.points.front().experiment;
  std::cout << "sweep " << plan.name << ": " << plan.points.size() << " points of " << base.name
            << " (" << base.method << "), ";
  if (plan.random()) {
    std::cout << "a random search (seed " << plan.seed << ")\n";
    for (const auto& d : plan.space) {
      std::cout << "  " << d.key << ": " << d.distribution << " ";
      if (d.distribution == "choice")
        std::cout << json(d.choices).dump() << "\n";
      else
        std::cout << "[" << d.low << ", " << d.high << "]" << (d.integer ? " (whole numbers)" : "")
                  << "\n";
    }
  } else {
    std::cout << "a grid";
    for (size_t a = 0; a < plan.axes.size(); ++a)
      std::cout << (a ? " x " : " ") << plan.axes[a].values.size();
    std::cout << "\n";
    for (const auto& a : plan.axes)
      std::cout << "  " << a.key << ": " << json(a.values).dump() << "\n";
  }
  std::cout << "evaluated with";
  for (const auto& p : plan.evaluation.probes) std::cout << " " << p;
  std::cout << "; sorted by " << plan.probe << "\nfolder: " << folder << "\n";
  if (dryRun) {
    for (const auto& p : plan.points) {
      std::cout << "  " << p.name << ":";
      for (const auto& [k, v] : p.settings) std::cout << " " << k << "=" << v.dump();
      std::cout << "\n";
    }
    std::cout << "(dry run: nothing trained; run it without --dry-run)\n";
    return 0;
  }

  TrainControl control;
  gSweepStopSignal = false;
  ::signal(SIGINT, onSweepStopSignal);
  ::signal(SIGTERM, onSweepStopSignal);
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      if (gSweepStopSignal && !control.stopRequested()) {
        std::cout
            << "\nstopping: the point keeps its checkpoint; run the same command again to continue "
               "(a second Ctrl+C quits at once)"
            << std::endl;
        control.stop();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  CliEvents events(quiet);
  SweepRunOptions options;
  options.folder = folder;
  options.events = &events;
  options.control = &control;
  options.log = [](const std::string& line) { std::cout << line << std::endl; };
  SweepOutcome outcome;
  try {
    outcome = runSweep(plan, options);
  } catch (...) {
    done = true;
    watcher.join();
    throw;
  }
  done = true;
  watcher.join();
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  const SweepResults& r = outcome.results;
  std::cout << "\n";
  printSweepTable(r, plan.evaluation.probes);
  const int failed = int(std::count_if(r.points.begin(), r.points.end(),
                                       [](const auto& p) { return p.status == "failed"; }));
  std::cout << "\n" << r.finishedCount() << " of " << r.points.size() << " points done";
  if (failed)
    std::cout << ", " << failed << " failed (their errors are in " << folder
              << "/sweep_results.json)";
  std::cout << "; results in " << folder << "/sweep_results.json and sweep_results.csv\n";
  if (outcome.stopped) {
    std::cout << "stopped; continue with: pretext-cli sweep " << folder << "\n";
    return 130;
  }
  return failed ? 1 : 0;
}

}  // namespace pretext
