#include "core/train/examples.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/config/experiment.h"
#include "core/eval/results.h"
#include "core/train/checkpoint.h"
#include "core/util/error.h"

namespace pretext {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json readExampleJson(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return json();
  return json::parse(in, nullptr, /*allow_exceptions=*/false);
}

// The probes `pretext-cli eval` left in the example (eval*.json, read as the Evaluation panel
// reads them): the first kNN and linear result of the trained model and of the random encoder.
void readExampleProbes(const fs::path& dir, ExampleRun& e) {
  for (const EvalRecord& r : readEvalRecords(dir.string())) {
    double* knn = r.randomInit ? &e.randomKnnTop1 : &e.knnTop1;
    double* linear = r.randomInit ? &e.randomLinearTop1 : &e.linearTop1;
    double* slot = r.protocol == "knn" ? knn : r.protocol == "linear" ? linear : nullptr;
    if (!slot || *slot >= 0) continue;
    *slot = r.top1;
    if (!r.randomInit && e.probeData.empty()) e.probeData = r.data;
  }
}

}  // namespace

std::string examplesDirectory() { return resourceDirectory("examples"); }

std::vector<ExampleRun> exampleRuns() {
  std::vector<ExampleRun> examples;
  std::error_code ec;
  for (fs::directory_iterator it(examplesDirectory(), ec), end; !ec && it != end;
       it.increment(ec)) {
    const fs::path dir = it->path();
    if (!fs::is_directory(dir, ec) || !isPackedRun(dir.string())) continue;
    ExampleRun e;
    e.name = dir.filename().string();
    e.path = dir.string();
    const json about = readExampleJson(dir / "example.json");
    const json experiment = readExampleJson(dir / "experiment.json");
    const json state = readExampleJson(dir / "state.json");
    if (about.is_object()) {
      e.title = about.value("title", e.name);
      e.summary = about.value("summary", std::string());
      e.panel = about.value("panel", std::string());
    }
    if (e.title.empty()) e.title = e.name;
    if (experiment.is_object()) {
      e.method = experiment.value("/method/name"_json_pointer, std::string());
      e.data = experiment.value("/data/source"_json_pointer, std::string());
    }
    if (state.is_object()) e.steps = state.value("step", int64_t(0));
    readExampleProbes(dir, e);
    examples.push_back(std::move(e));
  }
  std::sort(examples.begin(), examples.end(),
            [](const ExampleRun& a, const ExampleRun& b) { return a.name < b.name; });
  return examples;
}

ExampleRun findExampleRun(const std::string& name) {
  const auto all = exampleRuns();
  for (const auto& e : all)
    if (e.name == name) return e;
  std::string known;
  for (const auto& e : all) known += (known.empty() ? "" : ", ") + e.name;
  throw Error("no example named \"" + name + "\"; the examples: " +
              (known.empty() ? "(none in " + examplesDirectory() + ")" : known));
}

std::string copyExampleRun(const std::string& name, const std::string& runsFolder) {
  const ExampleRun example = findExampleRun(name);
  const fs::path target = fs::path(runsFolder) / "examples" / name;
  std::error_code ec;
  if (fs::exists(target / "checkpoint.pt", ec) && isPackedRun(target.string()))
    return target.string();
  fs::create_directories(target, ec);
  if (ec) throw Error(target.string() + ": cannot create the folder (" + ec.message() + ")");
  fs::copy(example.path, target, fs::copy_options::recursive | fs::copy_options::overwrite_existing,
           ec);
  if (ec) throw Error(target.string() + ": cannot copy the example there (" + ec.message() + ")");
  return target.string();
}

}  // namespace pretext
