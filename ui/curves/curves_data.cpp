#include "ui/curves/curves_data.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTextStream>
#include <cmath>

#include "core/util/error.h"
#include "ui/window/session_controller.h"

namespace pretext {

void Curve::append(double step, double y) {
  raw.append(step, y);
  if (smooth) smoothed.append(step, ema.push(y));
}

void Curve::clear() {
  raw.clear();
  smoothed.clear();
  ema.reset();
}

void Curve::setSmoothing(double weight) {
  ema = EmaSmoother(weight);
  if (!smooth) return;
  smoothed.clear();
  // Replaying the stored points leaves `ema` in the state that new points continue from.
  for (size_t i = 0; i < raw.size(); ++i) smoothed.append(raw.x(i), ema.push(raw.y(i)));
}

RunCurves::RunCurves(size_t capacity)
    : capacity_(capacity),
      loss_(capacity, true),
      lr_(capacity),
      knn_(capacity),
      imgPerSec_(capacity),
      epochOf_(capacity),
      wallOf_(capacity) {}

void RunCurves::clear() {
  for (Curve* c : {&loss_, &lr_, &knn_, &imgPerSec_}) c->clear();
  metrics_.clear();
  metricNames_.clear();
  epochOf_.clear();
  wallOf_.clear();
  wallOffset_ = lastWall_ = 0;
  lastStep_ = totalSteps_ = 0;
  embeddingDim_ = 0;
}

Curve& RunCurves::metricSlot(const QString& name) {
  auto it = metrics_.find(name);
  if (it == metrics_.end()) {
    it = metrics_.emplace(name, Curve(capacity_, true)).first;
    it->second.setSmoothing(smoothing_);
    metricNames_ << name;
  }
  return it->second;
}

const Curve* RunCurves::metric(const QString& name) const {
  auto it = metrics_.find(name);
  return it == metrics_.end() ? nullptr : &it->second;
}

void RunCurves::addWall(double step, double wall) {
  // wall_s restarts at 0 when a run is resumed; keep the axis monotonic across the restart.
  if (wall + wallOffset_ < lastWall_) wallOffset_ = lastWall_;
  lastWall_ = wall + wallOffset_;
  wallOf_.append(step, lastWall_);
}

void RunCurves::addStep(const StepPoint& p) {
  const double step = static_cast<double>(p.step);
  // A step at or before the last one (a resumed run replaying, or duplicated delivery) would
  // break the ascending keys that slicing and the x maps rely on.
  if (!loss_.raw.empty() && step <= loss_.raw.x(loss_.raw.size() - 1)) return;
  loss_.append(step, p.loss);
  lr_.append(step, p.lr);
  imgPerSec_.append(step, p.imgPerSec);
  epochOf_.append(step, p.epoch);
  addWall(step, p.wallSeconds);
  for (const auto& m : p.metrics) metricSlot(m.first).append(step, m.second);
  lastStep_ = p.step;
  if (p.totalSteps > 0) totalSteps_ = p.totalSteps;
  if (p.embeddingDim > 0) embeddingDim_ = p.embeddingDim;
}

void RunCurves::addEval(const EvalPoint& p) {
  if (p.kind != QLatin1String("knn")) return;
  const double step = static_cast<double>(p.step);
  if (!knn_.raw.empty() && step <= knn_.raw.x(knn_.raw.size() - 1)) return;
  knn_.append(step, p.top1);
}

void RunCurves::setSmoothing(double weight) {
  EmaSmoother check(weight);  // throws for a bad weight before anything changes
  smoothing_ = weight;
  loss_.setSmoothing(weight);
  for (auto& [name, curve] : metrics_) curve.setSmoothing(weight);
}

namespace {

// The kNN evaluations of metrics.jsonl, exactly where they happened. metrics.csv only carries
// the last value forward on each later row, so repeats of an equal score would be lost there.
MetricSeries loadJsonlKnn(const QString& path, qint64 maxStep, bool* found) {
  MetricSeries out;
  *found = false;
  QFile in(path);
  if (!in.open(QIODevice::ReadOnly | QIODevice::Text)) return out;
  QTextStream text(&in);
  QString line;
  while (text.readLineInto(&line)) {
    if (!line.contains(QLatin1String("\"eval\""))) continue;  // skip parsing the step rows
    const QJsonObject o = QJsonDocument::fromJson(line.toUtf8()).object();
    if (o.value("type").toString() != QLatin1String("eval") ||
        o.value("kind").toString() != QLatin1String("knn"))
      continue;
    *found = true;
    const double step = o.value("step").toDouble();
    if (maxStep >= 0 && step > maxStep) continue;
    if (!out.empty() && step <= out.x(out.size() - 1)) continue;
    out.append(step, o.value("top1").toDouble());
  }
  return out;
}

}  // namespace

void RunCurves::load(const QString& runDir, double smoothing, qint64 maxStep) {
  const QDir dir(runDir);
  const QString csv = dir.filePath("metrics.csv");
  if (!QFile::exists(csv))
    throw Error(runDir.toStdString() + ": this run has no metrics.csv yet (no step was logged)");
  const MetricsTable table = loadMetricsCsv(csv);
  clear();
  smoothing_ = smoothing;
  loss_.setSmoothing(smoothing);
  QFile state(dir.filePath("state.json"));
  if (state.open(QIODevice::ReadOnly))
    embeddingDim_ = QJsonDocument::fromJson(state.readAll()).object().value("embedding_dim").toInteger();
  const MetricSeries loss = table.column("loss");
  const MetricSeries lr = table.column("lr");
  const MetricSeries epoch = table.column("epoch");
  const MetricSeries wall = table.column("wall_s");
  const MetricSeries ips = table.column("img_per_s");
  auto valueAt = [](const MetricSeries& s, size_t i, double step) {
    // Columns share the step rows, so index i matches unless a cell was empty.
    if (i < s.size() && s.x(i) == step) return s.y(i);
    const size_t j = s.lowerBound(step);
    return j < s.size() && s.x(j) == step ? s.y(j) : std::nan("");
  };
  static const QStringList kFixed = {"epoch", "loss", "lr", "img_per_s", "wall_s", "knn_top1"};
  std::vector<std::pair<QString, const MetricSeries*>> methodColumns;
  for (const QString& c : table.columns)
    if (!kFixed.contains(c)) methodColumns.emplace_back(c, &*table.series.find(c));
  for (size_t i = 0; i < loss.size(); ++i) {
    const double step = loss.x(i);
    if (maxStep >= 0 && step > maxStep) break;
    if (!loss_.raw.empty() && step <= loss_.raw.x(loss_.raw.size() - 1)) continue;
    loss_.append(step, loss.y(i));
    lr_.append(step, valueAt(lr, i, step));
    imgPerSec_.append(step, valueAt(ips, i, step));
    // A row without epoch or wall time (an older CSV) leaves the x maps to the others.
    if (const double e = valueAt(epoch, i, step); std::isfinite(e)) epochOf_.append(step, e);
    if (const double w = valueAt(wall, i, step); std::isfinite(w)) addWall(step, w);
    for (const auto& [name, series] : methodColumns) {
      const double v = valueAt(*series, i, step);
      if (std::isfinite(v)) metricSlot(name).append(step, v);
    }
    lastStep_ = static_cast<qint64>(step);
  }
  bool fromJsonl = false;
  const MetricSeries knn = loadJsonlKnn(dir.filePath("metrics.jsonl"), maxStep, &fromJsonl);
  if (fromJsonl) {
    for (size_t i = 0; i < knn.size(); ++i) knn_.append(knn.x(i), knn.y(i));
  } else {
    // Only the CSV: an evaluation shows as a change of the carried-forward knn_top1 value.
    const MetricSeries carried = table.column("knn_top1");
    double previous = std::nan("");
    for (size_t i = 0; i < carried.size(); ++i) {
      if (maxStep >= 0 && carried.x(i) > maxStep) break;
      if (carried.y(i) != previous) knn_.append(carried.x(i), carried.y(i));
      previous = carried.y(i);
    }
  }
}

double RunCurves::toX(double step, CurveX mode) const {
  const MetricSeries* map = mode == CurveX::Epochs     ? &epochOf_
                            : mode == CurveX::WallTime ? &wallOf_
                                                       : nullptr;
  if (!map || map->empty()) return step;
  return map->interpolate(step);
}

double RunCurves::toStep(double x, CurveX mode) const {
  const MetricSeries* map = mode == CurveX::Epochs     ? &epochOf_
                            : mode == CurveX::WallTime ? &wallOf_
                                                       : nullptr;
  if (!map || map->empty()) return x;
  // Beyond the recorded range, extrapolate at the run's average rate so a zoomed-out window
  // still selects the right (empty) part of the series.
  const double first = map->y(0), last = map->y(map->size() - 1);
  const double s0 = map->x(0), s1 = map->x(map->size() - 1);
  const double rate = last > first ? (s1 - s0) / (last - first) : 0;
  if (x < first) return s0 - (first - x) * rate;
  if (x > last) return s1 + (x - last) * rate;
  return map->invertMonotonic(x);
}

}  // namespace pretext
