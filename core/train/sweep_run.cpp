// runSweep and the results files (core/train/sweep.h): sweep_results.json / .csv.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/eval/evaluate.h"
#include "core/eval/results.h"
#include "core/train/control.h"
#include "core/train/events.h"
#include "core/train/run_dir.h"
#include "core/train/sweep.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "core/util/json_fields.h"

namespace pretext {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Thrown from the evaluation's progress callback when the sweep is asked to stop.
struct SweepStopRequested {};

std::string csvField(std::string s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string settingText(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

void writeSweepFiles(const std::string& folder, const SweepResults& r,
                     const std::vector<std::string>& probes) {
  writeFileAtomically(folder + "/sweep_results.json", [&](const std::string& tmp) {
    std::ofstream out(tmp);
    out << sweepResultsToJson(r).dump(2) << "\n";
    if (!out.flush()) throw Error(tmp + ": write failed (disk full?)");
  });
  writeFileAtomically(folder + "/sweep_results.csv", [&](const std::string& tmp) {
    std::ofstream out(tmp);
    out << "index,name";
    for (const auto& k : r.keys) out << "," << csvField(k);
    out << ",status,step";
    for (const auto& p : probes) out << "," << p << "_top1";
    out << "\n";
    for (const auto& p : r.points) {
      out << p.index << "," << csvField(p.name);
      for (const auto& [k, v] : p.settings) out << "," << csvField(settingText(v));
      out << "," << p.status << "," << p.step;
      for (const auto& probe : probes) {
        out << ",";
        const auto it = p.results.find(probe + "_top1");
        if (it != p.results.end()) out << it->second;
      }
      out << "\n";
    }
    if (!out.flush()) throw Error(tmp + ": write failed (disk full?)");
  });
}

// The latest evaluation of each probe made of the point's final model on its own data.
std::map<std::string, double> probeResults(const std::string& dir, const Experiment& e,
                                           int64_t step, const std::vector<std::string>& probes) {
  std::map<std::string, double> out;
  for (const EvalRecord& r : readEvalRecords(dir)) {
    if (r.randomInit || r.step != step || r.data != e.data) continue;
    if (std::find(probes.begin(), probes.end(), r.protocol) == probes.end()) continue;
    out[r.protocol + "_top1"] = r.top1;
  }
  return out;
}

// Forwards a point's trainer events, and keeps its planned steps.
class PointEvents : public TrainerEvents {
 public:
  explicit PointEvents(TrainerEvents* inner) : inner_(inner ? inner : &silent_) {}
  int64_t totalSteps = 0;
  void onStart(const StartEvent& e) override {
    totalSteps = e.totalSteps;
    inner_->onStart(e);
  }
  void onStep(const StepEvent& e) override { inner_->onStep(e); }
  void onEpoch(const EpochEvent& e) override { inner_->onEpoch(e); }
  void onEvaluation(const EvalEvent& e) override { inner_->onEvaluation(e); }
  bool wantsPreviews() const override { return inner_->wantsPreviews(); }
  void onPreviews(int64_t step, const std::vector<Preview>& p) override {
    inner_->onPreviews(step, p);
  }
  void onLog(const std::string& line) override { inner_->onLog(line); }
  void onFinished(const FinishEvent& e) override { inner_->onFinished(e); }
  void onFailed(const std::string& m) override { inner_->onFailed(m); }

 private:
  TrainerEvents silent_;
  TrainerEvents* inner_;
};

std::string errorMessage(const std::exception& e) {
  const std::string m = e.what();
  const auto cut = m.find("\nException raised from");  // LibTorch's backtrace
  return cut == std::string::npos ? m : m.substr(0, cut);
}

}  // namespace

SweepOutcome::SweepOutcome() = default;
SweepOutcome::SweepOutcome(SweepOutcome&&) noexcept = default;
SweepOutcome& SweepOutcome::operator=(SweepOutcome&&) noexcept = default;
SweepOutcome::~SweepOutcome() = default;

double SweepResults::value(const SweepPointResult& p, const std::string& which) const {
  const auto it = p.results.find((which.empty() ? probe : which) + "_top1");
  return it == p.results.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
}

int SweepResults::finishedCount() const {
  return int(std::count_if(points.begin(), points.end(),
                           [](const auto& p) { return p.status == "finished"; }));
}

json sweepResultsToJson(const SweepResults& r) {
  json axes = json::array();
  for (const auto& a : r.axes) axes.push_back({{"key", a.key}, {"values", a.values}});
  json points = json::array();
  for (const auto& p : r.points) {
    json settings = json::object();
    for (const auto& [k, v] : p.settings) settings[k] = v;
    json pj{{"index", p.index},
            {"name", p.name},
            {"settings", settings},
            {"cell", p.cell},
            {"status", p.status},
            {"step", p.step},
            {"total_steps", p.totalSteps},
            {"results", p.results},
            {"seconds", p.seconds}};
    if (!p.error.empty()) pj["error"] = p.error;
    points.push_back(pj);
  }
  return {{"name", r.name}, {"probe", r.probe}, {"mode", r.random ? "random" : "grid"},
          {"keys", r.keys}, {"axes", axes},     {"points", points}};
}

SweepResults sweepResultsFromJson(const json& j) {
  if (!j.is_object()) throw Error("sweep results: expected a JSON object");
  SweepResults r;
  try {
    r.name = j.value("name", std::string());
    r.probe = j.value("probe", std::string("knn"));
    r.random = j.value("mode", std::string("grid")) == "random";
    r.keys = j.value("keys", std::vector<std::string>());
    for (const auto& a : j.value("axes", json::array()))
      r.axes.push_back({a.at("key").get<std::string>(), a.at("values").get<std::vector<json>>()});
    for (const auto& pj : j.value("points", json::array())) {
      SweepPointResult p;
      p.index = int(intField(pj, "index", 0));
      p.name = pj.value("name", std::string());
      const json settings = pj.value("settings", json::object());
      for (const auto& k : r.keys)
        if (settings.contains(k)) p.settings.emplace_back(k, settings[k]);
      p.cell = pj.value("cell", std::vector<int>());
      p.status = pj.value("status", std::string("pending"));
      p.step = intField(pj, "step", 0);
      p.totalSteps = intField(pj, "total_steps", 0);
      p.results = pj.value("results", std::map<std::string, double>());
      p.error = pj.value("error", std::string());
      p.seconds = pj.value("seconds", 0.0);
      r.points.push_back(std::move(p));
    }
  } catch (const json::exception& e) {
    throw Error(std::string("sweep results: a field has the wrong type (") + e.what() + ")");
  }
  for (const auto& p : r.points)
    for (size_t a = 0; a < p.cell.size(); ++a)
      if (a >= r.axes.size() || p.cell[a] < 0 || size_t(p.cell[a]) >= r.axes[a].values.size())
        throw Error("sweep results: point " + p.name + " has a cell outside the grid");
  return r;
}

SweepResults readSweepResults(const std::string& folder) {
  const std::string path = folder + "/sweep_results.json";
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open it (is " + folder + " a sweep folder?)");
  try {
    return sweepResultsFromJson(json::parse(in));
  } catch (const json::parse_error& e) {
    throw Error(path + ": not valid JSON at byte " + std::to_string(e.byte));
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

std::vector<SweepPointResult> sweepTable(const SweepResults& r, const std::string& probe) {
  std::vector<SweepPointResult> rows = r.points;
  std::stable_sort(rows.begin(), rows.end(),
                   [&](const SweepPointResult& a, const SweepPointResult& b) {
                     const double va = r.value(a, probe), vb = r.value(b, probe);
                     if (std::isnan(va) || std::isnan(vb)) return !std::isnan(va) && std::isnan(vb);
                     return va > vb;
                   });
  return rows;
}

SweepOutcome runSweep(const SweepPlan& plan, const SweepRunOptions& options) {
  if (options.folder.empty()) throw Error("runSweep: no sweep folder given");
  const std::string folder = options.folder;
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw Error(folder + ": cannot create the sweep folder: " + ec.message());
  TrainControl ownControl;
  TrainControl& control = options.control ? *options.control : ownControl;
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };

  // The folder's plan must be this one: the points' folders hold its runs.
  const nlohmann::ordered_json planJson = sweepPlanToJson(plan);
  const std::string planPath = folder + "/sweep.json";
  if (fs::exists(planPath)) {
    std::ifstream in(planPath);
    json old;
    try {
      old = json::parse(in);
    } catch (const json::exception&) {
      throw Error(planPath + ": damaged; delete the sweep folder to start it again");
    }
    const json now = json::parse(planJson.dump());
    for (const char* part : {"experiment", "points"})
      if (old.value(part, json()) != now[part])
        throw Error(folder + " holds another sweep (its sweep.json has other " + std::string(part) +
                    "); give another folder (--out), or delete this one to start over");
  }
  writeFileAtomically(planPath, [&](const std::string& tmp) {
    std::ofstream out(tmp);
    out << planJson.dump(2) << "\n";
    if (!out.flush()) throw Error(tmp + ": write failed (disk full?)");
  });

  SweepResults previous;
  try {
    previous = readSweepResults(folder);
  } catch (const Error&) {
    // The first session in this folder (or a damaged file: the folders say what is done).
  }
  SweepOutcome outcome;
  SweepResults& results = outcome.results;
  results.name = plan.name;
  results.probe = plan.probe;
  results.random = plan.random();
  results.axes = plan.axes;
  results.keys = plan.keys();
  const auto& probes = plan.evaluation.probes;
  // Each point's state from its folder: finished and evaluated, trained, stopped, or not started.
  for (const SweepPoint& point : plan.points) {
    SweepPointResult p;
    p.index = point.index;
    p.name = point.name;
    p.settings = point.settings;
    p.cell = point.cell;
    const std::string dir = folder + "/" + point.name;
    const SweepPointResult* before = nullptr;
    for (const auto& q : previous.points)
      if (q.name == point.name) before = &q;
    if (before) {
      p.seconds = before->seconds;
      p.totalSteps = before->totalSteps;
    }
    const bool checkpoint = fs::exists(dir + "/checkpoint.pt");
    const json state = checkpoint ? RunDirectory::open(dir).state() : json::object();
    p.step = intField(state, "step", 0);
    if (checkpoint && state.value("finished", false)) {
      p.totalSteps = p.step;
      p.results = probeResults(dir, point.experiment, p.step, probes);
      p.status = p.results.size() == probes.size() ? "finished" : "trained";
    } else if (before && before->status == "failed" && fs::exists(dir + "/experiment.json")) {
      // It failed in training (a NaN loss): the same settings would again. A failure before
      // its run folder existed (data not found) is tried again.
      p.status = "failed";
      p.error = before->error;
      p.step = before->step;
    } else if (checkpoint) {
      p.status = "stopped";
    }
    results.points.push_back(std::move(p));
  }
  auto publish = [&] {
    writeSweepFiles(folder, results, probes);
    if (options.onResults) options.onResults(results);
  };
  publish();
  log("sweep " + plan.name + ": " + std::to_string(plan.points.size()) + " points in " + folder +
      " (" + std::to_string(results.finishedCount()) + " done)");

  std::unique_ptr<Session> session;
  for (size_t i = 0; i < plan.points.size(); ++i) {
    const SweepPoint& point = plan.points[i];
    SweepPointResult& p = results.points[i];
    if (p.status == "finished") continue;
    if (p.status == "failed") {
      log("point " + point.name + " failed before (" + p.error +
          "); delete its folder to train it again");
      continue;
    }
    if (control.stopRequested()) {
      outcome.stopped = true;
      break;
    }
    const std::string dir = folder + "/" + point.name;
    const std::string where = "point " + std::to_string(i + 1) + "/" +
                              std::to_string(plan.points.size()) + " " + point.name;
    const auto t0 = std::chrono::steady_clock::now();
    auto addTime = [&] {
      p.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    session.reset();  // free the last point's model before the next one's
    if (p.status != "trained") {
      TrainOptions train;
      train.eventInterval = options.eventInterval;
      if (p.status == "stopped") {
        train.resumeDir = dir;
        log(where + ": resuming at step " + std::to_string(p.step));
      } else {
        // A start that never saved a checkpoint (killed while loading): start it over.
        fs::remove_all(dir, ec);
        train.runDir = dir;
        log(where + ": training (" +
            [&] {
              std::string s;
              for (const auto& [k, v] : point.settings)
                s += (s.empty() ? "" : ", ") + k + "=" + settingText(v);
              return s;
            }() +
            ")");
      }
      p.status = "running";
      p.error.clear();
      publish();
      PointEvents events(options.events);
      Trainer trainer(point.experiment, train, &events, &control);
      if (options.onTrainer) options.onTrainer(&trainer);
      try {
        trainer.run();
      } catch (const std::exception& e) {
        if (options.onTrainer) options.onTrainer(nullptr);
        addTime();
        p.status = "failed";
        p.error = errorMessage(e);
        if (fs::exists(dir + "/state.json"))
          p.step = intField(RunDirectory::open(dir).state(), "step", 0);
        log(where + " failed: " + p.error);
        publish();
        continue;
      }
      if (options.onTrainer) options.onTrainer(nullptr);
      if (events.totalSteps > 0) p.totalSteps = events.totalSteps;
      const json state = RunDirectory::open(dir).state();
      p.step = intField(state, "step", 0);
      session = trainer.takeSession();
      if (!state.value("finished", false)) {
        addTime();
        p.status = "stopped";
        publish();
        log(where + ": stopped at step " + std::to_string(p.step) +
            "; run the sweep again to continue");
        outcome.stopped = true;
        break;
      }
    }
    // Evaluate the probes the point lacks, on its final model.
    try {
      if (!session) session = std::make_unique<Session>(loadRunSession(dir));
      for (const std::string& probe : probes) {
        if (p.results.count(probe + "_top1")) continue;
        EvalRequest request;
        request.protocol = probe;
        request.knn.k(plan.evaluation.k).temperature(plan.evaluation.temperature);
        request.trainLimit = plan.evaluation.trainLimit;
        request.testLimit = plan.evaluation.testLimit;
        log(where + ": " + (probe == "knn" ? std::string("kNN") : std::string("linear probe")) +
            "...");
        EvalRecord record = evaluateSession(*session, request, [&](const std::string&, double) {
          if (control.stopRequested()) throw SweepStopRequested{};
        });
        record.run = dir;
        record.step = p.step;
        appendEvalRecord(dir, record);
        p.results[probe + "_top1"] = record.top1;
      }
    } catch (const SweepStopRequested&) {
      addTime();
      p.status = "trained";
      publish();
      log(where + ": stopped before its evaluation; run the sweep again to evaluate it");
      outcome.stopped = true;
      break;
    } catch (const std::exception& e) {
      addTime();
      p.status = "failed";
      p.error = "evaluation: " + errorMessage(e);
      log(where + " failed: " + p.error);
      publish();
      continue;
    }
    addTime();
    p.status = "finished";
    publish();
    std::string line = where + " done:";
    for (const auto& [k, v] : p.results) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " %s %.2f%%", k.c_str(), v);
      line += buf;
    }
    log(line);
  }
  outcome.lastSession = std::move(session);
  return outcome;
}

}  // namespace pretext
