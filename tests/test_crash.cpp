// Crash consistency (issue 19): `pretext-cli train` killed with SIGKILL at random moments, and at
// each of the points where it writes a file the run depends on (core/util/fault.h), then
// `--resume`d until it finishes. Every resume must start, no file may be left torn, and the run
// must end with the per-step losses, epoch means, kNN results and weights of a run that was never
// interrupted. A full disk and a read-only run folder (tmpfs mounts in a private mount namespace)
// stop the run with the file and the reason named, and lose nothing already saved. PRETEXT_CRASH_KILLS (default 20) and PRETEXT_CRASH_SEED set the random part;
// RELIABILITY.md records a longer soak.
#include "test_main.h"
#include <QProcess>
#include <QProcessEnvironment>
#include <QRandomGenerator>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/eval/results.h"
#include "core/methods/method.h"
#include "core/train/trainer.h"
#include "test_support.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct CliRun {
  bool killed = false;  // ended by SIGKILL (ours or its own fault point)
  int code = 0;
  QString output;
};

// Runs pretext-cli; kills it with SIGKILL after `killAfterMs` when that is >= 0 and it still runs.
CliRun runCli(const QStringList& args, int killAfterMs = -1, const QString& killAt = {}) {
  QProcess p;
  p.setProcessChannelMode(QProcess::MergedChannels);
  auto env = QProcessEnvironment::systemEnvironment();
  if (!killAt.isEmpty()) env.insert("PRETEXT_KILL_AT", killAt);
  p.setProcessEnvironment(env);
  p.start(PRETEXT_CLI, args);
  p.waitForStarted();
  if (killAfterMs >= 0 && !p.waitForFinished(killAfterMs)) p.kill();
  p.waitForFinished(300000);
  CliRun r;
  r.killed = p.exitStatus() == QProcess::CrashExit;
  r.code = r.killed ? -1 : p.exitCode();
  r.output = QString::fromUtf8(p.readAll());
  return r;
}

std::vector<json> jsonLines(const std::string& path) {
  std::vector<json> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) rows.push_back(json::parse(line));  // throws when torn
  return rows;
}

std::vector<std::string> textLines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The only run folder under `out` ("" when there is none yet).
std::string runFolderIn(const std::string& out) {
  std::error_code ec;
  for (fs::directory_iterator it(out, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory()) return it->path().string();
  return "";
}

bool finished(const std::string& run) {
  std::ifstream in(run + "/state.json");
  const json state = json::parse(in, nullptr, false);
  return state.is_object() && state.value("finished", false);
}

// Numbers that depend on the clock, not on the training.
bool timing(const std::string& key) { return key == "wall_s" || key == "img_per_s" || key == "seconds"; }

}  // namespace

class TestCrash : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string experiment_, reference_;
  int referenceMs_ = 0;

  std::string freshOut(const QString& name) {
    const std::string out = dir_.filePath(name).toStdString();
    fs::remove_all(out);
    fs::create_directories(out);
    return out;
  }
  QStringList trainArgs(const std::string& out) {
    return {"train", QString::fromStdString(experiment_), "--out", QString::fromStdString(out), "--quiet"};
  }

  // Starts or resumes the run in `out` once: a new run while no run folder with an experiment
  // exists (the kill came before it was written), --resume otherwise. Fails the test when it
  // ends with an error of its own.
  CliRun startOrResume(const std::string& out, int killAfterMs, const QString& killAt = {}) {
    const std::string run = runFolderIn(out);
    const bool resume = !run.empty() && fs::exists(run + "/experiment.json");
    if (!run.empty() && !resume) fs::remove_all(run);  // killed while writing its experiment.json
    CliRun r = runCli(resume ? QStringList{"train", "--resume", QString::fromStdString(run), "--quiet"} : trainArgs(out),
                      killAfterMs, killAt);
    if (!r.killed && r.code != 0) qWarning().noquote() << r.output;
    return r;
  }

  // Runs `script` with sh in a mount namespace of its own (as a user namespace's root, or as
  // root): a tmpfs mounted there vanishes with it. Its output, or a null string when no such
  // namespace can be made here (a container may forbid it).
  QString inPrivateMount(const QString& script) {
    for (const QStringList& how : {QStringList{"--user", "--map-root-user", "--mount"}, QStringList{"--mount"}}) {
      fs::create_directories(dir_.filePath("full").toStdString());
      fs::create_directories(dir_.filePath("ro").toStdString());
      QProcess p;
      p.setProcessChannelMode(QProcess::MergedChannels);
      p.start("unshare", how + QStringList{"sh", "-c", script});
      p.waitForFinished(300000);
      const QString out = QString::fromUtf8(p.readAll());
      if (p.exitStatus() == QProcess::NormalExit && p.exitCode() != 99 && !out.startsWith("unshare:")) return out;
    }
    return QString();
  }

  // A run stopped by a failed write: its checkpoint is whole and matches its state.json, no temp
  // file is left, and resumed (on a sound disk) it ends as the reference did.
  void verifyStoppedWholeAndResumable(const std::string& run) {
    QVERIFY2(!run.empty(), "no run folder copied");
    for (const auto& entry : fs::directory_iterator(run))
      QVERIFY2(entry.path().extension() != ".tmp", entry.path().c_str());
    std::ifstream in(run + "/state.json");
    const json state = json::parse(in);
    QVERIFY2(!state.value("finished", true), state.dump().c_str());
    pretext::Session s = pretext::loadRunSession(run);  // loads the checkpoint whole
    QVERIFY(s.method != nullptr);
    const CliRun r = runCli({"train", "--resume", QString::fromStdString(run), "--quiet"});
    QVERIFY2(r.code == 0, qPrintable(r.output));
    verifyMatchesReference(run);
  }

  // The finished run in `run` equals the reference: metrics rows (but their timings), the CSV's
  // steps and losses, the state, the weights; and it holds no half-written file.
  void verifyMatchesReference(const std::string& run) {
    QVERIFY2(finished(run), run.c_str());
    std::vector<json> got, want;
    try {
      got = jsonLines(run + "/metrics.jsonl");
    } catch (const std::exception& e) {
      QFAIL(("metrics.jsonl has a torn line: " + std::string(e.what())).c_str());
    }
    want = jsonLines(reference_ + "/metrics.jsonl");
    QCOMPARE(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      QCOMPARE(QString::fromStdString(got[i]["type"].dump()), QString::fromStdString(want[i]["type"].dump()));
      for (const auto& [key, value] : want[i].items()) {
        if (timing(key)) continue;
        QVERIFY2(got[i].contains(key), (key + " missing in row " + std::to_string(i)).c_str());
        if (value.is_number()) {
          const double a = got[i][key].get<double>(), b = value.get<double>();
          QVERIFY2(std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b)),
                   (key + " of row " + std::to_string(i) + ": " + got[i].dump() + " vs " + want[i].dump()).c_str());
        } else {
          QCOMPARE(QString::fromStdString(got[i][key].dump()), QString::fromStdString(value.dump()));
        }
      }
    }
    const auto csv = textLines(run + "/metrics.csv"), refCsv = textLines(reference_ + "/metrics.csv");
    QCOMPARE(csv.size(), refCsv.size());
    for (size_t i = 0; i < csv.size(); ++i) {
      auto head = [](const std::string& l) { return l.substr(0, l.find(',', l.find(',', l.find(',') + 1) + 1)); };
      QCOMPARE(QString::fromStdString(head(csv[i])), QString::fromStdString(head(refCsv[i])));
    }
    for (const auto& entry : fs::directory_iterator(run))
      QVERIFY2(entry.path().extension() != ".tmp", entry.path().c_str());
    pretext::Session a = pretext::loadRunSession(run), b = pretext::loadRunSession(reference_);
    const auto pa = a.method->parameters(), pb = b.method->parameters();
    QCOMPARE(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i) QVERIFY(torch::equal(pa[i], pb[i]));
  }

 private slots:
  void initTestCase() {
    const std::string data = dir_.filePath("mnist").toStdString();
    fs::create_directories(data);
    pretext::test::writeTinyMnist(data);
    // 96 images / 16 = 6 steps per epoch, 3 epochs; checkpoints every 4 steps fall inside
    // epochs, so a resume must also carry the epoch's running loss.
    json j = pretext::test::tinyExperimentJson(data, "simclr", 3);
    j["run"]["checkpoint_every"] = 4;
    j["run"]["threads"] = 1;
    experiment_ = dir_.filePath("experiment.json").toStdString();
    std::ofstream(experiment_) << j.dump(2);
    const std::string out = freshOut("reference");
    const auto t0 = std::chrono::steady_clock::now();
    const CliRun r = runCli(trainArgs(out));
    referenceMs_ = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - t0).count());
    QVERIFY2(r.code == 0, qPrintable(r.output));
    reference_ = runFolderIn(out);
    QVERIFY(finished(reference_));
  }

  // Killed at each named write point (then, for some, again while the resume cuts the metrics
  // back), resumed to the end: the same run as the reference.
  void killAtEachWritePoint_data() {
    QTest::addColumn<QStringList>("kills");
    QTest::newRow("checkpoint half-written") << QStringList{"write:checkpoint.pt:2"};
    QTest::newRow("between checkpoint and state.json") << QStringList{"renamed:checkpoint.pt:2"};
    QTest::newRow("state.json half-written") << QStringList{"write:state.json:3"};
    QTest::newRow("metrics row torn") << QStringList{"metrics-row:7"};
    QTest::newRow("first checkpoint never written") << QStringList{"metrics-row:3"};
    QTest::newRow("resume killed cutting metrics.csv") << QStringList{"metrics-row:11", "write:metrics.csv:1"};
    QTest::newRow("resume killed cutting metrics.jsonl") << QStringList{"renamed:checkpoint.pt:3", "write:metrics.jsonl:1"};
    QTest::newRow("last checkpoint") << QStringList{"renamed:checkpoint.pt:5"};
  }
  void killAtEachWritePoint() {
    QFETCH(QStringList, kills);
    const std::string out = freshOut("points");
    for (const QString& kill : kills) {
      const CliRun r = startOrResume(out, -1, kill);
      QVERIFY2(r.killed, qPrintable("not killed at " + kill + ":\n" + r.output));
      QVERIFY2(r.output.contains("PRETEXT_KILL_AT: killed at"), qPrintable(r.output));
    }
    const CliRun last = startOrResume(out, -1);
    QVERIFY2(!last.killed && last.code == 0, qPrintable(last.output));
    verifyMatchesReference(runFolderIn(out));
  }

  // kill -9 at random moments of the whole run (start-up, steps, kNN, checkpoints, the resume's
  // own start), resuming after each.
  void randomKillsThenResumeMatchAnUninterruptedRun() {
    const int kills = qEnvironmentVariableIsSet("PRETEXT_CRASH_KILLS") ? qEnvironmentVariableIntValue("PRETEXT_CRASH_KILLS") : 20;
    const quint32 seed = qEnvironmentVariableIsSet("PRETEXT_CRASH_SEED") ? qEnvironmentVariableIntValue("PRETEXT_CRASH_SEED") : 19;
    QRandomGenerator random(seed);
    const std::string out = freshOut("random");
    int killed = 0, starts = 0, finishedEarly = 0;
    std::map<int, int> killedAtStep;  // the state.json step each kill left behind
    // Until `kills` kills have landed (a start may outrun its kill on a busy machine).
    while (killed < kills && starts < 4 * kills) {
      if (!runFolderIn(out).empty() && finished(runFolderIn(out))) {
        fs::remove_all(runFolderIn(out));  // it outran the kills: train it again
        ++finishedEarly;
      }
      // Up to 1.3 times an uninterrupted run: most of a run's time is its start-up, and a resume
      // has fewer steps left to go, so a kill later than that still lands in its training.
      const CliRun r = startOrResume(out, static_cast<int>(random.bounded(referenceMs_ * 13 / 10 + 1)));
      ++starts;
      QVERIFY2(r.killed || r.code == 0, qPrintable(r.output));
      if (r.killed) {
        ++killed;
        const std::string run = runFolderIn(out);
        std::ifstream in(run + "/state.json");
        const json state = json::parse(in, nullptr, false);
        ++killedAtStep[state.is_object() ? state.value("step", 0) : -1];
      }
    }
    CliRun last;
    do last = startOrResume(out, -1);
    while (last.killed);
    QVERIFY2(last.code == 0, qPrintable(last.output));
    verifyMatchesReference(runFolderIn(out));
    QString where;
    for (const auto& [step, n] : killedAtStep)
      where += step < 0 ? QString(" %1x no checkpoint yet;").arg(n) : QString(" %1x the checkpoint of step %2;").arg(n).arg(step);
    qInfo().noquote() << QString("seed %1: %2 starts, %3 killed; %4 times the run finished before its kill came and was "
                                     "trained again; reference run %5 ms; what each kill left:%6")
                             .arg(seed).arg(starts).arg(killed).arg(finishedEarly).arg(referenceMs_).arg(where);
    QCOMPARE(killed, kills);
  }

  // A full disk (a tmpfs of 1.6 checkpoints: the second checkpoint's temp file does not fit) stops
  // the run with an error naming the file and the system's reason; the first checkpoint stays
  // whole, nothing half-written is left, and the run resumes elsewhere to the reference's end.
  void fullDiskKeepsTheLastCheckpoint() {
    const auto checkpointKb = fs::file_size(reference_ + "/checkpoint.pt") / 1024;
    const QString mount = dir_.filePath("full"), copy = dir_.filePath("full-copy");
    const QString script = QString("mount -t tmpfs -o size=%1k tmpfs '%2' || exit 99; '%3' train '%4' --out '%2/runs' --quiet; "
                                   "echo \"exit=$?\"; cp -r '%2/runs' '%5'")
                               .arg(checkpointKb * 16 / 10).arg(mount, PRETEXT_CLI, QString::fromStdString(experiment_), copy);
    const QString out = inPrivateMount(script);
    if (out.isNull()) QSKIP("no private mount namespace here (unshare -rm and unshare -m both refused)");
    QVERIFY2(out.contains("exit=1"), qPrintable(out));
    QVERIFY2(out.contains("checkpoint.pt: could not be written (No space left on device); the previous version is kept"),
             qPrintable(out));
    QVERIFY2(out.contains("resume it with pretext-cli train --resume"), qPrintable(out));
    verifyStoppedWholeAndResumable(runFolderIn(copy.toStdString()));
  }

  // A run folder that became read-only: the resume says so, and changes nothing.
  void readOnlyRunFolderIsNamedAndLeftAlone() {
    const QString mount = dir_.filePath("ro"), copy = dir_.filePath("ro-copy");
    const QString script =
        QString("mount -t tmpfs -o size=64m tmpfs '%1' || exit 99; '%2' train '%3' --out '%1/runs' --quiet --steps 8 >/dev/null; "
                "mount -o remount,ro '%1' || exit 99; '%2' train --resume \"$(ls -d '%1'/runs/*)\" --quiet; echo \"exit=$?\"; "
                "cp -r '%1/runs' '%4'")
            .arg(mount, PRETEXT_CLI, QString::fromStdString(experiment_), copy);
    const QString out = inPrivateMount(script);
    if (out.isNull()) QSKIP("no private mount namespace here (unshare -rm and unshare -m both refused)");
    QVERIFY2(out.contains("exit=1"), qPrintable(out));
    QVERIFY2(out.contains("(Read-only file system)"), qPrintable(out));
    verifyStoppedWholeAndResumable(runFolderIn(copy.toStdString()));
  }

  // A kill while an evaluation is appended to evaluations.jsonl (by the window's Evaluation tab
  // or a sweep) leaves half a line, as the fault point "evaluation" does; the next record starts
  // on a line of its own and is read back whole.
  void evaluationAppendedAfterATornLine() {
    const std::string run = dir_.filePath("eval-run").toStdString();
    fs::create_directories(run);
    pretext::EvalRecord first;
    first.run = run;
    first.protocol = "knn";
    first.top1 = 51.5;
    const std::string line = pretext::evalRecordToJson(first).dump();
    std::ofstream(pretext::evalResultsPath(run)) << line.substr(0, line.size() / 2);
    pretext::EvalRecord second = first;
    second.top1 = 62.25;
    pretext::appendEvalRecord(run, second);
    const auto records = pretext::readEvalRecords(run);
    QCOMPARE(int(records.size()), 1);
    QCOMPARE(records[0].top1, 62.25);
    const auto lines = textLines(pretext::evalResultsPath(run));
    QCOMPARE(int(lines.size()), 2);  // the torn half, and the whole record on its own line
  }
};

PRETEXT_TEST_AREA(TestCrash, "crash")
#include "test_crash.moc"
