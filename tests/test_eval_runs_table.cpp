// Tests for core/eval/runs_table: flattening settings, the settings that differ between runs,
// results gathered from evaluations.jsonl / eval.json / the online kNN rows, folders one level
// down (a sweep's points), damaged folders named, and the CSV.
#include "test_main.h"

#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>
#include <fstream>

#include "core/eval/results.h"
#include "core/eval/runs_table.h"
#include "core/util/error.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A run folder by hand: experiment.json, state.json, a few metrics rows, optional eval records.
void writeRunsTableRun(const std::string& dir, double temperature, int64_t seed, int64_t step, bool finished) {
  fs::create_directories(dir);
  pretext::test::writeText(dir + "/experiment.json",
                           json{{"name", "r"},
                                {"description", "differs but is not a setting " + std::to_string(seed)},
                                {"method", {{"name", "simclr"}, {"params", {{"temperature", temperature}}}}},
                                {"augment", {{"pipeline", json::array({"crop", "flip"})}}},
                                {"run", {{"seed", seed}}}}
                               .dump());
  pretext::test::writeText(dir + "/state.json", json{{"step", step}, {"finished", finished}}.dump());
  std::ofstream m(dir + "/metrics.jsonl");
  m << "{\"type\":\"step\",\"step\":1,\"loss\":5.0}" << "\n"
    << "{\"type\":\"eval\",\"kind\":\"knn\",\"step\":10,\"top1\":41.5,\"epoch\":0}" << "\n"
    << "{\"type\":\"step\",\"step\":11,\"loss\":4.0}" << "\n"
    << "{\"type\":\"eval\",\"kind\":\"knn\",\"step\":20,\"top1\":" << 50 + temperature << ",\"epoch\":1}" << "\n"
    << "{\"type\":\"eval\",\"kind\":\"kn";  // a row cut short by a crash
}

}  // namespace

class TestEvalRunsTable : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;

 private slots:
  void flattensNestedObjectsAndKeepsArraysWhole() {
    const auto flat = pretext::flattenSettings(
        json{{"a", {{"b", 1}, {"c", {{"d", "x"}}}}}, {"e", json::array({1, 2})}, {"description", "no"}});
    QCOMPARE(flat.size(), size_t(3));
    QCOMPARE(flat.at("a.b").get<int>(), 1);
    QCOMPARE(flat.at("a.c.d").get<std::string>(), std::string("x"));
    QCOMPARE(flat.at("e").dump(), std::string("[1,2]"));
  }

  void tableOfRunsWithTheirDifferencesAndResults() {
    const std::string root = tmp_.filePath("runs").toStdString();
    writeRunsTableRun(root + "/a", 0.1, 1, 20, true);
    writeRunsTableRun(root + "/b", 0.5, 1, 15, false);
    writeRunsTableRun(root + "/sweep-1/point-0", 0.2, 1, 20, true);  // one level down
    fs::create_directories(root + "/not-a-run/deeper/still-not");
    // Results: two kNN records of a (the later wins), a linear probe and a baseline.
    pretext::EvalRecord r;
    r.protocol = "knn";
    r.top1 = 70;
    pretext::appendEvalRecord(root + "/a", r);
    r.top1 = 72.5;
    pretext::appendEvalRecord(root + "/a", r);
    r.protocol = "linear";
    r.top1 = 80;
    pretext::appendEvalRecord(root + "/a", r);
    r.protocol = "knn";
    r.randomInit = true;
    r.top1 = 60;
    pretext::appendEvalRecord(root + "/b", r);
    // A damaged run: its row says what is wrong, the others are unaffected.
    fs::create_directories(root + "/broken");
    pretext::test::writeText(root + "/broken/experiment.json", "{ not json");

    const pretext::RunsTable t = pretext::scanRunsTable(root);
    QCOMPARE(t.rows.size(), size_t(4));
    QCOMPARE(t.rows[0].name, std::string("a"));
    QCOMPARE(t.rows[1].name, std::string("b"));
    QCOMPARE(t.rows[2].name, std::string("broken"));
    QCOMPARE(t.rows[3].name, std::string("point-0"));
    QVERIFY2(t.rows[2].problem.find("experiment.json") != std::string::npos, t.rows[2].problem.c_str());
    // Only the temperature differs among the readable runs (the broken one has no settings).
    QCOMPARE(t.differingSettings, std::vector<std::string>{"method.params.temperature"});
    QCOMPARE(t.rows[0].step, int64_t(20));
    QVERIFY(t.rows[0].finished);
    QVERIFY(!t.rows[1].finished);
    QCOMPARE(t.rows[0].results.at("kNN"), 72.5);
    QCOMPARE(t.rows[0].results.at("linear probe"), 80.0);
    QCOMPARE(t.rows[0].results.at("online kNN"), 50.1);
    QCOMPARE(t.rows[1].results.at("kNN (random init)"), 60.0);
    QVERIFY(t.rows[1].results.find("kNN") == t.rows[1].results.end());
    QCOMPARE(pretext::settingText(t.rows[0], "method.params.temperature"), std::string("0.1"));
    QCOMPARE(pretext::settingText(t.rows[0], "augment.pipeline"), std::string("[\"crop\",\"flip\"]"));
    QCOMPARE(pretext::settingText(t.rows[0], "nothing.here"), std::string("-"));
    // The result columns in reading order, steps last.
    QCOMPARE(t.resultNames, (std::vector<std::string>{"kNN", "linear probe", "online kNN", "kNN (random init)", "steps"}));
    const std::string csv = pretext::runsTableCsv(t);
    QVERIFY2(csv.rfind("run,step,finished,", 0) == 0, csv.c_str());
    QVERIFY2(csv.find("a,20,true,") != std::string::npos, csv.c_str());
    QVERIFY2(csv.find("\npoint-0,20,true,0.2,,,50.2,\n") != std::string::npos, csv.c_str());  // empty cells
  }

  void onlyDifferingSettingsAreListed() {
    const std::string root = tmp_.filePath("two").toStdString();
    writeRunsTableRun(root + "/x", 0.1, 1, 5, true);
    writeRunsTableRun(root + "/y", 0.3, 2, 5, true);
    const auto t = pretext::scanRunsTable(root);
    QCOMPARE(t.differingSettings, (std::vector<std::string>{"method.params.temperature", "run.seed"}));
  }

  void aMissingFolderIsNamed() {
    PRETEXT_VERIFY_THROWS_WITH(pretext::scanRunsTable(tmp_.filePath("nowhere").toStdString()), "nowhere");
  }
};

PRETEXT_TEST_AREA(TestEvalRunsTable, "eval_runs_table")
#include "test_eval_runs_table.moc"
