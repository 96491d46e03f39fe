#include "viz/metric_series.h"

#include <QFile>
#include <QStringList>
#include <QTextStream>
#include <algorithm>
#include <cmath>
#include <string>

#include "core/util/error.h"

namespace pretext {

EmaSmoother::EmaSmoother(double weight) : weight_(weight) {
  if (!(weight >= 0.0 && weight < 1.0))
    throw Error("MetricSeries::smoothed: weight must be in [0,1), got " + std::to_string(weight));
}

double EmaSmoother::push(double y) {
  if (!std::isfinite(y) || weight_ == 0.0) return y;
  last_ = last_ * weight_ + (1.0 - weight_) * y;
  decay_ *= weight_;
  return last_ / (1.0 - decay_);
}

void EmaSmoother::reset() {
  last_ = 0.0;
  decay_ = 1.0;
}

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
  EmaSmoother ema(weight);  // validates the weight
  MetricSeries out(capacity_);
  for (size_t i = 0; i < xs_.size(); ++i) out.append(xs_[i], ema.push(ys_[i]));
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

size_t MetricSeries::lowerBound(double x) const {
  return static_cast<size_t>(std::lower_bound(xs_.begin(), xs_.end(), x) - xs_.begin());
}

MetricSeries MetricSeries::slice(double xMin, double xMax) const {
  MetricSeries out;
  if (xs_.empty() || xMax < xMin) return out;
  size_t begin = lowerBound(xMin);
  size_t end = static_cast<size_t>(std::upper_bound(xs_.begin(), xs_.end(), xMax) - xs_.begin());
  if (begin > 0) --begin;
  if (end < xs_.size()) ++end;
  for (size_t i = begin; i < end; ++i) out.append(xs_[i], ys_[i]);
  return out;
}

namespace {

// Linear interpolation over two ascending deques: the value in `to` where `from` reaches v.
double interpolateOver(const std::deque<double>& from, const std::deque<double>& to, double v) {
  if (from.empty()) return std::nan("");
  if (v <= from.front()) return to.front();
  if (v >= from.back()) return to.back();
  const size_t hi =
      static_cast<size_t>(std::lower_bound(from.begin(), from.end(), v) - from.begin());
  const size_t lo = hi - 1;
  const double span = from[hi] - from[lo];
  if (!(span > 0)) return to[hi];
  const double t = (v - from[lo]) / span;
  return to[lo] + t * (to[hi] - to[lo]);
}

}  // namespace

double MetricSeries::interpolate(double x) const { return interpolateOver(xs_, ys_, x); }

double MetricSeries::invertMonotonic(double y) const { return interpolateOver(ys_, xs_, y); }

namespace {

struct CsvHeader {
  QStringList columns;
  int stepIndex = -1;
};

CsvHeader readHeader(QTextStream& text, const std::string& file) {
  QString headerLine;
  if (!text.readLineInto(&headerLine) || headerLine.trimmed().isEmpty())
    throw Error(file + ": empty metrics CSV, expected a header line");
  CsvHeader h;
  h.columns = headerLine.split(',');
  for (QString& c : h.columns) c = c.trimmed();
  h.stepIndex = static_cast<int>(h.columns.indexOf(QStringLiteral("step")));
  if (h.stepIndex < 0)
    throw Error(file + ": no 'step' column in the header (columns: " +
                h.columns.join(", ").toStdString() + ")");
  return h;
}

double parseCell(const QString& cell, const std::string& file, int lineNumber,
                 const QString& what) {
  bool ok = false;
  const double v = cell.toDouble(&ok);
  if (!ok)
    throw Error(file + ":" + std::to_string(lineNumber) + ": " + what.toStdString() + " cell '" +
                cell.toStdString() + "' is not a number");
  return v;
}

}  // namespace

MetricSeries loadCsvColumn(const QString& csvPath, const QString& column) {
  const std::string file = csvPath.toStdString();
  QFile in(csvPath);
  if (!in.open(QIODevice::ReadOnly | QIODevice::Text))
    throw Error(file + ": cannot open metrics CSV (" + in.errorString().toStdString() + ")");
  QTextStream text(&in);
  const CsvHeader header = readHeader(text, file);
  const int stepIndex = header.stepIndex;
  const int valueIndex = static_cast<int>(header.columns.indexOf(column));
  if (valueIndex < 0)
    throw Error(file + ": no column '" + column.toStdString() +
                "' in the header (columns: " + header.columns.join(", ").toStdString() + ")");
  MetricSeries series;
  QString line;
  int lineNumber = 1;
  while (text.readLineInto(&line)) {
    ++lineNumber;
    if (line.trimmed().isEmpty()) continue;
    const QStringList cells = line.split(',');
    const QString stepCell = stepIndex < cells.size() ? cells[stepIndex].trimmed() : QString();
    const QString valueCell = valueIndex < cells.size() ? cells[valueIndex].trimmed() : QString();
    if (stepCell.isEmpty() || valueCell.isEmpty()) continue;
    const double step = parseCell(stepCell, file, lineNumber, QStringLiteral("step"));
    series.append(step, parseCell(valueCell, file, lineNumber, column));
  }
  return series;
}

MetricsTable loadMetricsCsv(const QString& csvPath) {
  const std::string file = csvPath.toStdString();
  QFile in(csvPath);
  if (!in.open(QIODevice::ReadOnly | QIODevice::Text))
    throw Error(file + ": cannot open metrics CSV (" + in.errorString().toStdString() + ")");
  QTextStream text(&in);
  const CsvHeader header = readHeader(text, file);
  MetricsTable table;
  std::vector<MetricSeries*> byIndex(header.columns.size(), nullptr);
  for (int i = 0; i < header.columns.size(); ++i) {
    if (i == header.stepIndex || header.columns[i].isEmpty()) continue;
    table.columns << header.columns[i];
    table.series.insert(header.columns[i], MetricSeries());
  }
  // Pointers after every insert: QMap nodes do not move, but take them once the map is final.
  for (int i = 0; i < header.columns.size(); ++i)
    if (table.series.contains(header.columns[i]) && i != header.stepIndex)
      byIndex[i] = &table.series[header.columns[i]];
  auto parseRow = [&](const QString& line, int lineNumber) {
    const QStringList cells = line.split(',');
    const QString stepCell =
        header.stepIndex < cells.size() ? cells[header.stepIndex].trimmed() : QString();
    if (stepCell.isEmpty()) return;
    const double step = parseCell(stepCell, file, lineNumber, QStringLiteral("step"));
    // Parse the whole row before appending, so a bad row leaves no partial points behind.
    std::vector<std::pair<MetricSeries*, double>> values;
    for (int i = 0; i < cells.size() && i < static_cast<int>(byIndex.size()); ++i) {
      const QString cell = cells[i].trimmed();
      if (byIndex[i] && !cell.isEmpty())
        values.emplace_back(byIndex[i], parseCell(cell, file, lineNumber, header.columns[i]));
    }
    for (const auto& [series, v] : values) series->append(step, v);
  };
  QString line, next;
  int lineNumber = 1;
  bool more = text.readLineInto(&line);
  while (more) {
    ++lineNumber;
    more = text.readLineInto(&next);
    if (!line.trimmed().isEmpty()) {
      if (more) {
        parseRow(line, lineNumber);
      } else if (line.count(',') + 1 >= header.columns.size()) {
        // The last line may be torn by a kill mid-write (see RunDirectory::truncateMetrics):
        // a short or unparsable last row is dropped rather than hiding the whole run.
        try {
          parseRow(line, lineNumber);
        } catch (const Error&) {
        }
      }
    }
    line.swap(next);
  }
  return table;
}

}  // namespace pretext
