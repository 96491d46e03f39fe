#pragma once
// A metric curve ready to plot: (x, y) points, optional ring-buffer capacity, TensorBoard-style
// smoothing and min/max-preserving decimation. Not thread-safe: the training thread appends to a
// locked buffer elsewhere and the GUI drains it into a MetricSeries on its own thread.
#include <QString>
#include <cstddef>
#include <deque>
#include <vector>

namespace pretext {

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

}  // namespace pretext
