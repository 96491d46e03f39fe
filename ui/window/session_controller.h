#pragma once
// The window's side of the engine. One engine thread owns every model (docs/ARCHITECTURE.md, "Threads"):
// it trains, and it serves inspections between steps, while paused, or while idle. Trainer
// events are copied into a locked buffer on that thread; a ~25 Hz timer on the GUI thread drains
// it and emits one signal per kind, so training never waits on painting.
#include <QElapsedTimer>
#include <QImage>
#include <QObject>
#include <QPair>
#include <QString>
#include <QStringList>
#include <QTimer>
#include <QVector>
#include <QMetaType>

#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "core/config/experiment.h"

namespace pretext {

struct Session;
class TrainControl;
class RunFollower;

// Plain data that crosses from the engine thread to the window.
struct StepPoint {
  qint64 step = 0;
  qint64 totalSteps = 0;
  double epoch = 0;        // fractional epochs done
  double wallSeconds = 0;  // since this run (or resume) started
  double loss = 0;
  double lr = 0;
  double imgPerSec = 0;
  double etaSeconds = 0;
  QVector<QPair<QString, double>> metrics;  // method metrics (e.g. contrastive_acc)
  qint64 embeddingDim = 0;  // dimension behind the emb_std metric (0: none)
};

struct EvalPoint {
  qint64 step = 0;
  qint64 epoch = 0;  // the epoch that ended (0-based)
  QString kind;      // "knn"
  double top1 = 0;   // percent
};

struct PreviewImage {
  QString name;     // e.g. "rotation predictions"
  QString caption;
  QImage image;     // rendered grid (viz::renderPreview)
};

struct RunInfo {
  QString runDir;
  QString device;
  qint64 startStep = 0;
  qint64 totalSteps = 0;
  qint64 stepsPerEpoch = 0;
  qint64 trainImages = 0;
};

enum class SessionState {
  Idle,      // no training; inspections use the loaded/finished run or a random init
  Running,
  Paused,
  Stopping,  // stop requested, the trainer is writing its checkpoint
};

QString stateName(SessionState s);

class SessionController : public QObject {
  Q_OBJECT

 public:
  explicit SessionController(QObject* parent = nullptr);
  ~SessionController() override;  // stops training (checkpoint kept) and joins the engine thread

  SessionState state() const { return state_; }
  bool training() const { return state_ != SessionState::Idle; }
  // The run folder of the live or loaded run (empty for an untrained random init).
  QString runDir() const { return runDir_; }
  // The training step of the model that inspections see when sessionChanged is emitted: an
  // opened or followed run's checkpoint, a started or resumed run's first step, 0 for a random
  // init (while training, the steps that arrive say how far it has gone).
  qint64 modelStep() const { return modelStep_; }
  // The run folder being followed (File > Follow run...), or empty.
  QString followedRun() const;
  bool following() const { return follower_ != nullptr; }
  // "CPU (2 threads)" or "cuda:0 (NVIDIA H100 ...)" for the experiment's device setting.
  QString deviceName() const;

  void setRunsFolder(const QString& dir);  // default "runs" (PRETEXT_RUNS overrides)
  QString runsFolder() const { return runsFolder_; }

  // The experiment that Start trains; idle inspections without a loaded run use a random-init
  // session of it (rebuilt when its data, method, or backbone changes).
  void setExperiment(const Experiment& e);
  const Experiment& experiment() const { return experiment_; }

  // Runs work(session) on the engine thread (between steps while training, at once when idle)
  // and then done(result) on context's thread, unless context is gone by then. A non-empty key
  // coalesces: a request replaces the pending one with the same key (the older one is skipped,
  // its done never called). If work throws, inspectionFailed(message) is emitted instead.
  template <class T>
  void inspect(QObject* context, std::function<T(Session&)> work, std::function<void(T)> done,
               const QString& key = {}) {
    post(context, key, [work = std::move(work), done = std::move(done)](Session& s) {
      auto result = std::make_shared<T>(work(s));
      return std::function<void()>([done, result] { done(std::move(*result)); });
    });
  }
  // Untyped form: work returns the closure to run on context's thread.
  void post(QObject* context, const QString& key,
            std::function<std::function<void()>(Session&)> work);

  // Milliseconds between drains of the event buffer (default 40 = 25 Hz).
  void setDrainInterval(int ms) { drainTimer_.setInterval(ms); }

 public slots:
  void start();                        // trains experiment() into a new folder of runsFolder()
  void resumeRun(const QString& dir);  // continues a run folder from its checkpoint
  void openRun(const QString& dir);    // loads a run's model for inspection, no training
  // Follows a run folder another process is writing: opens it (its model, or a random init of
  // its experiment until its first checkpoint), then streams its new metrics as stepsArrived /
  // evaluationsArrived and reloads the model whenever a checkpoint lands (on the engine thread),
  // until it finishes or anything else is started or opened. pollMs: how often it looks.
  void followRun(const QString& dir, int pollMs = 1000);
  void stopFollowing();
  // Imports a PyTorch state_dict into a new run under runsFolder()/imported and opens it.
  void openWeights(const QString& file);
  // Runs a sweep (core/train/sweep.h) on the engine thread: a sweep file, or a sweep folder to
  // continue. Its points train one after another as Start's runs do (curves, Pause; Stop stops
  // the sweep, which continues when run again), each is evaluated, and the results grow in
  // FOLDER/sweep_results.json. folder empty: the sweep folder itself, or RUNS/sweeps/NAME.
  // Returns the sweep folder, or an empty string after failed() when the plan is refused.
  QString runSweep(const QString& sweepPath, const QString& folder = {});
  // The folder of the sweep being run, or empty.
  QString sweepFolder() const { return sweepFolder_; }
  void pause();
  void resume();
  void step();   // one batch: pauses a running session, or starts one paused
  void stop();   // cooperative; the run folder keeps a checkpoint and can be resumed
  void reset();  // stops, then forgets the model: inspections use a fresh random init

 signals:
  void stateChanged(pretext::SessionState state);
  void started(const pretext::RunInfo& info);
  void stepsArrived(const QVector<pretext::StepPoint>& points);
  void evaluationsArrived(const QVector<pretext::EvalPoint>& points);
  void previewsArrived(qint64 step, const QVector<pretext::PreviewImage>& previews);
  void logLines(const QStringList& lines);
  void finished(const QString& runDir, bool stopped);
  void failed(const QString& message);
  // The model that inspections see changed (a run started, opened, finished, or was reset,
  // or the experiment changed while idle): panels showing inspections refresh.
  void sessionChanged();
  void inspectionFailed(const QString& message);
  void runOpened(const QString& runDir);
  void experimentChanged();  // setExperiment was called
  void cleared();            // reset(): panels drop what they show of the old run
  void followingChanged(const QString& runDir);  // started following runDir; empty: stopped
  void followStalled(qint64 quietSeconds);       // the followed run wrote nothing for a while
  void followRewound(const QString& runDir);     // its metrics were cut back (it was resumed)
  void followEnded(const QString& runDir, qint64 step);  // it finished (its last model loaded)
  void sweepStarted(const QString& folder);
  void sweepEnded(const QString& folder, bool stopped);  // every point done, or stopped

 public:
  struct Shared;  // internal: the event buffer and the engine's state (session_controller.cpp)

 private:
  void drain();
  void setState(SessionState s);
  void launch(const QString& resumeDir, bool startPaused);
  // On the engine thread: `runDir()` names (or makes) a run folder, whose model becomes the
  // inspected one; an error goes to failed(), prefixed with `errorPrefix`.
  // With `follow`, a run without a checkpoint yet opens as a random init of its experiment.
  void postOpen(std::function<QString()> runDir, const QString& errorPrefix, bool follow = false);
  void reloadFollowed(qint64 step);  // a followed run's new checkpoint, loaded on the engine thread
  void engineLoop();

  std::shared_ptr<Shared> shared_;
  std::thread engine_;
  QTimer drainTimer_;
  Experiment experiment_;
  QString runsFolder_;
  QString runDir_;
  QString sweepFolder_;
  RunFollower* follower_ = nullptr;
  qint64 modelStep_ = 0;
  SessionState state_ = SessionState::Idle;
};

}  // namespace pretext

Q_DECLARE_METATYPE(pretext::StepPoint)
Q_DECLARE_METATYPE(pretext::EvalPoint)
Q_DECLARE_METATYPE(pretext::PreviewImage)
Q_DECLARE_METATYPE(pretext::RunInfo)
Q_DECLARE_METATYPE(pretext::SessionState)
