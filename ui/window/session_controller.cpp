#include "ui/window/session_controller.h"

#include <torch/torch.h>

#include <QDir>
#include <QFileInfo>
#include <QPointer>
#include <QThread>

#include <atomic>
#include <map>
#include <optional>

#include "core/interop/import_run.h"
#include "core/train/checkpoint.h"
#include "core/train/control.h"
#include "core/train/run_dir.h"
#include "core/train/sweep.h"
#include "core/train/trainer.h"
#include "core/util/device.h"
#include "core/util/error.h"
#include "core/util/threads.h"
#include "ui/window/run_follower.h"
#include "viz/image_grid.h"

namespace pretext {

QString stateName(SessionState s) {
  switch (s) {
    case SessionState::Idle: return "idle";
    case SessionState::Running: return "running";
    case SessionState::Paused: return "paused";
    case SessionState::Stopping: return "stopping";
  }
  return {};
}

namespace {

QString text(const std::exception& e) {
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) return QString::fromStdString(c->what_without_backtrace());
  return QString::fromStdString(e.what());
}

// What decides a random-init session: the data, the model, the seed.
std::string fingerprint(const Experiment& e) {
  nlohmann::json j = experimentToJson(e);
  return j["data"].dump() + j["method"].dump() + j["backbone"].dump() + std::to_string(e.seed) +
         e.device;
}

}  // namespace

// State shared between the GUI thread and the engine thread. The buffer fields are guarded by
// `mutex`; the session fields are touched only by the engine thread.
struct SessionController::Shared {
  TrainControl control;
  std::atomic<bool> quit{false};
  std::atomic<bool> wantPreviews{true};

  std::mutex mutex;
  // -- buffer (engine -> GUI), guarded by mutex
  QVector<StepPoint> steps;
  QVector<EvalPoint> evals;
  QStringList logs;
  QVector<QPair<qint64, QVector<PreviewImage>>> previews;
  std::optional<RunInfo> startedInfo;
  std::optional<QString> opened;
  std::optional<QString> failedMessage;
  bool ended = false;  // a run (or a failed start) is over
  QString endedDir;
  bool endedStopped = false;
  bool modelChanged = false;
  std::optional<qint64> followTotal;  // a followed run's planned steps, once its session is built
  std::optional<qint64> modelStep;    // the step of a model just opened or reloaded
  std::optional<QString> sweepEnded;  // the folder of a sweep that ended (endedStopped: stopped)
  // -- requests' coalescing keys, guarded by mutex
  std::map<QString, uint64_t> keyGeneration;
  // -- the experiment idle inspections use, guarded by mutex
  Experiment experiment;
  bool discardAfterRun = false;

  // -- engine thread only
  Trainer* trainer = nullptr;              // while training
  std::unique_ptr<Session> idle;           // trained, loaded, or random-init
  std::string idleFingerprint;             // random-init sessions: what they were built from
  bool idleIsRun = false;

  Session* current() {
    if (trainer && trainer->session()) return trainer->session();
    Experiment e;
    {
      std::lock_guard<std::mutex> lock(mutex);
      e = experiment;
    }
    const std::string fp = fingerprint(e);
    if (!idle || (!idleIsRun && idleFingerprint != fp)) {
      idle.reset();  // free the old model before building the next
      idle = std::make_unique<Session>(makeSession(e));
      idleFingerprint = fp;
      idleIsRun = false;
    }
    return idle.get();
  }
};

namespace {

// Trainer events copied into the shared buffer (called on the engine thread).
class BufferEvents : public TrainerEvents {
 public:
  explicit BufferEvents(SessionController::Shared* shared) : sh_(shared) {}
  bool failedReported = false;

  void onStart(const StartEvent& e) override {
    std::lock_guard<std::mutex> lock(sh_->mutex);
    sh_->startedInfo = RunInfo{QString::fromStdString(e.runDir), QString::fromStdString(e.device),
                               e.startStep, e.totalSteps, e.stepsPerEpoch, e.trainImages};
  }
  void onStep(const StepEvent& e) override {
    StepPoint p;
    p.step = e.step;
    p.totalSteps = e.totalSteps;
    p.epoch = e.epochFloat;
    p.wallSeconds = e.wallSeconds;
    p.loss = e.loss;
    p.lr = e.lr;
    p.imgPerSec = e.imgPerSec;
    p.etaSeconds = e.etaSeconds;
    for (const auto& m : e.metrics) p.metrics.append({QString::fromStdString(m.first), m.second});
    p.embeddingDim = e.embeddingDim;
    std::lock_guard<std::mutex> lock(sh_->mutex);
    sh_->steps.append(std::move(p));
  }
  void onEvaluation(const EvalEvent& e) override {
    std::lock_guard<std::mutex> lock(sh_->mutex);
    sh_->evals.append({e.step, e.epoch, QString::fromStdString(e.kind), e.top1});
  }
  bool wantsPreviews() const override { return sh_->wantPreviews; }
  void onPreviews(int64_t step, const std::vector<Preview>& previews) override {
    QVector<PreviewImage> images;
    for (const Preview& p : previews)
      images.append({QString::fromStdString(p.name), QString::fromStdString(p.caption),
                     renderPreview(p, 3)});
    std::lock_guard<std::mutex> lock(sh_->mutex);
    sh_->previews.append({step, std::move(images)});
  }
  void onLog(const std::string& line) override {
    std::lock_guard<std::mutex> lock(sh_->mutex);
    sh_->logs.append(QString::fromStdString(line));
  }
  void onFinished(const FinishEvent& e) override {
    std::lock_guard<std::mutex> lock(sh_->mutex);
    sh_->endedDir = QString::fromStdString(e.runDir);
    sh_->endedStopped = e.stopped;
  }
  void onFailed(const std::string& message) override {
    failedReported = true;
    std::lock_guard<std::mutex> lock(sh_->mutex);
    sh_->failedMessage = QString::fromStdString(message);
  }

 private:
  SessionController::Shared* sh_;
};

// A sweep's events: a point whose training fails (a NaN loss) is a line in the log, not the
// window's error; the sweep records it and goes on.
class SweepBufferEvents : public BufferEvents {
 public:
  using BufferEvents::BufferEvents;
  void onFailed(const std::string& message) override { onLog("sweep point failed: " + message); }
};

}  // namespace

SessionController::SessionController(QObject* parent)
    : QObject(parent), shared_(std::make_shared<Shared>()) {
  qRegisterMetaType<StepPoint>();
  qRegisterMetaType<EvalPoint>();
  qRegisterMetaType<PreviewImage>();
  qRegisterMetaType<RunInfo>();
  qRegisterMetaType<SessionState>();
  qRegisterMetaType<QVector<StepPoint>>();
  qRegisterMetaType<QVector<EvalPoint>>();
  qRegisterMetaType<QVector<PreviewImage>>();
  const QByteArray runs = qgetenv("PRETEXT_RUNS");
  runsFolder_ = runs.isEmpty() ? QStringLiteral("runs") : QString::fromLocal8Bit(runs);
  drainTimer_.setInterval(40);
  connect(&drainTimer_, &QTimer::timeout, this, &SessionController::drain);
  drainTimer_.start();
  engine_ = std::thread([sh = shared_] {
    while (!sh->quit) {
      sh->control.waitForRequest();
      sh->control.serveRequests();
    }
  });
}

SessionController::~SessionController() {
  shared_->control.stop();
  shared_->quit = true;
  shared_->control.wake();
  if (engine_.joinable()) engine_.join();
}

QString SessionController::deviceName() const {
  try {
    const c10::Device d = resolveDevice(experiment_.device);
    if (d.is_cpu()) {
      const int threads = experiment_.threads > 0 ? int(experiment_.threads) : QThread::idealThreadCount();
      return QString("CPU (%1 thread%2)").arg(threads).arg(threads == 1 ? "" : "s");
    }
    return QString::fromStdString(describeDevice(d));
  } catch (const std::exception& e) {
    return QString("no device: %1").arg(text(e));
  }
}

void SessionController::setRunsFolder(const QString& dir) { runsFolder_ = dir; }

void SessionController::setExperiment(const Experiment& e) {
  const bool changed = fingerprint(e) != fingerprint(experiment_);
  experiment_ = e;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->experiment = e;
  }
  emit experimentChanged();
  // A random-init session of the old settings is stale now (a loaded/trained run is not).
  if (changed && state_ == SessionState::Idle && runDir_.isEmpty()) emit sessionChanged();
}

void SessionController::post(QObject* context, const QString& key,
                             std::function<std::function<void()>(Session&)> work) {
  uint64_t generation = 0;
  if (!key.isEmpty()) {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    generation = ++shared_->keyGeneration[key];
  }
  QPointer<QObject> target(context);
  SessionController* controller = this;  // outlives the engine thread (joined in ~)
  shared_->control.post([sh = shared_.get(), key, generation, work = std::move(work), target,
                         controller] {
    if (!key.isEmpty()) {
      std::lock_guard<std::mutex> lock(sh->mutex);
      if (sh->keyGeneration[key] != generation) return;  // superseded
    }
    std::function<void()> deliver;
    QString error;
    try {
      Session* s = sh->current();
      const bool wasTraining = s->method->is_training();
      s->method->eval();
      try {
        deliver = work(*s);
      } catch (...) {
        s->method->train(wasTraining);
        throw;
      }
      s->method->train(wasTraining);
    } catch (const std::exception& e) {
      error = text(e);
    }
    QMetaObject::invokeMethod(
        controller,
        [controller, target, deliver = std::move(deliver), error] {
          if (!error.isEmpty()) {
            emit controller->inspectionFailed(error);
            return;
          }
          if (target && deliver) deliver();
        },
        Qt::QueuedConnection);
  });
}

void SessionController::setState(SessionState s) {
  if (s == state_) return;
  state_ = s;
  emit stateChanged(s);
}

void SessionController::launch(const QString& resumeDir, bool startPaused) {
  if (state_ != SessionState::Idle) return;
  stopFollowing();  // the window's model becomes the new run's
  Shared* sh = shared_.get();
  sh->control.reset();
  if (startPaused) sh->control.step(1);
  {
    std::lock_guard<std::mutex> lock(sh->mutex);
    sh->discardAfterRun = false;
  }
  setState(startPaused ? SessionState::Paused : SessionState::Running);
  TrainOptions options;
  options.outDir = runsFolder_.toStdString();
  options.resumeDir = resumeDir.toStdString();
  options.eventInterval = 0.1;  // live curves: up to 10 points a second
  const Experiment e = experiment_;
  sh->control.post([sh, e, options] {
    BufferEvents events(sh);
    sh->idle.reset();  // the new run's model replaces whatever was inspected
    Trainer trainer(e, options, &events, &sh->control);
    sh->trainer = &trainer;
    try {
      trainer.run();
    } catch (const std::exception& ex) {
      if (!events.failedReported) events.onFailed(text(ex).toStdString());
    }
    sh->trainer = nullptr;
    std::lock_guard<std::mutex> lock(sh->mutex);
    if (!sh->discardAfterRun) {
      sh->idle = trainer.takeSession();
      sh->idleIsRun = sh->idle != nullptr;
    }
    sh->ended = true;
    sh->modelChanged = true;
  });
}

QString SessionController::runSweep(const QString& sweepPath, const QString& folder) {
  if (state_ != SessionState::Idle) {
    emit failed("Stop the running training before starting a sweep.");
    return {};
  }
  SweepPlan plan;
  try {
    plan = loadSweep(sweepPath.toStdString());
  } catch (const std::exception& e) {
    emit failed(text(e));
    return {};
  }
  const QString dir =
      !folder.isEmpty() ? folder
      : QFileInfo(sweepPath).isDir()
          ? sweepPath
          : QString::fromStdString(defaultSweepFolder(plan, runsFolder_.toStdString()));
  stopFollowing();
  Shared* sh = shared_.get();
  sh->control.reset();
  {
    std::lock_guard<std::mutex> lock(sh->mutex);
    sh->discardAfterRun = false;
  }
  sweepFolder_ = dir;
  setState(SessionState::Running);
  sh->control.post([sh, plan, dir] {
    SweepBufferEvents events(sh);
    sh->idle.reset();
    SweepRunOptions options;
    options.folder = dir.toStdString();
    options.events = &events;
    options.control = &sh->control;
    options.eventInterval = 0.1;
    options.log = [&events](const std::string& line) { events.onLog(line); };
    options.onTrainer = [sh](Trainer* t) { sh->trainer = t; };
    bool stopped = false;
    std::unique_ptr<Session> last;
    try {
      SweepOutcome outcome = pretext::runSweep(plan, options);  // the core's, not this class's
      stopped = outcome.stopped;
      last = std::move(outcome.lastSession);
    } catch (const std::exception& ex) {
      BufferEvents(sh).onFailed(text(ex).toStdString());
    }
    sh->trainer = nullptr;
    std::lock_guard<std::mutex> lock(sh->mutex);
    if (!sh->discardAfterRun && last) {
      sh->idle = std::move(last);
      sh->idleIsRun = true;
    }
    sh->ended = true;
    sh->endedStopped = stopped;
    sh->sweepEnded = dir;
    sh->modelChanged = true;
  });
  emit sweepStarted(dir);
  return dir;
}

void SessionController::start() { launch({}, false); }

void SessionController::resumeRun(const QString& dir) { launch(dir, false); }

void SessionController::openRun(const QString& dir) {
  if (state_ != SessionState::Idle) {
    emit failed("Stop the running training before opening another run.");
    return;
  }
  stopFollowing();
  postOpen([dir] { return dir; }, dir + ": ");
}

void SessionController::openWeights(const QString& file) {
  if (state_ != SessionState::Idle) {
    emit failed("Stop the running training before opening weights.");
    return;
  }
  stopFollowing();
  const std::string out = QDir(runsFolder_).filePath("imported").toStdString();
  postOpen(
      [file, out] {
        ImportOptions options;
        options.file = file.toStdString();
        options.outDir = out;
        return QString::fromStdString(importWeights(options).runDir);
      },
      {});  // importWeights' messages name the file themselves
}

void SessionController::postOpen(std::function<QString()> runDir, const QString& errorPrefix,
                                 bool follow) {
  Shared* sh = shared_.get();
  sh->control.post([sh, runDir = std::move(runDir), errorPrefix, follow] {
    try {
      const QString dir = runDir();
      std::unique_ptr<Session> session;
      const RunDirectory run = RunDirectory::open(dir.toStdString());
      if (follow && !run.hasCheckpoint()) {
        // A job that has not written its first checkpoint: its experiment, untrained, until then
        // (the first checkpoint loads into this session's method).
        sh->idle.reset();
        session = std::make_unique<Session>(makeSession(run.experiment()));
      } else {
        session = std::make_unique<Session>(loadRunSession(dir.toStdString()));
      }
      const qint64 total = plannedSteps(session->experiment, session->data.train.size());
      const qint64 step = run.hasCheckpoint() ? run.state().value("step", int64_t(0)) : 0;
      sh->idle = std::move(session);
      sh->idleIsRun = true;
      std::lock_guard<std::mutex> lock(sh->mutex);
      sh->opened = dir;
      sh->modelChanged = true;
      sh->modelStep = step;
      if (follow) sh->followTotal = total;
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(sh->mutex);
      sh->failedMessage = errorPrefix + text(e);
    }
  });
}

QString SessionController::followedRun() const {
  return follower_ ? follower_->runDir() : QString();
}

void SessionController::followRun(const QString& dir, int pollMs) {
  if (state_ != SessionState::Idle) {
    emit failed("Stop the running training before following a run.");
    return;
  }
  stopFollowing();
  follower_ = new RunFollower(dir, this);
  connect(follower_, &RunFollower::stepsArrived, this, &SessionController::stepsArrived);
  connect(follower_, &RunFollower::evaluationsArrived, this, &SessionController::evaluationsArrived);
  connect(follower_, &RunFollower::checkpointLanded, this, &SessionController::reloadFollowed);
  connect(follower_, &RunFollower::stalled, this, &SessionController::followStalled);
  connect(follower_, &RunFollower::rewound, this, [this] { emit followRewound(followedRun()); });
  connect(follower_, &RunFollower::failed, this,
          [this](const QString& m) { emit logLines({QStringLiteral("following: ") + m}); });
  connect(follower_, &RunFollower::ended, this, [this](qint64 step) {
    const QString d = followedRun();
    follower_->deleteLater();
    follower_ = nullptr;
    emit followEnded(d, step);
    emit followingChanged({});
  });
  emit followingChanged(dir);
  emit logLines({QStringLiteral("following %1: its new metrics as they are written, its model at "
                                "each checkpoint").arg(dir)});
  // state.json's step is read first, so the model opened below is that checkpoint or a later
  // one, and every checkpoint after it is announced.
  follower_->start(pollMs);
  postOpen([dir] { return dir; }, dir + ": ", /*follow=*/true);
}

void SessionController::stopFollowing() {
  if (!follower_) return;
  follower_->stop();
  follower_->deleteLater();
  follower_ = nullptr;
  emit followingChanged({});
}

void SessionController::reloadFollowed(qint64 step) {
  if (!follower_) return;
  const std::string dir = follower_->runDir().toStdString();
  // Keyed: a checkpoint that lands while the previous one waits replaces it. The session is the
  // followed run's (followRun opened it).
  post(this, QStringLiteral("follow/reload"), [this, dir, step](Session& s) -> std::function<void()> {
    try {
      // checkpoint.pt is replaced by a rename before state.json announces it, so this reads
      // the announced checkpoint whole (or a newer one).
      const qint64 loaded = loadCheckpoint(RunDirectory::open(dir), *s.method, nullptr, s.device);
      return [this, loaded] {
        modelStep_ = loaded;
        emit sessionChanged();
      };
    } catch (const std::exception& e) {
      const QString message = QString("following: the checkpoint of step %1 did not load (%2); the next one will")
                                  .arg(step)
                                  .arg(text(e));
      return [this, message] { emit logLines({message}); };
    }
  });
}

void SessionController::pause() {
  if (state_ != SessionState::Running) return;
  shared_->control.pause();
  setState(SessionState::Paused);
}

void SessionController::resume() {
  if (state_ != SessionState::Paused) return;
  shared_->control.resume();
  setState(SessionState::Running);
}

void SessionController::step() {
  if (state_ == SessionState::Idle) {
    launch({}, true);
  } else if (state_ == SessionState::Running || state_ == SessionState::Paused) {
    shared_->control.step(1);
    setState(SessionState::Paused);
  }
}

void SessionController::stop() {
  if (state_ != SessionState::Running && state_ != SessionState::Paused) return;
  shared_->control.stop();
  setState(SessionState::Stopping);
}

void SessionController::reset() {
  stopFollowing();
  Shared* sh = shared_.get();
  if (state_ != SessionState::Idle) {
    {
      std::lock_guard<std::mutex> lock(sh->mutex);
      sh->discardAfterRun = true;
    }
    stop();
  }
  sh->control.post([sh] {
    if (sh->trainer) return;  // the run's end discards its session (discardAfterRun)
    sh->idle.reset();
    sh->idleIsRun = false;
    std::lock_guard<std::mutex> lock(sh->mutex);
    sh->modelChanged = true;
  });
  runDir_.clear();
  modelStep_ = 0;
  emit cleared();
}

void SessionController::drain() {
  Shared* sh = shared_.get();
  QVector<StepPoint> steps;
  QVector<EvalPoint> evals;
  QStringList logs;
  QVector<QPair<qint64, QVector<PreviewImage>>> previews;
  std::optional<RunInfo> startedInfo;
  std::optional<QString> opened, failedMessage;
  std::optional<qint64> followTotal, modelStep;
  std::optional<QString> endedSweep;
  bool ended = false, stopped = false, modelChanged = false;
  QString endedDir;
  {
    std::lock_guard<std::mutex> lock(sh->mutex);
    steps.swap(sh->steps);
    evals.swap(sh->evals);
    logs.swap(sh->logs);
    previews.swap(sh->previews);
    startedInfo.swap(sh->startedInfo);
    opened.swap(sh->opened);
    failedMessage.swap(sh->failedMessage);
    followTotal.swap(sh->followTotal);
    modelStep.swap(sh->modelStep);
    endedSweep.swap(sh->sweepEnded);
    std::swap(ended, sh->ended);
    std::swap(modelChanged, sh->modelChanged);
    endedDir = sh->endedDir;
    stopped = sh->endedStopped;
  }
  if (modelStep) modelStep_ = *modelStep;
  if (startedInfo) {
    runDir_ = startedInfo->runDir;
    modelStep_ = startedInfo->startStep;
    emit started(*startedInfo);
    emit sessionChanged();
  }
  if (!logs.isEmpty()) emit logLines(logs);
  if (!steps.isEmpty()) emit stepsArrived(steps);
  if (!evals.isEmpty()) emit evaluationsArrived(evals);
  for (const auto& p : previews) emit previewsArrived(p.first, p.second);
  if (followTotal && follower_) follower_->setTotalSteps(*followTotal);
  if (opened) {
    runDir_ = *opened;
    emit runOpened(*opened);
  }
  if (failedMessage) emit failed(*failedMessage);
  if (ended) {
    setState(SessionState::Idle);
    if (!failedMessage) emit finished(endedDir, stopped);
  }
  if (endedSweep) {
    sweepFolder_.clear();
    emit sweepEnded(*endedSweep, stopped);
  }
  if (modelChanged) emit sessionChanged();
}

}  // namespace pretext
