#include "core/train/lesson.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/config/experiment.h"
#include "core/train/examples.h"
#include "core/train/sweep.h"
#include "core/util/error.h"
#include "core/util/json_fields.h"

namespace pretext {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

class LessonReader {
 public:
  LessonReader(const json& j, const std::string& name) : j_(j), name_(name) {
    if (!j.is_object()) fail("", "must be a JSON object");
    static const std::vector<std::string> kFields = {
        "title",   "order",    "claim",       "source", "explanation", "look_at",
        "panel",   "minutes",  "preset",      "set",    "sweep",       "example",
        "evaluate", "label_curve", "figure",  "result", "name"};
    for (const auto& [key, value] : j.items())
      if (std::find(kFields.begin(), kFields.end(), key) == kFields.end()) {
        std::string fields;
        for (const auto& f : kFields) fields += (fields.empty() ? "" : ", ") + f;
        fail(key, "is not a lesson field (fields: " + fields + ")");
      }
  }
  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw Error("lesson \"" + name_ + "\"" + (field.empty() ? "" : ": \"" + field + "\"") + " " + why);
  }
  std::string text(const char* key, bool required) const {
    const auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (required) fail(key, "is missing");
      return {};
    }
    if (!it->is_string()) fail(key, "must be a string");
    const std::string s = it->get<std::string>();
    if (required && s.empty()) fail(key, "is empty");
    return s;
  }
  double number(const char* key, double fallback, double lo, double hi) const {
    const auto it = j_.find(key);
    if (it == j_.end()) return fallback;
    if (!it->is_number()) fail(key, "must be a number");
    const double v = it->get<double>();
    if (!(v >= lo && v <= hi))
      fail(key, "must lie in [" + json(lo).dump() + ", " + json(hi).dump() + "] (got " + it->dump() + ")");
    return v;
  }

 private:
  const json& j_;
  std::string name_;
};

// "label_curve": {"labels_per_class": [10, 50, 100, 500], "steps": 300, "freeze": 2}
LabelCurveOptions labelCurveField(const json& j, const LessonReader& r) {
  if (!j.is_object()) r.fail("label_curve", "must be an object: {\"labels_per_class\": [10, 50, 100, 500]}");
  LabelCurveOptions o;
  for (const auto& [key, value] : j.items())
    if (key != "labels_per_class" && key != "steps" && key != "freeze")
      r.fail("label_curve", "has no field \"" + key + "\" (fields: labels_per_class, steps, freeze)");
  if (!j.contains("labels_per_class") || !j["labels_per_class"].is_array())
    r.fail("label_curve", "needs \"labels_per_class\": a list of rising counts, e.g. [10, 50, 100, 500]");
  o.labelsPerClass.clear();
  for (const auto& v : j["labels_per_class"]) {
    int64_t n = 0;
    if (!jsonToInt64(v, &n)) r.fail("label_curve", "\"labels_per_class\" holds " + v.dump() + ", not a whole number");
    o.labelsPerClass.push_back(n);
  }
  auto whole = [&](const char* key, int64_t& field) {
    if (j.contains(key) && !jsonToInt64(j[key], &field))
      r.fail("label_curve", std::string("\"") + key + "\" must be a whole number");
  };
  whole("steps", o.steps);
  whole("freeze", o.freezeStages);
  try {
    validateLabelCurve(o);
  } catch (const Error& e) {
    r.fail("label_curve", e.what());
  }
  return o;
}

}  // namespace

std::string lessonDirectory() { return resourceDirectory("lessons"); }
std::string sweepDirectory() { return resourceDirectory("sweeps"); }

Lesson parseLesson(const json& j, const std::string& name) {
  LessonReader r(j, name);
  Lesson l;
  l.name = name;
  l.title = r.text("title", true);
  int64_t order = 1000;
  if (j.contains("order") && !jsonToInt64(j["order"], &order)) r.fail("order", "must be a whole number");
  l.order = static_cast<int>(std::clamp<int64_t>(order, -1000000, 1000000));
  l.claim = r.text("claim", true);
  l.source = r.text("source", false);
  l.explanation = r.text("explanation", true);
  l.lookAt = r.text("look_at", true);
  l.panel = r.text("panel", true);
  l.minutes = r.number("minutes", 0, 0, 600);
  l.preset = r.text("preset", false);
  l.sweep = r.text("sweep", false);
  l.figure = r.text("figure", false);
  l.result = r.text("result", false);
  if (j.contains("evaluate")) {
    if (!j["evaluate"].is_boolean()) r.fail("evaluate", "must be true or false");
    l.evaluate = j["evaluate"].get<bool>();
  }
  if (j.contains("set")) {
    if (!j["set"].is_array()) r.fail("set", "must be a list of \"key.path=value\" strings");
    for (const auto& s : j["set"]) {
      if (!s.is_string()) r.fail("set", "must be a list of \"key.path=value\" strings");
      l.sets.push_back(s.get<std::string>());
    }
  }
  l.example = r.text("example", false);
  if (j.contains("label_curve")) {
    l.labelCurveOptions = labelCurveField(j["label_curve"], r);
    l.labelCurve = true;
  }
  if (int(!l.preset.empty()) + int(!l.sweep.empty()) + int(!l.example.empty()) != 1)
    r.fail("", "needs exactly one of \"preset\" (one run), \"sweep\" (several runs) and \"example\" "
               "(a ready-trained run)");
  if (l.isExample()) {
    if (!l.sets.empty()) r.fail("set", "applies to a preset; an example is not trained again");
    if (!isPlainResourceName(l.example))
      r.fail("example", "must be an example's name in " + examplesDirectory() + ", not a path");
    try {
      experimentFromJson(lessonExperimentJson(l));
    } catch (const Error& e) {
      r.fail("example", std::string("does not give a valid experiment: ") + e.what());
    }
  } else if (l.isSweep()) {
    if (!l.sets.empty()) r.fail("set", "applies to a preset; a sweep lesson's file holds its settings");
    if (l.evaluate) r.fail("evaluate", "applies to one run; a sweep evaluates every point itself");
    if (l.labelCurve) r.fail("label_curve", "applies to one run (a preset or an example), not a sweep");
    if (!isPlainResourceName(l.sweep)) r.fail("sweep", "must be a sweep's name in " + sweepDirectory() + ", not a path");
    if (!fs::is_regular_file(lessonSweepPath(l)))
      r.fail("sweep", "names no file: " + lessonSweepPath(l) + " does not exist");
    try {
      loadSweep(lessonSweepPath(l));  // every point validates
    } catch (const Error& e) {
      r.fail("sweep", std::string("does not validate: ") + e.what());
    }
  } else {
    try {
      experimentFromJson(lessonExperimentJson(l));
    } catch (const Error& e) {
      r.fail(l.sets.empty() ? "preset" : "set", std::string("does not give a valid experiment: ") + e.what());
    }
  }
  return l;
}

Lesson loadLesson(const std::string& name) {
  const std::string path = lessonDirectory() + "/" + name + ".json";
  std::error_code ec;
  if (!isPlainResourceName(name) || !fs::is_regular_file(path, ec)) {
    std::string known;
    for (const auto& n : lessonNames()) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown lesson \"" + name + "\"; lessons: " +
                (known.empty() ? "(none found in " + lessonDirectory() + ")" : known));
  }
  std::ifstream in(path);
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error("lesson file " + path + " is not valid JSON");
  return parseLesson(j, name);
}

std::vector<std::string> lessonNames() {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(lessonDirectory(), ec)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    const json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
    found.emplace_back(intField(j, "order", 1000), entry.path().stem().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> names;
  for (auto& [order, name] : found) names.push_back(std::move(name));
  return names;
}

std::vector<Lesson> allLessons() {
  std::vector<Lesson> lessons;
  for (const auto& name : lessonNames()) {
    try {
      lessons.push_back(loadLesson(name));
    } catch (const Error&) {
      // A lesson that does not load is reported when it is opened, not in a list.
    }
  }
  return lessons;
}

json lessonExperimentJson(const Lesson& lesson) {
  if (lesson.isExample()) return readExperimentJsonFile(findExampleRun(lesson.example).path + "/experiment.json");
  json j = loadPresetJson(lesson.preset);
  for (const auto& s : lesson.sets) applyOverride(j, s);
  return j;
}

std::string lessonSweepPath(const Lesson& lesson) { return sweepDirectory() + "/" + lesson.sweep + ".json"; }

}  // namespace pretext
