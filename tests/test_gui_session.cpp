// The session controller: the window's only door to the engine thread.
#include "test_main.h"
#include <torch/torch.h>

#include <QSignalSpy>
#include <QtTest>

#include <filesystem>

#include "core/interop/torch_weights.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "test_support.h"
#include "ui/window/session_controller.h"

using namespace pretext;
namespace fs = std::filesystem;

class TestGuiSession : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_;

  Experiment tiny(int64_t epochs = 2, const std::string& method = "simclr") {
    return experimentFromJson(test::tinyExperimentJson(data_, method, epochs));
  }
  void configure(SessionController& c, const Experiment& e) {
    c.setRunsFolder(dir_.filePath("runs"));
    c.setExperiment(e);
  }

 private slots:
  void initTestCase() {
    data_ = dir_.filePath("mnist").toStdString();
    fs::create_directories(data_);
    test::writeTinyMnist(data_);
  }

  void startStreamsStepsAndFinishes() {
    SessionController c;
    configure(c, tiny(2));
    QSignalSpy started(&c, &SessionController::started);
    QSignalSpy steps(&c, &SessionController::stepsArrived);
    QSignalSpy evals(&c, &SessionController::evaluationsArrived);
    QSignalSpy finished(&c, &SessionController::finished);
    QSignalSpy logs(&c, &SessionController::logLines);
    c.start();
    QCOMPARE(c.state(), SessionState::Running);
    QVERIFY(finished.wait(60000));
    QCOMPARE(started.count(), 1);
    const RunInfo info = started.first().first().value<RunInfo>();
    QCOMPARE(info.totalSteps, 12);  // 96 images / 16 per batch * 2 epochs
    qint64 last = 0;
    int points = 0;
    for (const auto& args : steps) {
      for (const StepPoint& p : args.first().value<QVector<StepPoint>>()) {
        QVERIFY(p.step > last);  // in order, none twice
        QVERIFY(std::isfinite(p.loss));
        last = p.step;
        ++points;
      }
    }
    QCOMPARE(last, 12);
    QVERIFY(points >= 12);  // log_every = 1
    QCOMPARE(evals.count() >= 1, true);
    QCOMPARE(finished.first().at(1).toBool(), false);
    QCOMPARE(c.state(), SessionState::Idle);
    QVERIFY(!logs.isEmpty());
    QVERIFY(fs::exists(fs::path(info.runDir.toStdString()) / "checkpoint.pt"));
  }

  void pauseStepStop() {
    SessionController c;
    configure(c, tiny(50));
    QSignalSpy steps(&c, &SessionController::stepsArrived);
    QSignalSpy finished(&c, &SessionController::finished);
    QSignalSpy states(&c, &SessionController::stateChanged);
    c.start();
    QVERIFY(steps.wait(30000));
    c.pause();
    QCOMPARE(c.state(), SessionState::Paused);
    QTest::qWait(500);  // the step in flight lands
    auto lastStep = [&] {
      qint64 s = 0;
      for (const auto& args : steps)
        for (const StepPoint& p : args.first().value<QVector<StepPoint>>()) s = std::max(s, p.step);
      return s;
    };
    const qint64 before = lastStep();
    QTest::qWait(400);
    QCOMPARE(lastStep(), before);  // paused: no progress
    c.step();
    QTRY_COMPARE_WITH_TIMEOUT(lastStep(), before + 1, 10000);
    QTest::qWait(300);
    QCOMPARE(lastStep(), before + 1);  // exactly one
    c.stop();
    QCOMPARE(c.state(), SessionState::Stopping);
    QVERIFY(finished.wait(30000));
    QCOMPARE(finished.first().at(1).toBool(), true);  // stopped early, resumable
    QCOMPARE(c.state(), SessionState::Idle);
    QVERIFY(states.count() >= 4);  // running, paused, stopping, idle
  }

  void stepFromIdleStartsPaused() {
    SessionController c;
    configure(c, tiny(5));
    QSignalSpy steps(&c, &SessionController::stepsArrived);
    c.step();
    QCOMPARE(c.state(), SessionState::Paused);
    QVERIFY(steps.wait(30000));
    QCOMPARE(steps.first().first().value<QVector<StepPoint>>().last().step, 1);
    QSignalSpy finished(&c, &SessionController::finished);
    c.stop();
    QVERIFY(finished.wait(30000));
  }

  void inspectionsRunIdleAndWhileTraining() {
    SessionController c;
    configure(c, tiny(50));
    // Idle, nothing trained: a random-init session of the experiment.
    int64_t images = -1;
    c.inspect<int64_t>(this, [](Session& s) { return s.data.test.size(); },
                       [&](int64_t n) { images = n; });
    QTRY_COMPARE_WITH_TIMEOUT(images, int64_t(40), 20000);
    // While training: served between steps, in eval mode, train mode restored afterwards.
    QSignalSpy steps(&c, &SessionController::stepsArrived);
    c.start();
    QVERIFY(steps.wait(30000));
    bool sawEval = false, ran = false;
    c.inspect<bool>(this, [](Session& s) { return !s.method->is_training(); },
                    [&](bool evalMode) { sawEval = evalMode; ran = true; });
    QTRY_VERIFY_WITH_TIMEOUT(ran, 20000);
    QVERIFY(sawEval);
    // Coalescing: of three requests with one key, only the last is delivered.
    QVector<int> delivered;
    c.pause();
    for (int i = 0; i < 3; ++i)
      c.inspect<int>(this, [i](Session&) { return i; }, [&](int v) { delivered.append(v); }, "k");
    QTRY_VERIFY_WITH_TIMEOUT(!delivered.isEmpty(), 20000);
    QTest::qWait(200);
    QCOMPARE(delivered, QVector<int>{2});
    // A throwing inspection reports its message and leaves training alive.
    QSignalSpy failures(&c, &SessionController::inspectionFailed);
    c.inspect<int>(this, [](Session&) -> int { throw pretext::Error("no such layer: stage 9"); }, [](int) {});
    QVERIFY(failures.wait(20000));
    QVERIFY(failures.first().first().toString().contains("stage 9"));
    QSignalSpy finished(&c, &SessionController::finished);
    c.stop();
    QVERIFY(finished.wait(30000));
  }

  void deletedContextGetsNothing() {
    SessionController c;
    configure(c, tiny(1));
    bool called = false;
    auto* context = new QObject;
    c.inspect<int>(context, [](Session&) {
      QThread::msleep(200);
      return 1;
    }, [&](int) { called = true; });
    delete context;
    QTest::qWait(2500);
    QVERIFY(!called);
  }

  void badDataFailsWithTheReason() {
    SessionController c;
    Experiment e = tiny(1);
    e.data = "mnist:/nonexistent/dir";
    configure(c, e);
    QSignalSpy failed(&c, &SessionController::failed);
    c.start();
    QVERIFY(failed.wait(20000));
    QVERIFY(failed.first().first().toString().contains("/nonexistent/dir"));
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), SessionState::Idle, 5000);
  }

  void openRunThenResetAndResume() {
    SessionController c;
    configure(c, tiny(4));
    QSignalSpy steps(&c, &SessionController::stepsArrived);
    QSignalSpy finished(&c, &SessionController::finished);
    c.start();
    QVERIFY(steps.wait(30000));
    c.stop();
    QVERIFY(finished.wait(30000));
    const QString run = finished.first().first().toString();

    // Open: the run's weights, not a random init.
    QSignalSpy opened(&c, &SessionController::runOpened);
    c.openRun(run);
    QVERIFY(opened.wait(20000));
    QCOMPARE(c.runDir(), run);
    torch::Tensor w1;
    bool got = false;
    auto firstWeight = [](Session& s) { return s.method->parameters().front().detach().clone(); };
    c.inspect<torch::Tensor>(this, firstWeight, [&](torch::Tensor t) { w1 = t; got = true; });
    QTRY_VERIFY_WITH_TIMEOUT(got, 20000);
    const Session fromDisk = loadRunSession(run.toStdString());
    QVERIFY(torch::equal(w1, fromDisk.method->parameters().front()));

    // Reset: a fresh random init of the experiment.
    c.reset();
    QVERIFY(c.runDir().isEmpty());
    got = false;
    torch::Tensor w2;
    c.inspect<torch::Tensor>(this, firstWeight, [&](torch::Tensor t) { w2 = t; got = true; });
    QTRY_VERIFY_WITH_TIMEOUT(got, 20000);
    QVERIFY(!torch::equal(w1, w2));

    // Resume the stopped run to its end.
    finished.clear();
    c.resumeRun(run);
    QVERIFY(finished.wait(60000));
    QCOMPARE(finished.first().at(1).toBool(), false);

    // File > Open weights...: the run's encoder as a state_dict (no sidecar: the architecture is
    // read off the keys) becomes a run under runs/imported, opened with those weights.
    const std::string weights = dir_.filePath("encoder.pt").toStdString();
    Session trained = loadRunSession(run.toStdString());
    writeStateDict(weights, exportedEncoderTensors(*trained.method->encoder(), "convnet"));
    opened.clear();
    c.openWeights(QString::fromStdString(weights));
    QVERIFY(opened.wait(60000));
    QVERIFY2(c.runDir().startsWith(dir_.filePath("runs/imported/")), qPrintable(c.runDir()));
    auto encoderWeight = [](Session& s) { return s.method->encoder()->parameters().front().detach().clone(); };
    got = false;
    c.inspect<torch::Tensor>(this, encoderWeight, [&](torch::Tensor t) { w2 = t; got = true; });
    QTRY_VERIFY_WITH_TIMEOUT(got, 20000);
    QVERIFY(torch::equal(w2, trained.method->encoder()->parameters().front().contiguous()));
    // A file that is not a state_dict: a message naming it, nothing opened.
    const QString text = dir_.filePath("notes.pt");
    test::writeText(text.toStdString(), "not weights");
    QSignalSpy failed(&c, &SessionController::failed);
    c.openWeights(text);
    QVERIFY(failed.wait(20000));
    QVERIFY2(failed.first().first().toString().contains(text), qPrintable(failed.first().first().toString()));
  }
};

PRETEXT_TEST_AREA(TestGuiSession, "gui_session")
#include "test_gui_session.moc"
