#pragma once
// A metric curve ready to plot: (x, y) points, optional ring-buffer capacity, TensorBoard-style
// smoothing and min/max-preserving decimation. Not thread-safe: the training thread appends to a
// locked buffer elsewhere and the GUI drains it into a MetricSeries on its own thread.
#include <QMap>
#include <QString>
#include <QStringList>
#include <cstddef>
#include <deque>
#include <vector>

namespace pretext {

// The running state of TensorBoard's debiased EMA (see MetricSeries::smoothed), so that a live
// curve can be smoothed point by point as it grows instead of from the start on every update.
class EmaSmoother {
 public:
  // Throws pretext::Error for weight outside [0,1).
  explicit EmaSmoother(double weight = 0.0);
  double weight() const { return weight_; }
  // The smoothed value for the next point; non-finite y pass through and leave the state alone.
  double push(double y);
  void reset();

 private:
  double weight_;
  double last_ = 0.0;
  double decay_ = 1.0;  // weight^count, kept as a product: no pow() per point
};

class MetricSeries {
 public:
  // capacity = 0: unlimited; otherwise the oldest points are dropped beyond `capacity`.
  explicit MetricSeries(size_t capacity = 0);

  void append(double x, double y);
  void clear();
  size_t size() const { return xs_.size(); }
  bool empty() const { return xs_.empty(); }
  size_t capacity() const { return capacity_; }
  // Changes the capacity (0 = unlimited), dropping the oldest points if now over it.
  void setCapacity(size_t capacity);

  std::vector<double> xs() const { return {xs_.begin(), xs_.end()}; }
  std::vector<double> ys() const { return {ys_.begin(), ys_.end()}; }
  double x(size_t i) const { return xs_[i]; }
  double y(size_t i) const { return ys_[i]; }

  // TensorBoard's debiased exponential moving average, weight w in [0,1):
  //   last_i = w * last_{i-1} + (1 - w) * y_i,  last_{-1} = 0
  //   smoothed_i = last_i / (1 - w^(i+1))
  // so the first smoothed value equals the first value and a constant series stays constant.
  // Non-finite y values are carried through unchanged and do not enter the average.
  // w = 0 returns the series itself. Throws pretext::Error for w outside [0,1).
  MetricSeries smoothed(double weight) const;

  // At most maxPoints points for plotting, keeping spikes: the x range is cut into
  // maxPoints / 2 buckets of equal point count and each keeps its min and max points, in x order
  // (one point for a bucket whose min and max coincide). Returns a copy when size() <= maxPoints.
  // Throws pretext::Error for maxPoints < 2.
  MetricSeries decimated(int maxPoints) const;

  // The points whose x lies in [xMin, xMax] plus one neighbour on each side (so that a line
  // plotted from the slice still crosses the edges of that window). Needs x in ascending order,
  // as a metric curve keyed by step is. Empty when the series is.
  MetricSeries slice(double xMin, double xMax) const;

  // First index whose x >= `x` (size() if none); x must be ascending.
  size_t lowerBound(double x) const;
  // y at `x`, linearly interpolated between neighbours and clamped to the ends; NaN when empty.
  // With x ascending and y ascending too (epoch or wall time against step) this maps steps to
  // those units; see invertMonotonic for the way back.
  double interpolate(double x) const;
  // The x at which the (ascending) y reaches `y`, interpolated; NaN when empty.
  double invertMonotonic(double y) const;

 private:
  size_t capacity_;
  std::deque<double> xs_;
  std::deque<double> ys_;
};

// Reads one column of a run's metrics.csv (header line first, comma-separated) as a series
// keyed by its `step` column; rows whose cell in `column` (or `step`) is empty are skipped.
// Throws pretext::Error naming the file when it cannot be read, lacks `step` or `column`
// (the message lists the columns present), or holds a cell that is not a number.
MetricSeries loadCsvColumn(const QString& csvPath, const QString& column);

// Every column of a run's metrics.csv but `step` in one pass, each keyed by `step` (empty cells
// skipped, so a sparse column such as knn_top1 holds only the rows that have it). A last line
// with fewer cells than the header is a torn write from a killed run and is ignored.
// Throws like loadCsvColumn (no `step` column, unreadable file, a cell that is not a number).
struct MetricsTable {
  QStringList columns;  // header order, `step` excluded
  QMap<QString, MetricSeries> series;
  MetricSeries column(const QString& name) const { return series.value(name); }
};
MetricsTable loadMetricsCsv(const QString& csvPath);

}  // namespace pretext
