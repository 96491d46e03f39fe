#include "ui/window/run_follower.h"

#include <cmath>

#include "ui/window/session_controller.h"

namespace pretext {

RunFollower::RunFollower(const QString& runDir, QObject* parent)
    : QObject(parent), runDir_(runDir), tail_(runDir.toStdString()) {
  connect(&timer_, &QTimer::timeout, this, &RunFollower::poll);
}

void RunFollower::start(int intervalMs) {
  baseline_ = true;
  sinceRow_.start();
  timer_.start(intervalMs);
  poll();
}

void RunFollower::poll() {
  RunTailUpdate update;
  try {
    update = tail_.poll();
  } catch (const std::exception& e) {
    const QString message = QString::fromStdString(e.what());
    if (message != lastError_) emit failed(message);  // once per distinct problem, not per poll
    lastError_ = message;
    return;
  }
  lastError_.clear();
  if (update.rewound && !baseline_) emit rewound();
  const double rate = tail_.stepsPerSecond();
  if (!update.steps.empty()) {
    QVector<StepPoint> points;
    points.reserve(static_cast<int>(update.steps.size()));
    for (const TailStep& s : update.steps) {
      StepPoint p;
      p.step = s.step;
      p.totalSteps = total_;
      p.epoch = s.epoch;
      p.wallSeconds = s.wallSeconds;
      p.loss = s.loss;
      p.lr = s.lr;
      p.imgPerSec = s.imgPerSec;
      p.etaSeconds = total_ > s.step && rate > 0 ? double(total_ - s.step) / rate : 0;
      for (const auto& [name, value] : s.metrics) p.metrics.append({QString::fromStdString(name), value});
      points.append(std::move(p));
    }
    sinceRow_.restart();
    emit stepsArrived(points);
  }
  if (!update.evals.empty()) {
    QVector<EvalPoint> points;
    for (const TailEval& e : update.evals)
      points.append({e.step, e.epoch, QString::fromStdString(e.kind), e.top1});
    emit evaluationsArrived(points);
  }
  if (update.checkpointStep >= 0 && !baseline_) emit checkpointLanded(update.checkpointStep);
  baseline_ = false;
  if (tail_.behind()) QTimer::singleShot(0, this, &RunFollower::poll);  // a long history: next slice
  if (update.finished && !tail_.behind()) {
    // Every row is read and the last checkpoint is announced: nothing more will come.
    finished_ = true;
    timer_.stop();
    emit ended(tail_.lastStep());
    return;
  }
  if (update.steps.empty() && sinceRow_.elapsed() >= kQuietSeconds * 1000)
    emit stalled(sinceRow_.elapsed() / 1000);
}

}  // namespace pretext
