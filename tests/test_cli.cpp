// pretext-cli end to end: help, listing, errors on stderr with a non-zero exit, and a tiny
// train -> eval --json -> resume cycle.
#include "test_main.h"
#include <QProcess>
#include <QProcessEnvironment>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "test_support.h"

namespace fs = std::filesystem;

class TestCli : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;

  struct Result {
    int code;
    QString out, err;
  };
  Result cli(const QStringList& args) {
    QProcess p;
    p.setWorkingDirectory(dir_.path());
    p.start(PRETEXT_CLI, args);
    p.waitForFinished(300000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1,
            QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
  }
  QStringList tinySettings() {
    return {"--set", "data.source=mnist:" + dir_.filePath("mnist"), "--set", "backbone.width=4",
            "--set", "schedule.batch_size=16", "--set", "schedule.epochs=2", "--set", "run.threads=2",
            "--out", dir_.filePath("runs")};
  }

 private slots:
  void initTestCase() {
    fs::create_directories(dir_.filePath("mnist").toStdString());
    pretext::test::writeTinyMnist(dir_.filePath("mnist").toStdString());
  }

  void helpEverywhere_data() {
    QTest::addColumn<QStringList>("args");
    QTest::newRow("top") << QStringList{"--help"};
    for (const char* c : {"train", "eval", "methods", "data", "presets", "pack", "examples", "features", "compare", "runs", "sample-quality"}) QTest::newRow(c) << QStringList{c, "--help"};
  }
  void helpEverywhere() {
    QFETCH(QStringList, args);
    auto r = cli(args);
    QCOMPARE(r.code, 0);
    QVERIFY(r.out.contains("Usage") || r.out.contains("usage"));
  }

  void methodsAndPresets() {
    auto r = cli({"methods", "--json"});
    QCOMPARE(r.code, 0);
    auto j = nlohmann::json::parse(r.out.toStdString());
    QVERIFY(j.size() >= 3);
    QVERIFY(j[0].contains("params"));
    r = cli({"presets"});
    QCOMPARE(r.code, 0);
    QVERIFY(r.out.contains("simclr-fashion"));
    r = cli({"data", "mnist:" + dir_.filePath("mnist")});
    QCOMPARE(r.code, 0);
    QVERIFY2(r.out.contains("96"), qPrintable(r.out));
  }

  void errorsGoToStderrWithNonZeroExit_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("message");
    QTest::newRow("preset") << QStringList{"train", "--preset", "nope"} << "unknown preset \"nope\"";
    QTest::newRow("preset name too long") << QStringList{"train", "--preset", QString(300, 'x')} << "unknown preset";
    QTest::newRow("preset path") << QStringList{"train", "--preset", "../presets/simclr-fashion"} << "unknown preset";
    QTest::newRow("set") << QStringList{"train", "--set", "optimizer.lr=-3"} << "optimizer.lr = -3";
    QTest::newRow("file") << QStringList{"train", "missing.json"} << "missing.json: cannot open";
    QTest::newRow("data") << QStringList{"data", "cifar10:/nonexistent"} << "/nonexistent";
    QTest::newRow("eval") << QStringList{"eval", "/nonexistent-run"} << "no such run folder";
    QTest::newRow("spec") << QStringList{"data", "imagenet:/x"} << "imagenet";
    QTest::newRow("sample-quality run and --real") << QStringList{"sample-quality", "r", "--real", "--classifier", "c"} << "not both";
    QTest::newRow("sample-quality coverage") << QStringList{"sample-quality", "r", "--classifier", "c", "--coverage", "0"} << "--coverage must be between 1 and --samples (10000)";
    QTest::newRow("sample-quality classifier") << QStringList{"sample-quality", "r", "--classifier", "/nonexistent-run"} << "no such run folder";
  }
  void errorsGoToStderrWithNonZeroExit() {
    QFETCH(QStringList, args);
    QFETCH(QString, message);
    auto r = cli(args);
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.startsWith("error: ") && r.err.contains(message), qPrintable(r.err));
  }

  // --steps must be a whole number above 0 (0 and -5 once trained the whole schedule).
  void stepsMustBePositive_data() {
    QTest::addColumn<QString>("steps");
    QTest::newRow("zero") << "0";
    QTest::newRow("negative") << "-5";
    QTest::newRow("fraction") << "2.5";
  }
  void stepsMustBePositive() {
    QFETCH(QString, steps);
    auto r = cli(QStringList{"train", "--preset", "rotation-fashion", "--steps", steps} + tinySettings());
    QCOMPARE(r.code, 105);  // CLI11's validation failure
    QVERIFY2(r.err.contains("a whole number of steps above 0 (got " + steps + ")"), qPrintable(r.err));
  }

  // Beside other work, OpenMP's idle workers must sleep: pretext-cli sets OMP_WAIT_POLICY=PASSIVE
  // for itself (running itself again, since libgomp reads it before main), and keeps a setting
  // the user made. The run's log names the policy in force.
  void openMpWaitPolicyIsPassiveUnlessSet_data() {
    QTest::addColumn<QString>("variable");
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("logged");
    QTest::newRow("unset") << "" << "" << "OMP_WAIT_POLICY=PASSIVE)";
    QTest::newRow("user's policy") << "OMP_WAIT_POLICY" << "ACTIVE" << "OMP_WAIT_POLICY=ACTIVE)";
    QTest::newRow("user's spin count") << "GOMP_SPINCOUNT" << "5000" << "GOMP_SPINCOUNT=5000)";
  }
  void openMpWaitPolicyIsPassiveUnlessSet() {
    QFETCH(QString, variable);
    QFETCH(QString, value);
    QFETCH(QString, logged);
    QProcess p;
    auto env = QProcessEnvironment::systemEnvironment();
    env.remove("OMP_WAIT_POLICY");
    env.remove("GOMP_SPINCOUNT");
    if (!variable.isEmpty()) env.insert(variable, value);
    p.setProcessEnvironment(env);
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(PRETEXT_CLI, QStringList{"train", "--preset", "rotation-fashion", "--steps", "1"} + tinySettings());
    p.waitForFinished(300000);
    const QString out = QString::fromUtf8(p.readAll());
    QCOMPARE(p.exitCode(), 0);
    QVERIFY2(out.contains(logged), qPrintable(out));
  }

  void trainEvalResume() {
    auto r = cli(QStringList{"train", "--preset", "rotation-fashion", "--steps", "7"} + tinySettings());
    QCOMPARE(r.code, 0);
    const QString marker = "run saved in ";
    const int at = r.out.indexOf(marker);
    QVERIFY2(at >= 0, qPrintable(r.out));
    const QString run = r.out.mid(at + marker.size()).section('\n', 0, 0).trimmed();
    r = cli({"train", "--resume", run});
    QCOMPARE(r.code, 0);
    QVERIFY2(r.out.contains("finished at step 12 of 12"), qPrintable(r.out));
    r = cli({"eval", run, "--json", "--k", "5"});
    QCOMPARE(r.code, 0);
    auto j = nlohmann::json::parse(r.out.toStdString());
    QVERIFY(j["knn_top1"].get<double>() >= 0 && j["knn_top1"].get<double>() <= 100);
    QVERIFY(j["linear_top1"].get<double>() >= 0 && j["linear_top1"].get<double>() <= 100);
    QVERIFY(fs::exists((run + "/eval.json").toStdString()));
    r = cli({"eval", run, "--random-init", "--knn", "--json", "--k", "5"});
    QCOMPARE(r.code, 0);
    QVERIFY(nlohmann::json::parse(r.out.toStdString())["random_init"].get<bool>());
    // A transfer probe on another labelled source: its own record, the run's eval.json untouched.
    const auto before = fs::last_write_time((run + "/eval.json").toStdString());
    r = cli({"eval", run, "--data", "mnist:" + dir_.filePath("mnist"), "--knn", "--json", "--k", "5"});
    QCOMPARE(r.code, 0);
    j = nlohmann::json::parse(r.out.toStdString());
    QCOMPARE(QString::fromStdString(j["probe_data"].get<std::string>()), "mnist:" + dir_.filePath("mnist"));
    QVERIFY(j.contains("knn_top1") && !j.contains("linear_top1"));
    QCOMPARE(fs::last_write_time((run + "/eval.json").toStdString()), before);
    bool wrote = false;
    for (const auto& f : fs::directory_iterator(run.toStdString()))
      wrote |= f.path().filename().string().rfind("eval-on-mnist-", 0) == 0;
    QVERIFY(wrote);
    r = cli({"eval", run, "--data", "cifar10:/nonexistent"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("/nonexistent"), qPrintable(r.err));
    r = cli({"eval", run, "--finetune", "0.5", "--freeze", "1", "--finetune-epochs", "1", "--json"});
    QCOMPARE(r.code, 0);
    QVERIFY(nlohmann::json::parse(r.out.toStdString()).contains("finetune_top1"));
    r = cli({"train", "--resume", run, "--preset", "simclr-fashion"});
    QCOMPARE(r.code, 1);
    QVERIFY(r.err.contains("--resume continues a run"));
    // Linear CKA: the run against its random init, as JSON; the run against itself as a table.
    r = cli({"compare", run, "--random-init", "--images", "30", "--json"});
    QCOMPARE(r.code, 0);
    j = nlohmann::json::parse(r.out.toStdString());
    QCOMPARE(j["images"].get<int>(), 30);
    QCOMPARE(j["layers_run"].back().get<std::string>(), std::string("features"));
    QCOMPARE(j["linear_cka"].size(), j["layers_run"].size());
    for (const auto& row : j["linear_cka"])
      for (const auto& v : row) QVERIFY(v.get<double>() >= -1e-9 && v.get<double>() <= 1 + 1e-9);
    r = cli({"compare", run, "--itself"});
    QCOMPARE(r.code, 0);
    QVERIFY2(r.out.contains("features") && r.out.contains("1.000"), qPrintable(r.out));
    // The results table of the runs folder: the run with its probes, sorted, and as CSV.
    r = cli({"runs", dir_.filePath("runs"), "--csv", dir_.filePath("runs.csv")});
    QCOMPARE(r.code, 0);
    QVERIFY2(r.out.contains("fine-tune") && r.out.contains(QFileInfo(run).fileName()) &&
                 r.out.contains("sorted by kNN"),
             qPrintable(r.out));
    QFile csv(dir_.filePath("runs.csv"));
    QVERIFY(csv.open(QIODevice::ReadOnly));
    QVERIFY(QString::fromUtf8(csv.readAll()).startsWith("run,step,finished,"));
    r = cli({"runs", dir_.filePath("runs"), "--sort", "nope"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("--sort \"nope\""), qPrintable(r.err));
    r = cli({"compare", run});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("--with OTHER_RUN, --random-init or --itself"), qPrintable(r.err));
  }
};

PRETEXT_TEST_AREA(TestCli, "cli")
#include "test_cli.moc"
