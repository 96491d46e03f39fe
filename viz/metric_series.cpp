#include "viz/metric_series.h"

#include <QFile>
#include <QStringList>
#include <QTextStream>
#include <algorithm>
#include <cmath>
#include <string>

#include "core/util/error.h"

namespace pretext {

MetricSeries::MetricSeries(size_t capacity) : capacity_(capacity) {}

void MetricSeries::append(double x, double y) {
  xs_.push_back(x);
  ys_.push_back(y);
  if (capacity_ > 0 && xs_.size() > capacity_) {
    xs_.pop_front();
    ys_.pop_front();
  }
}

void MetricSeries::clear() {
  xs_.clear();
  ys_.clear();
}

void MetricSeries::setCapacity(size_t capacity) {
  capacity_ = capacity;
  while (capacity_ > 0 && xs_.size() > capacity_) {
    xs_.pop_front();
    ys_.pop_front();
  }
}

MetricSeries MetricSeries::smoothed(double weight) const {
  if (!(weight >= 0.0 && weight < 1.0))
    throw Error("MetricSeries::smoothed: weight must be in [0,1), got " + std::to_string(weight));
  MetricSeries out(capacity_);
  double last = 0.0;
  int count = 0;  // finite values seen: the debiasing exponent
  for (size_t i = 0; i < xs_.size(); ++i) {
    const double y = ys_[i];
    if (!std::isfinite(y) || weight == 0.0) {
      out.append(xs_[i], y);
      continue;
    }
    last = last * weight + (1.0 - weight) * y;
    ++count;
    out.append(xs_[i], last / (1.0 - std::pow(weight, count)));
  }
  return out;
}

MetricSeries MetricSeries::decimated(int maxPoints) const {
  if (maxPoints < 2)
    throw Error("MetricSeries::decimated: maxPoints must be >= 2, got " +
                std::to_string(maxPoints));
  const size_t n = xs_.size();
  if (n <= static_cast<size_t>(maxPoints)) return *this;
  MetricSeries out;
  const size_t buckets = static_cast<size_t>(maxPoints) / 2;
  for (size_t b = 0; b < buckets; ++b) {
    const size_t begin = b * n / buckets;
    const size_t end = (b + 1) * n / buckets;
    if (begin >= end) continue;
    size_t lo = begin, hi = begin;
    for (size_t i = begin + 1; i < end; ++i) {
      // NaN never wins a comparison, so a bucket keeps its finite extremes.
      if (ys_[i] < ys_[lo] || std::isnan(ys_[lo])) lo = i;
      if (ys_[i] > ys_[hi] || std::isnan(ys_[hi])) hi = i;
    }
    const size_t first = std::min(lo, hi), second = std::max(lo, hi);
    out.append(xs_[first], ys_[first]);
    if (second != first) out.append(xs_[second], ys_[second]);
  }
  return out;
}

MetricSeries loadCsvColumn(const QString& csvPath, const QString& column) {
  const std::string file = csvPath.toStdString();
  QFile in(csvPath);
  if (!in.open(QIODevice::ReadOnly | QIODevice::Text))
    throw Error(file + ": cannot open metrics CSV (" + in.errorString().toStdString() + ")");
  QTextStream text(&in);
  QString headerLine;
  if (!text.readLineInto(&headerLine) || headerLine.trimmed().isEmpty())
    throw Error(file + ": empty metrics CSV, expected a header line");
  QStringList header = headerLine.split(',');
  for (QString& h : header) h = h.trimmed();
  const int stepIndex = static_cast<int>(header.indexOf(QStringLiteral("step")));
  const int valueIndex = static_cast<int>(header.indexOf(column));
  const std::string present = header.join(", ").toStdString();
  if (stepIndex < 0)
    throw Error(file + ": no 'step' column in the header (columns: " + present + ")");
  if (valueIndex < 0)
    throw Error(file + ": no column '" + column.toStdString() +
                "' in the header (columns: " + present + ")");
  MetricSeries series;
  QString line;
  int lineNumber = 1;
  auto number = [&](const QString& cell, const char* what) {
    bool ok = false;
    const double v = cell.toDouble(&ok);
    if (!ok)
      throw Error(file + ":" + std::to_string(lineNumber) + ": " + what + " cell '" +
                  cell.toStdString() + "' is not a number");
    return v;
  };
  while (text.readLineInto(&line)) {
    ++lineNumber;
    if (line.trimmed().isEmpty()) continue;
    const QStringList cells = line.split(',');
    const QString stepCell = stepIndex < cells.size() ? cells[stepIndex].trimmed() : QString();
    const QString valueCell = valueIndex < cells.size() ? cells[valueIndex].trimmed() : QString();
    if (stepCell.isEmpty() || valueCell.isEmpty()) continue;
    const double step = number(stepCell, "step");
    series.append(step, number(valueCell, column.toStdString().c_str()));
  }
  return series;
}

}  // namespace pretext
