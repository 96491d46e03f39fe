#include "core/eval/results.h"

#include <algorithm>
#include <tuple>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "core/util/error.h"
#include "core/util/fault.h"
#include "core/util/json_fields.h"

namespace pretext {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string EvalRecord::protocolTitle() const {
  std::string t = protocol == "knn"        ? "kNN"
                  : protocol == "linear"   ? "linear probe"
                  : protocol == "finetune" ? "fine-tune"
                                           : protocol;
  return randomInit ? t + " (random init)" : t;
}

json evalRecordToJson(const EvalRecord& r) {
  json j{{"run", r.run},
              {"method", r.method},
              {"data", r.data},
              {"protocol", r.protocol},
              {"settings", r.settings},
              {"random_init", r.randomInit},
              {"step", r.step},
              {"top1", r.top1},
              {"top5", r.top5},
              {"train_images", r.trainImages},
              {"test_images", r.testImages},
              {"seconds", r.seconds},
              {"time", r.time},
              {"class_names", r.classNames},
              {"confusion", r.confusion}};
  if (r.labelsPerClass > 0) j["labels_per_class"] = r.labelsPerClass;
  return j;
}

EvalRecord evalRecordFromJson(const json& j) {
  if (!j.is_object()) throw Error("an evaluation record must be a JSON object, got " + j.dump());
  EvalRecord r;
  auto get = [&](const char* key, auto& field) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return;
    using T = std::decay_t<decltype(field)>;
    auto wrongType = [&] {
      return Error(std::string("evaluation record: field '") + key + "' has the wrong type: " + it->dump());
    };
    // Whole numbers are checked before nlohmann's unchecked float -> integer cast.
    if constexpr (std::is_same_v<T, int64_t>) {
      if (!jsonToInt64(*it, &field)) throw wrongType();
      return;
    } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
      if (!it->is_array()) throw wrongType();
      field.clear();
      for (const auto& v : *it) {
        int64_t x = 0;
        if (!jsonToInt64(v, &x)) throw wrongType();
        field.push_back(x);
      }
      return;
    }
    try {
      field = it->get<T>();
    } catch (const json::exception&) {
      throw Error(std::string("evaluation record: field '") + key +
                  "' has the wrong type: " + it->dump());
    }
  };
  get("run", r.run);
  get("method", r.method);
  get("data", r.data);
  get("protocol", r.protocol);
  get("settings", r.settings);
  get("random_init", r.randomInit);
  get("step", r.step);
  get("top1", r.top1);
  get("top5", r.top5);
  get("train_images", r.trainImages);
  get("test_images", r.testImages);
  get("labels_per_class", r.labelsPerClass);
  get("seconds", r.seconds);
  get("time", r.time);
  get("class_names", r.classNames);
  get("confusion", r.confusion);
  const size_t c = r.classNames.size();
  if (!r.confusion.empty() && r.confusion.size() != c * c) r.confusion.clear();  // unusable
  return r;
}

std::string evalResultsPath(const std::string& runDir) { return runDir + "/evaluations.jsonl"; }

void appendEvalRecord(const std::string& runDir, const EvalRecord& record) {
  if (runDir.empty() || !fs::is_directory(runDir))
    throw Error("cannot save the evaluation: the run folder '" + runDir + "' does not exist");
  const std::string path = evalResultsPath(runDir);
  // A line cut short by a kill is left as it is (readers skip it); the record starts a new one.
  bool tornEnd = false;
  {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (in && in.tellg() > 0) {
      in.seekg(-1, std::ios::end);
      tornEnd = in.get() != '\n';
    }
  }
  std::ofstream out(path, std::ios::app);
  if (!out) throw Error(path + ": cannot open for appending (is the folder writable?)");
  if (tornEnd) out << "\n";
  const std::string line = evalRecordToJson(record).dump();
  faultPoint("evaluation", [&] { out << line.substr(0, line.size() / 2) << std::flush; });
  out << line << "\n";
  out.flush();
  if (!out) throw Error(path + ": writing failed (disk full?)");
}

namespace {

json readJsonFileOrNull(const std::string& path) {
  std::ifstream in(path);
  if (!in) return json();
  try {
    return json::parse(in);
  } catch (const json::exception&) {
    return json();
  }
}

// The results of `pretext-cli eval` (one object per call, the last call kept): one record per
// protocol it ran. They carry no confusion matrix.
void readCliResults(const std::string& runDir, const std::string& file, bool randomInit,
                    std::vector<EvalRecord>& out) {
  const json j = readJsonFileOrNull(runDir + "/" + file);
  if (!j.is_object()) return;
  const json state = readJsonFileOrNull(runDir + "/state.json");
  EvalRecord base;
  base.run = runDir;
  base.method = j.value("method", std::string());
  base.randomInit = randomInit || j.value("random_init", false);
  base.data = j.value("probe_data", std::string());
  base.step = randomInit || !state.is_object() ? 0 : intField(state, "step", 0);
  base.trainImages = intField(j, "train_images", 0);
  base.testImages = intField(j, "test_images", 0);
  std::error_code ec;
  const auto mtime = fs::last_write_time(runDir + "/" + file, ec);
  if (!ec) {
    // file_clock -> system_clock by the offset between the two clocks now (C++17 has no
    // clock_cast); a second's error is harmless here.
    const auto sys = std::chrono::system_clock::now() +
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(
                         mtime - fs::file_time_type::clock::now());
    const std::time_t t = std::chrono::system_clock::to_time_t(sys);
    char buf[32];
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    base.time = buf;
  }
  if (j.contains("knn_top1")) {
    EvalRecord r = base;
    r.protocol = "knn";
    r.top1 = j.value("knn_top1", 0.0);
    r.settings = "k=" + std::to_string(intField(j, "knn_k", 200)) +
                 " T=" + json(j.value("knn_temperature", 0.1)).dump() + " (cli)";
    out.push_back(r);
  }
  if (j.contains("linear_top1")) {
    EvalRecord r = base;
    r.protocol = "linear";
    r.top1 = j.value("linear_top1", 0.0);
    r.settings = "(cli)";
    out.push_back(r);
  }
  if (j.contains("finetune_top1")) {
    EvalRecord r = base;
    r.protocol = "finetune";
    r.top1 = j.value("finetune_top1", 0.0);
    r.settings = json(j.value("finetune_fraction", 0.0) * 100).dump() + "% labels, " +
                 std::to_string(intField(j, "finetune_frozen_stages", 0)) + " frozen (cli)";
    out.push_back(r);
  }
}

}  // namespace

std::vector<EvalRecord> readEvalRecords(const std::string& runDir) {
  std::vector<EvalRecord> records;
  std::ifstream in(evalResultsPath(runDir));
  std::string line;
  while (in && std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      EvalRecord r = evalRecordFromJson(json::parse(line));
      r.run = runDir;
      records.push_back(std::move(r));
    } catch (const std::exception&) {
      // A line cut short (crash while appending) or edited by hand: skip it, keep the rest.
    }
  }
  // eval.json, eval-random-init.json, and eval[-random-init]-on-DATA.json of transfer probes.
  std::vector<std::string> cliFiles;
  std::error_code ec;
  for (fs::directory_iterator it(runDir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("eval", 0) == 0 && it->path().extension() == ".json")
      cliFiles.push_back(name);
  }
  // The run's own eval.json first, then transfer probes, then the untrained baselines.
  auto order = [](const std::string& name) {
    return std::make_tuple(name != "eval.json", name.rfind("eval-random-init", 0) == 0, name);
  };
  std::sort(cliFiles.begin(), cliFiles.end(),
            [&](const std::string& a, const std::string& b) { return order(a) < order(b); });
  for (const auto& name : cliFiles) {
    // A file whose fields have the wrong types (edited by hand) is skipped whole, as a damaged
    // line of evaluations.jsonl is (found by fuzz/run_files_fuzz.cpp: the type error escaped).
    std::vector<EvalRecord> fromFile;
    try {
      readCliResults(runDir, name, name.rfind("eval-random-init", 0) == 0, fromFile);
    } catch (const json::exception&) {
      continue;
    }
    records.insert(records.end(), fromFile.begin(), fromFile.end());
  }
  return records;
}

std::vector<EvalRecord> scanEvalRecords(const std::string& runsFolder) {
  std::vector<std::string> dirs;
  std::error_code ec;
  for (fs::directory_iterator it(runsFolder, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) dirs.push_back(it->path().string());
  std::sort(dirs.begin(), dirs.end());
  std::vector<EvalRecord> all;
  for (const auto& d : dirs) {
    auto records = readEvalRecords(d);
    std::stable_sort(records.begin(), records.end(),
                     [](const EvalRecord& a, const EvalRecord& b) { return a.time < b.time; });
    all.insert(all.end(), records.begin(), records.end());
  }
  return all;
}

std::string utcTimestamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace pretext
