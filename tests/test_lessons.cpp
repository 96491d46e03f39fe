// Lessons (core/train/lesson.h): every shipped lesson loads and validates its run or sweep, a
// damaged lesson is refused naming the lesson and the field, and pretext-cli lesson runs a tiny
// one-run lesson (then probes it) and a tiny sweep lesson from a resources folder of their own.
#include "test_main.h"

#include <QProcess>
#include <QProcessEnvironment>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/train/lesson.h"
#include "core/util/error.h"
#include "test_support.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// PRETEXT_RESOURCES pointed at `dir` for the scope's lifetime (restored after).
class ResourcesOverride {
 public:
  explicit ResourcesOverride(const std::string& dir) {
    if (const char* old = std::getenv("PRETEXT_RESOURCES")) old_ = old, had_ = true;
    ::setenv("PRETEXT_RESOURCES", dir.c_str(), 1);
  }
  ~ResourcesOverride() {
    if (had_)
      ::setenv("PRETEXT_RESOURCES", old_.c_str(), 1);
    else
      ::unsetenv("PRETEXT_RESOURCES");
  }

 private:
  std::string old_;
  bool had_ = false;
};

json lessonJson() {
  return json{{"title", "A tiny lesson"},
              {"claim", "Tiny networks learn a little."},
              {"explanation", "It trains for a few steps."},
              {"look_at", "The curves."},
              {"panel", "Curves"},
              {"preset", "tiny"}};
}

}  // namespace

class TestLessons : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string resources_;

  void writeJson(const std::string& path, const json& j) {
    fs::create_directories(fs::path(path).parent_path());
    pretext::test::writeText(path, j.dump(2));
  }

 private slots:
  void initTestCase() {
    const std::string data = dir_.filePath("mnist").toStdString();
    fs::create_directories(data);
    pretext::test::writeTinyMnist(data);
    // A resources folder of its own: a tiny preset, a tiny sweep and two lessons on them.
    resources_ = dir_.filePath("resources").toStdString();
    json tiny = pretext::test::tinyExperimentJson(data, "simclr", 2);
    tiny["name"] = "tiny";
    tiny["run"]["threads"] = 1;
    tiny["run"]["tensorboard"] = false;
    tiny["eval"]["knn_every"] = 0;
    writeJson(resources_ + "/presets/tiny.json", tiny);
    writeJson(resources_ + "/sweeps/tiny-grid.json",
              json{{"preset", "tiny"},
                   {"grid", {{"method.temperature", {0.1, 0.5}}}},
                   {"probe", "knn"},
                   {"evaluate", {{"probes", {"knn"}}, {"k", 5}}}});
    json one = lessonJson();
    one["order"] = 2;
    one["evaluate"] = true;
    one["set"] = {"optimizer.lr=0.003"};
    one["result"] = "measured: a little";
    writeJson(resources_ + "/lessons/one-run.json", one);
    json sweep = lessonJson();
    sweep.erase("preset");
    sweep["sweep"] = "tiny-grid";
    sweep["order"] = 1;
    sweep["panel"] = "Sweep";
    writeJson(resources_ + "/lessons/a-sweep.json", sweep);
  }

  void everyShippedLessonLoadsAndValidates() {
    const auto names = pretext::lessonNames();
    QVERIFY2(names.size() >= 7, "resources/lessons should hold the lectures' figures");
    int previousOrder = -1000000;
    for (const auto& name : names) {
      pretext::Lesson l;
      try {
        l = pretext::loadLesson(name);  // its preset or every point of its sweep validates
      } catch (const pretext::Error& e) {
        QFAIL(e.what());
      }
      QVERIFY2(l.order >= previousOrder, name.c_str());  // the course's order
      previousOrder = l.order;
      QVERIFY2(!l.claim.empty() && !l.explanation.empty() && !l.lookAt.empty(), name.c_str());
      QVERIFY2(l.minutes > 0 && l.minutes <= 20, name.c_str());  // fits a class
      // The figure a lesson names is in the source tree (docs/lessons/), with what it measured.
      if (!l.figure.empty()) {
        QVERIFY2(fs::is_regular_file(fs::path(PRETEXT_SOURCE_DIR) / l.figure), l.figure.c_str());
        QVERIFY2(!l.result.empty(), name.c_str());
      }
    }
  }

  void aDamagedLessonIsRefusedNamingTheField() {
    ResourcesOverride override(resources_);
    auto refused = [](json j, const char* expected) {
      try {
        pretext::parseLesson(j, "bad");
      } catch (const pretext::Error& e) {
        const std::string what = e.what();
        QVERIFY2(what.find("lesson \"bad\"") != std::string::npos &&
                     what.find(expected) != std::string::npos,
                 what.c_str());
        return;
      }
      QFAIL(("accepted: " + j.dump()).c_str());
    };
    pretext::parseLesson(lessonJson(), "good");  // the base is valid
    json j = lessonJson();
    j.erase("title");
    refused(j, "\"title\" is missing");
    j = lessonJson();
    j["sweep"] = "tiny-grid";
    refused(j, "exactly one of \"preset\"");
    j = lessonJson();
    j.erase("preset");
    refused(j, "exactly one of \"preset\"");
    j = lessonJson();
    j["titel"] = "typo";
    refused(j, "\"titel\" is not a lesson field");
    j = lessonJson();
    j["preset"] = "no-such-preset";
    refused(j, "unknown preset \"no-such-preset\"");
    j = lessonJson();
    j["set"] = {"optimizer.lr=-1"};
    refused(j, "\"set\" does not give a valid experiment");
    j = lessonJson();
    j["set"] = "optimizer.lr=1";
    refused(j, "\"set\" must be a list");
    j = lessonJson();
    j["minutes"] = -3;
    refused(j, "\"minutes\" must lie in [0");
    j = lessonJson();
    j["order"] = 1.5;
    refused(j, "\"order\" must be a whole number");
    j = lessonJson();
    j.erase("preset");
    j["sweep"] = "../presets/tiny";
    refused(j, "not a path");
    j["sweep"] = "missing";
    refused(j, "names no file");
    j["sweep"] = "tiny-grid";
    j["evaluate"] = true;
    refused(j, "a sweep evaluates every point itself");
    j.erase("evaluate");
    j["label_curve"] = {{"labels_per_class", {10, 50}}};
    refused(j, "\"label_curve\" applies to one run");
    // The label curve's field.
    j = lessonJson();
    j["label_curve"] = {{"labels_per_class", {10, 50}}, {"steps", 20}, {"freeze", 1}};
    const pretext::Lesson curve = pretext::parseLesson(j, "good");
    QVERIFY(curve.labelCurve);
    QCOMPARE(curve.labelCurveOptions.labelsPerClass, (std::vector<int64_t>{10, 50}));
    QCOMPARE(curve.labelCurveOptions.steps, int64_t(20));
    QCOMPARE(curve.labelCurveOptions.freezeStages, int64_t(1));
    j["label_curve"] = {{"labels_per_class", {50, 10}}};
    refused(j, "comes after 50");
    j["label_curve"] = {{"labels_per_class", {10}}, {"step", 3}};
    refused(j, "has no field \"step\"");
    j["label_curve"] = {{"steps", 3}};
    refused(j, "needs \"labels_per_class\"");
    j["label_curve"] = {{"labels_per_class", {10}}, {"steps", 0}};
    refused(j, "steps = 0");
    j["label_curve"] = {10, 50};
    refused(j, "\"label_curve\" must be an object");
    // A lesson that starts from a ready-trained example.
    j = lessonJson();
    j.erase("preset");
    j["example"] = "no-such-example";
    refused(j, "no example named \"no-such-example\"");
    j["example"] = "../examples/x";
    refused(j, "not a path");
    j["example"] = "x";
    j["preset"] = "tiny";
    refused(j, "exactly one of \"preset\"");
    refused(json::array(), "must be a JSON object");
    QVERIFY_THROWS_EXCEPTION(pretext::Error, pretext::loadLesson("../lessons/one-run"));
    try {
      pretext::loadLesson("nope");
      QFAIL("an unknown lesson loaded");
    } catch (const pretext::Error& e) {
      QVERIFY2(std::string(e.what()).find("lessons: a-sweep, one-run") != std::string::npos, e.what());
    }
  }

  void theCliRunsAOneRunLessonAndProbesIt() {
    QProcess p;
    auto env = QProcessEnvironment::systemEnvironment();
    env.insert("PRETEXT_RESOURCES", QString::fromStdString(resources_));
    p.setProcessEnvironment(env);
    p.setWorkingDirectory(dir_.path());
    p.start(PRETEXT_CLI, {"lessons"});
    QVERIFY(p.waitForFinished(60000));
    const QString list = QString::fromUtf8(p.readAllStandardOutput());
    QVERIFY2(list.indexOf("a-sweep") >= 0 && list.indexOf("a-sweep") < list.indexOf("one-run"),
             qPrintable(list));  // by "order"

    const QString out = dir_.filePath("lesson-runs");
    p.start(PRETEXT_CLI, {"lesson", "one-run", "--out", out, "--quiet"});
    QVERIFY(p.waitForFinished(300000));
    QString text = QString::fromUtf8(p.readAllStandardOutput());
    QVERIFY2(p.exitCode() == 0, qPrintable(text + p.readAllStandardError()));
    QVERIFY2(text.contains("the lecture's claim:") && text.contains("Tiny networks learn a little.") &&
                 text.contains("--set optimizer.lr=0.003, then probes it"),
             qPrintable(text));
    QVERIFY2(text.contains("linear probe: top-1") && text.contains("look at (the window's Curves panel") &&
                 text.contains("measured: a little"),
             qPrintable(text));
    // One run folder, trained with the lesson's override, and its probes saved.
    std::vector<fs::path> runs;
    for (const auto& e : fs::directory_iterator(out.toStdString())) runs.push_back(e.path());
    QCOMPARE(int(runs.size()), 1);
    std::ifstream experiment(runs[0] / "experiment.json");
    QCOMPARE(json::parse(experiment)["optimizer"]["lr"].get<double>(), 0.003);
    QVERIFY(fs::is_regular_file(runs[0] / "eval.json"));

    p.start(PRETEXT_CLI, {"lesson", "a-sweep", "--out", dir_.filePath("sweep-lesson"), "--quiet"});
    QVERIFY(p.waitForFinished(300000));
    text = QString::fromUtf8(p.readAllStandardOutput());
    QVERIFY2(p.exitCode() == 0 && text.contains("2 of 2 points done"),
             qPrintable(text + p.readAllStandardError()));
    QVERIFY(fs::is_regular_file(dir_.filePath("sweep-lesson/sweep_results.json").toStdString()));

    p.start(PRETEXT_CLI, {"lesson", "nope"});
    QVERIFY(p.waitForFinished(60000));
    QCOMPARE(p.exitCode(), 1);
    const QString err = QString::fromUtf8(p.readAllStandardError());
    QVERIFY2(err.contains("unknown lesson \"nope\"; lessons: a-sweep, one-run"), qPrintable(err));
  }

  // A lesson on a ready-trained example (here: the one-run lesson's run, packed as the shipped
  // examples are) trains nothing and draws its label curve: both inits at each count, saved.
  void theCliRunsALabelCurveLessonOnAnExample() {
    const fs::path runs = dir_.filePath("lesson-runs").toStdString();
    QVERIFY(fs::is_directory(runs));
    const fs::path trained = fs::directory_iterator(runs)->path();
    const std::string example = resources_ + "/examples/tiny-ex";
    QProcess p;
    p.start(PRETEXT_CLI, {"pack", QString::fromStdString(trained.string()), "--out", QString::fromStdString(example)});
    QVERIFY(p.waitForFinished(60000));
    QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
    writeJson(example + "/example.json", json{{"title", "Tiny"}, {"summary", "Small."}, {"panel", "Curves"}});
    json lesson = lessonJson();
    lesson.erase("preset");
    lesson["example"] = "tiny-ex";
    lesson["panel"] = "Evaluation";
    lesson["label_curve"] = {{"labels_per_class", {2, 4}}, {"steps", 3}, {"freeze", 1}};
    writeJson(resources_ + "/lessons/from-example.json", lesson);

    auto env = QProcessEnvironment::systemEnvironment();
    env.insert("PRETEXT_RESOURCES", QString::fromStdString(resources_));
    p.setProcessEnvironment(env);
    const QString out = dir_.filePath("curve-lesson");
    p.start(PRETEXT_CLI, {"lesson", "from-example", "--out", out, "--quiet"});
    QVERIFY(p.waitForFinished(300000));
    const QString text = QString::fromUtf8(p.readAllStandardOutput());
    QVERIFY2(p.exitCode() == 0, qPrintable(text + p.readAllStandardError()));
    QVERIFY2(text.contains("it starts from the ready-trained example tiny-ex)") &&
                 text.contains("on 2,4 labels per class (3 steps each)") &&
                 text.contains("labels/class") && text.contains("from scratch"),
             qPrintable(text));
    // The copy holds the four fine-tunings; the example itself is untouched.
    std::ifstream records((out + "/examples/tiny-ex/evaluations.jsonl").toStdString());
    std::vector<std::pair<int64_t, bool>> points;
    for (std::string line; std::getline(records, line);) {
      const json r = json::parse(line);
      QCOMPARE(r["protocol"].get<std::string>(), std::string("finetune"));
      points.emplace_back(r["labels_per_class"].get<int64_t>(), r["random_init"].get<bool>());
    }
    QCOMPARE(points, (std::vector<std::pair<int64_t, bool>>{{2, false}, {2, true}, {4, false}, {4, true}}));
    QVERIFY(!fs::exists(example + "/evaluations.jsonl"));
  }
};

PRETEXT_TEST_AREA(TestLessons, "lessons")
#include "test_lessons.moc"
