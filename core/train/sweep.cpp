#include "core/train/sweep.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "core/eval/evaluate.h"
#include "core/eval/results.h"
#include "core/train/control.h"
#include "core/train/events.h"
#include "core/train/run_dir.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "core/util/json_fields.h"
#include "core/util/seed.h"

namespace pretext {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

const char* kPlanFile = "sweep.json";

json plainJson(const ojson& j) { return json::parse(j.dump()); }

std::string joinedKeys(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

void refuseUnknownKeys(const ojson& j, const std::string& where,
                       const std::vector<std::string>& known) {
  for (auto it = j.begin(); it != j.end(); ++it)
    if (std::find(known.begin(), known.end(), it.key()) == known.end())
      throw Error((where.empty() ? "" : where + ".") + it.key() +
                  ": unknown key; known keys: " + joinedKeys(known));
}

int64_t sweepInteger(const ojson& j, const std::string& where, int64_t min) {
  int64_t v = 0;
  if (!jsonToInt64(plainJson(j), &v) || v < min)
    throw Error(where + " = " + j.dump() + ": expected a whole number >= " + std::to_string(min));
  return v;
}

// A setting's value as a point's name shows it: 0.001, 128, true, cosine.
std::string valueText(const json& v, bool roundForName) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, roundForName ? "%.3g" : "%g", v.get<double>());
    return buf;
  }
  return v.dump();
}

std::string folderSafe(const std::string& s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) ||
                   std::string("._=+-").find(c) != std::string::npos
               ? c
               : '_';
  return out;
}

// The last part of each key ("lr" of optimizer.lr), or the whole key when two would clash.
std::vector<std::string> shortKeys(const std::vector<std::string>& keys) {
  std::vector<std::string> last, out;
  for (const auto& k : keys) last.push_back(k.substr(k.rfind('.') + 1));
  for (size_t i = 0; i < keys.size(); ++i)
    out.push_back(std::count(last.begin(), last.end(), last[i]) > 1 ? keys[i] : last[i]);
  return out;
}

// Draws u in [0, 1) for dimension d of random point n: each (point, dimension) its own stream,
// so a point's values do not depend on the budget.
double uniformDraw(uint64_t seed, uint64_t n, uint64_t d) {
  return double(mixSeed(mixSeed(seed, n), d) >> 11) * 0x1.0p-53;
}

double roundSignificant(double v, int digits) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return std::strtod(buf, nullptr);
}

json drawValue(const SweepDimension& d, double u) {
  if (d.distribution == "choice") {
    const size_t i = std::min(d.choices.size() - 1, size_t(u * double(d.choices.size())));
    return d.choices[i];
  }
  double v = d.distribution == "log_uniform"
                 ? std::exp(std::log(d.low) + u * (std::log(d.high) - std::log(d.low)))
                 : d.low + u * (d.high - d.low);
  if (d.integer) return std::clamp<int64_t>(std::llround(v), int64_t(d.low), int64_t(d.high));
  return roundSignificant(v, 4);
}

json applySettings(json base, const std::vector<std::pair<std::string, json>>& settings) {
  for (const auto& [key, value] : settings) applyOverride(base, key + "=" + value.dump());
  return base;
}

std::string describeSettings(const std::vector<std::pair<std::string, json>>& settings) {
  std::string s;
  for (const auto& [key, value] : settings)
    s += (s.empty() ? "" : ", ") + key + "=" + valueText(value, false);
  return s;
}

SweepEvaluation parseEvaluation(const ojson& j) {
  SweepEvaluation e;
  if (!j.is_object())
    throw Error("evaluate: expected an object such as {\"probes\": [\"knn\", \"linear\"]}");
  refuseUnknownKeys(j, "evaluate", {"probes", "train_limit", "test_limit", "k", "temperature"});
  if (j.contains("probes")) {
    const ojson& p = j["probes"];
    if (!p.is_array() || p.empty())
      throw Error("evaluate.probes: expected a list such as [\"knn\", \"linear\"]");
    e.probes.clear();
    for (const auto& v : p) {
      if (!v.is_string() || (v != "knn" && v != "linear"))
        throw Error("evaluate.probes: " + v.dump() + ": expected knn or linear");
      if (std::find(e.probes.begin(), e.probes.end(), v.get<std::string>()) != e.probes.end())
        throw Error("evaluate.probes: " + v.dump() + " is listed twice");
      e.probes.push_back(v.get<std::string>());
    }
  }
  if (j.contains("train_limit"))
    e.trainLimit = sweepInteger(j["train_limit"], "evaluate.train_limit", 0);
  if (j.contains("test_limit"))
    e.testLimit = sweepInteger(j["test_limit"], "evaluate.test_limit", 0);
  if (j.contains("k")) e.k = sweepInteger(j["k"], "evaluate.k", 1);
  if (j.contains("temperature")) {
    if (!j["temperature"].is_number() || j["temperature"].get<double>() <= 0)
      throw Error("evaluate.temperature = " + j["temperature"].dump() + ": expected a number > 0");
    e.temperature = j["temperature"].get<double>();
  }
  return e;
}

std::vector<SweepAxis> parseGrid(const ojson& grid) {
  if (!grid.is_object() || grid.empty() || grid.size() > 2)
    throw Error(
        "grid: expected one or two settings with their values, e.g. {\"optimizer.lr\": [0.001, "
        "0.003]}");
  std::vector<SweepAxis> axes;
  for (auto it = grid.begin(); it != grid.end(); ++it) {
    const std::string key = canonicalSweepKey(it.key());
    const std::string where = "grid." + it.key();
    if (!it.value().is_array() || it.value().empty())
      throw Error(where + ": expected a non-empty list of values, e.g. [0.1, 0.2, 0.5]");
    SweepAxis axis{key, {}};
    for (const auto& v : it.value()) {
      if (!v.is_primitive() || v.is_null())
        throw Error(where + ": " + v.dump() + ": expected a number, a string or true/false");
      const json value = plainJson(v);
      if (std::find(axis.values.begin(), axis.values.end(), value) != axis.values.end())
        throw Error(where + ": the value " + v.dump() + " is listed twice");
      axis.values.push_back(value);
    }
    for (const auto& other : axes)
      if (other.key == key) throw Error(where + ": the same setting as grid." + other.key);
    axes.push_back(std::move(axis));
  }
  return axes;
}

void parseRandom(const ojson& r, SweepPlan& plan) {
  if (!r.is_object())
    throw Error(
        "random: expected {\"budget\": N, \"seed\": S, \"space\": {\"optimizer.lr\": "
        "{\"log_uniform\": [1e-4, 1e-2]}}}");
  refuseUnknownKeys(r, "random", {"budget", "seed", "space"});
  if (!r.contains("budget")) throw Error("random.budget: missing; how many points to draw, e.g. 8");
  plan.budget = sweepInteger(r["budget"], "random.budget", 1);
  if (plan.budget > 10000)
    throw Error("random.budget = " + std::to_string(plan.budget) +
                ": expected at most 10000 points");
  if (r.contains("seed")) plan.seed = uint64_t(sweepInteger(r["seed"], "random.seed", 0));
  if (!r.contains("space") || !r["space"].is_object() || r["space"].empty())
    throw Error(
        "random.space: expected the settings to draw, e.g. {\"optimizer.lr\": {\"log_uniform\": "
        "[1e-4, 1e-2]}}");
  for (auto it = r["space"].begin(); it != r["space"].end(); ++it) {
    const std::string where = "random.space." + it.key();
    const ojson& spec = it.value();
    if (!spec.is_object() || spec.size() != 1)
      throw Error(where +
                  ": expected one of {\"log_uniform\": [a, b]}, {\"uniform\": [a, b]}, "
                  "{\"choice\": [...]}");
    SweepDimension d;
    d.key = canonicalSweepKey(it.key());
    d.distribution = spec.begin().key();
    const ojson& arg = spec.begin().value();
    if (d.distribution == "choice") {
      if (!arg.is_array() || arg.empty())
        throw Error(where + ".choice: expected a non-empty list of values");
      for (const auto& v : arg) {
        if (!v.is_primitive() || v.is_null())
          throw Error(where + ".choice: " + v.dump() +
                      ": expected a number, a string or true/false");
        d.choices.push_back(plainJson(v));
      }
    } else if (d.distribution == "uniform" || d.distribution == "log_uniform") {
      if (!arg.is_array() || arg.size() != 2 || !arg[0].is_number() || !arg[1].is_number())
        throw Error(where + "." + d.distribution + ": expected [low, high], two numbers");
      d.low = arg[0].get<double>();
      d.high = arg[1].get<double>();
      d.integer = arg[0].is_number_integer() && arg[1].is_number_integer();
      if (!(d.low < d.high))
        throw Error(where + "." + d.distribution + " = " + arg.dump() + ": expected low < high");
      if (d.distribution == "log_uniform" && d.low <= 0)
        throw Error(where + ".log_uniform = " + arg.dump() + ": expected low > 0 (a log scale)");
    } else {
      throw Error(where + ": unknown distribution \"" + d.distribution +
                  "\"; expected log_uniform, uniform or choice");
    }
    for (const auto& other : plan.space)
      if (other.key == d.key)
        throw Error(where + ": the same setting as random.space." + other.key);
    plan.space.push_back(std::move(d));
  }
}

// Every point's experiment, validated; the error names the point and its settings.
void expandPoints(SweepPlan& plan) {
  std::vector<std::vector<std::pair<std::string, json>>> settings;
  std::vector<std::vector<int>> cells;
  if (!plan.random()) {
    const SweepAxis& a = plan.axes[0];
    const size_t inner = plan.axes.size() > 1 ? plan.axes[1].values.size() : 1;
    for (size_t i = 0; i < a.values.size(); ++i)
      for (size_t j = 0; j < inner; ++j) {
        std::vector<std::pair<std::string, json>> s{{a.key, a.values[i]}};
        std::vector<int> cell{int(i)};
        if (plan.axes.size() > 1) {
          s.emplace_back(plan.axes[1].key, plan.axes[1].values[j]);
          cell.push_back(int(j));
        }
        settings.push_back(std::move(s));
        cells.push_back(std::move(cell));
      }
  } else {
    // The ends of each range and each choice first: a range that strays out of what the
    // experiment accepts fails now, whatever the draws.
    for (const SweepDimension& d : plan.space) {
      std::vector<json> probes = d.choices;
      if (probes.empty()) {
        probes = {d.integer ? json(int64_t(d.low)) : json(d.low),
                  d.integer ? json(int64_t(d.high)) : json(d.high)};
      }
      for (const json& v : probes) {
        try {
          experimentFromJson(applySettings(plan.experiment, {{d.key, v}}));
        } catch (const Error& e) {
          throw Error("random.space." + d.key + ": the value " + v.dump() +
                      " is refused: " + e.what());
        }
      }
    }
    for (int64_t n = 0; n < plan.budget; ++n) {
      std::vector<std::pair<std::string, json>> s;
      for (size_t d = 0; d < plan.space.size(); ++d)
        s.emplace_back(plan.space[d].key,
                       drawValue(plan.space[d], uniformDraw(plan.seed, uint64_t(n), d)));
      settings.push_back(std::move(s));
      cells.push_back({});
    }
  }
  const std::vector<std::string> shorts = shortKeys(plan.keys());
  const int width = int(std::to_string(std::max<size_t>(1, settings.size()) - 1).size());
  for (size_t i = 0; i < settings.size(); ++i) {
    SweepPoint p;
    p.index = int(i);
    char index[16];
    std::snprintf(index, sizeof index, "%0*d", width, int(i));
    p.name = index;
    for (size_t k = 0; k < settings[i].size(); ++k)
      p.name += "_" + shorts[k] + "=" + valueText(settings[i][k].second, plan.random());
    p.name = folderSafe(p.name);
    p.settings = settings[i];
    p.cell = cells[i];
    try {
      p.experiment = experimentFromJson(applySettings(plan.experiment, p.settings));
    } catch (const Error& e) {
      throw Error("point " + std::to_string(i) + " (" + describeSettings(p.settings) +
                  "): " + e.what());
    }
    plan.points.push_back(std::move(p));
  }
}

}  // namespace

std::vector<std::string> SweepPlan::keys() const {
  std::vector<std::string> k;
  for (const auto& a : axes) k.push_back(a.key);
  for (const auto& d : space) k.push_back(d.key);
  return k;
}

std::string canonicalSweepKey(const std::string& key) {
  const std::string prefix = "method.";
  if (key.rfind(prefix, 0) != 0) return key;
  const std::string rest = key.substr(prefix.size());
  if (rest == "name" || rest.rfind("params", 0) == 0) return key;
  return "method.params." + rest;
}

SweepPlan parseSweep(const ojson& spec, const std::vector<std::string>& sets,
                     const std::string& defaultName) {
  if (!spec.is_object())
    throw Error(
        "a sweep: expected a JSON object with \"experiment\" or \"preset\", and \"grid\" or "
        "\"random\"");
  // "points" is what sweepPlanToJson writes for readers; it is recomputed from the rest.
  refuseUnknownKeys(
      spec, "", {"name", "experiment", "preset", "grid", "random", "probe", "evaluate", "points"});
  SweepPlan plan;
  plan.name = defaultName;
  if (spec.contains("name")) {
    if (!spec["name"].is_string()) throw Error("name: expected a string");
    plan.name = spec["name"].get<std::string>();
  }
  if (plan.name.empty() || folderSafe(plan.name) != plan.name || plan.name[0] == '.')
    throw Error(
        "name = \"" + plan.name +
        "\": expected letters, digits, '.', '_', '=', '+' or '-' (it names the sweep's folder)");

  json base = json::object();
  std::string preset;
  if (spec.contains("preset")) {
    if (!spec["preset"].is_string())
      throw Error("preset: expected a preset's name, e.g. \"simclr-fashion\"");
    preset = spec["preset"].get<std::string>();
  }
  json patch = json::object();
  if (spec.contains("experiment")) {
    if (!spec["experiment"].is_object())
      throw Error(
          "experiment: expected an experiment object (as pretext-cli train reads), or {\"preset\": "
          "NAME}");
    patch = plainJson(spec["experiment"]);
    if (patch.contains("preset")) {
      if (!preset.empty()) throw Error("experiment.preset: the preset is given twice");
      if (!patch["preset"].is_string()) throw Error("experiment.preset: expected a preset's name");
      preset = patch["preset"].get<std::string>();
      patch.erase("preset");
    }
  } else if (preset.empty()) {
    throw Error(
        "the sweep has no experiment: give \"experiment\": {...} or \"preset\": "
        "\"simclr-fashion\"");
  }
  if (!preset.empty()) base = loadPresetJson(preset);
  base.merge_patch(patch);
  for (const auto& s : sets) applyOverride(base, s);
  try {
    experimentFromJson(base);
  } catch (const Error& e) {
    throw Error(std::string("experiment: ") + e.what());
  }
  plan.experiment = base;

  const bool grid = spec.contains("grid"), random = spec.contains("random");
  if (grid == random)
    throw Error(grid ? "give either \"grid\" or \"random\", not both"
                     : "the sweep has no settings to vary: give \"grid\": {\"optimizer.lr\": "
                       "[0.001, 0.003]} "
                       "or \"random\": {\"budget\": 8, \"space\": {...}}");
  if (grid)
    plan.axes = parseGrid(spec["grid"]);
  else
    parseRandom(spec["random"], plan);
  if (spec.contains("evaluate")) plan.evaluation = parseEvaluation(spec["evaluate"]);
  plan.probe = plan.evaluation.probes.front();
  if (spec.contains("probe")) {
    const ojson& p = spec["probe"];
    if (!p.is_string() || std::find(plan.evaluation.probes.begin(), plan.evaluation.probes.end(),
                                    p.get<std::string>()) == plan.evaluation.probes.end())
      throw Error("probe = " + p.dump() +
                  ": expected one of the evaluated probes: " + joinedKeys(plan.evaluation.probes));
    plan.probe = p.get<std::string>();
  }
  expandPoints(plan);
  return plan;
}

SweepPlan loadSweep(const std::string& path, const std::vector<std::string>& sets) {
  std::string file = path;
  const bool folder = fs::is_directory(path);
  if (folder) {
    file = (fs::path(path) / kPlanFile).string();
    if (!fs::exists(file)) throw Error(path + ": not a sweep folder (it has no " + kPlanFile + ")");
    if (!sets.empty())
      throw Error(
          "--set changes the plan; a sweep folder continues its plan as it is (edit a sweep file "
          "instead)");
  }
  std::ifstream in(file);
  if (!in) throw Error(file + ": cannot open the sweep file (does it exist?)");
  ojson spec;
  try {
    spec = ojson::parse(in);
  } catch (const ojson::parse_error& e) {
    throw Error(file + ": not valid JSON at byte " + std::to_string(e.byte));
  } catch (const ojson::exception& e) {  // a number beyond a double (found by fuzz/sweep_fuzz.cpp)
    throw Error(file + ": cannot be read (" + std::string(e.what()) + ")");
  }
  try {
    return parseSweep(spec, sets, fs::path(file).stem().string());
  } catch (const Error& e) {
    throw Error(file + ": " + e.what());
  } catch (const ojson::exception& e) {  // a value of a type no check expected: still the file's fault
    throw Error(file + ": " + std::string(e.what()));
  }
}

ojson sweepPlanToJson(const SweepPlan& plan) {
  ojson j;
  j["name"] = plan.name;
  j["experiment"] = ojson::parse(plan.experiment.dump());
  if (plan.random()) {
    ojson space = ojson::object();
    for (const auto& d : plan.space) {
      ojson arg;
      if (d.distribution == "choice") {
        arg = ojson::parse(json(d.choices).dump());
      } else if (d.integer) {
        arg = {int64_t(d.low), int64_t(d.high)};
      } else {
        arg = {d.low, d.high};
      }
      space[d.key] = {{d.distribution, arg}};
    }
    j["random"] = {{"budget", plan.budget}, {"seed", plan.seed}, {"space", space}};
  } else {
    ojson grid = ojson::object();
    for (const auto& a : plan.axes) grid[a.key] = ojson::parse(json(a.values).dump());
    j["grid"] = grid;
  }
  j["probe"] = plan.probe;
  j["evaluate"] = {{"probes", plan.evaluation.probes},
                   {"train_limit", plan.evaluation.trainLimit},
                   {"test_limit", plan.evaluation.testLimit},
                   {"k", plan.evaluation.k},
                   {"temperature", plan.evaluation.temperature}};
  ojson points = ojson::array();
  for (const auto& p : plan.points) {
    ojson settings = ojson::object();
    for (const auto& [k, v] : p.settings) settings[k] = ojson::parse(v.dump());
    points.push_back(
        {{"index", p.index}, {"name", p.name}, {"settings", settings}, {"cell", p.cell}});
  }
  j["points"] = points;
  return j;
}

std::string defaultSweepFolder(const SweepPlan& plan, const std::string& runsFolder) {
  return (fs::path(runsFolder) / "sweeps" / plan.name).string();
}

}  // namespace pretext
