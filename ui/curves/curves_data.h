#pragma once
// The training curves of one run as the curves panel keeps them: every series keyed by step,
// smoothed incrementally as points arrive, with step -> epoch and step -> wall-time maps so the
// plot can switch its x axis without re-reading anything. No widgets here; tests use it alone.
#include <QString>
#include <QStringList>
#include <QVector>
#include <map>

#include "viz/metric_series.h"

namespace pretext {

struct StepPoint;
struct EvalPoint;

enum class CurveX { Steps, Epochs, WallTime };

// A raw series and its TensorBoard-smoothed twin (identical when the weight is 0).
struct Curve {
  explicit Curve(size_t capacity = 0, bool smooth = false)
      : raw(capacity), smoothed(capacity), smooth(smooth) {}
  MetricSeries raw;
  MetricSeries smoothed;
  EmaSmoother ema;
  bool smooth;  // false: `smoothed` stays empty (lr, kNN points)

  void append(double step, double y);
  void clear();
  void setSmoothing(double weight);  // recomputes `smoothed` from `raw`
};

class RunCurves {
 public:
  // Ring-buffer size of every series: the oldest points drop beyond it. Half a million steps is
  // far beyond a desktop run and bounds memory at a few tens of MB.
  static constexpr size_t kCapacity = 500000;

  explicit RunCurves(size_t capacity = kCapacity);

  void clear();
  void addStep(const StepPoint& p);
  void addEval(const EvalPoint& p);
  // Smoothing weight in [0,1) for loss and method metrics; recomputes what is stored.
  void setSmoothing(double weight);
  double smoothing() const { return smoothing_; }

  // Loads <runDir>/metrics.csv (and the exact kNN evaluation steps from metrics.jsonl when it
  // is there). maxStep >= 0 keeps only rows up to that step (a resumed run's history).
  // Throws pretext::Error naming the file when the run has no readable metrics.
  void load(const QString& runDir, double smoothing, qint64 maxStep = -1);

  const Curve& loss() const { return loss_; }
  const Curve& lr() const { return lr_; }
  const Curve& knn() const { return knn_; }
  const Curve& imgPerSec() const { return imgPerSec_; }
  // Method metrics in first-seen order (the order their columns or StepPoint entries came in).
  const QStringList& metricNames() const { return metricNames_; }
  const Curve* metric(const QString& name) const;

  bool empty() const { return loss_.raw.empty() && knn_.raw.empty(); }
  qint64 lastStep() const { return lastStep_; }
  // Dimension of the embedding behind emb_std (live steps, or a run's state.json); 0: unknown.
  qint64 embeddingDim() const { return embeddingDim_; }
  qint64 totalSteps() const { return totalSteps_; }
  double lastImgPerSec() const {
    return imgPerSec_.raw.empty() ? 0 : imgPerSec_.raw.y(imgPerSec_.raw.size() - 1);
  }

  // Step -> the x unit of the axis, and back (both interpolate; identity for Steps or when the
  // run carries no epoch/wall data yet).
  double toX(double step, CurveX mode) const;
  double toStep(double x, CurveX mode) const;

 private:
  Curve& metricSlot(const QString& name);
  void addWall(double step, double wall);

  size_t capacity_;
  qint64 embeddingDim_ = 0;
  double smoothing_ = 0;
  Curve loss_, lr_, knn_, imgPerSec_;
  QStringList metricNames_;
  std::map<QString, Curve> metrics_;
  MetricSeries epochOf_;  // step -> fractional epoch
  MetricSeries wallOf_;   // step -> seconds, made monotonic across resumes
  double wallOffset_ = 0, lastWall_ = 0;
  qint64 lastStep_ = 0, totalSteps_ = 0;
};

}  // namespace pretext
