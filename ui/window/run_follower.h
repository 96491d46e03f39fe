#pragma once
// Follows a run folder that another process writes (File > Follow run...): polls its
// metrics.jsonl and state.json on a timer (core/train/run_tail.h reads only whole lines and
// atomically replaced files), turns new rows into the StepPoints and EvalPoints that a live
// run streams, and says when a new checkpoint has landed, when the writer went quiet, and when
// the run finished. Reading a poll's new bytes is cheap (at most a slice of the file), so it
// runs on the GUI thread; loading a checkpoint is the session controller's, on the engine thread.
#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QTimer>
#include <QVector>

#include "core/train/run_tail.h"

namespace pretext {

struct StepPoint;
struct EvalPoint;

class RunFollower : public QObject {
  Q_OBJECT

 public:
  explicit RunFollower(const QString& runDir, QObject* parent = nullptr);

  QString runDir() const { return runDir_; }
  // Polls once at once (state.json's step becomes the baseline: the caller loads that model
  // itself, so no checkpointLanded for it), then every intervalMs.
  void start(int intervalMs = 1000);
  void stop() { timer_.stop(); }
  bool active() const { return timer_.isActive(); }
  // The run's planned steps (for progress and the ETA); 0 while unknown.
  void setTotalSteps(qint64 total) { total_ = total; }
  qint64 totalSteps() const { return total_; }
  qint64 lastStep() const { return tail_.lastStep(); }
  bool finished() const { return finished_; }
  // After this long without a new row, stalled() is emitted on every poll.
  static constexpr int kQuietSeconds = 60;

 public slots:
  void poll();

 signals:
  void stepsArrived(const QVector<pretext::StepPoint>& points);
  void evaluationsArrived(const QVector<pretext::EvalPoint>& points);
  void checkpointLanded(qint64 step);
  void rewound();                         // the writer cut its metrics back (a resume)
  void stalled(qint64 quietSeconds);      // no new row for at least kQuietSeconds
  void ended(qint64 step);                // state.json says finished; polling stops
  void failed(const QString& message);    // a file could not be read; polling goes on

 private:
  QString runDir_;
  RunTail tail_;
  QTimer timer_;
  QElapsedTimer sinceRow_;
  qint64 total_ = 0;
  bool baseline_ = true;
  bool finished_ = false;
  QString lastError_;
};

}  // namespace pretext
