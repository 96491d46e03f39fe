#include "ui/sweep/sweep_plot.h"

#include <cmath>
#include <limits>
#include <map>

#include "viz/colormap.h"

namespace pretext {

namespace {

QString probeTitle(const std::string& probe) {
  return probe == "knn"      ? QStringLiteral("kNN top-1 (%)")
         : probe == "linear" ? QStringLiteral("linear probe top-1 (%)")
                             : QString::fromStdString(probe) + QStringLiteral(" top-1 (%)");
}

QString settingLabel(const nlohmann::json& v) {
  if (v.is_string()) return QString::fromStdString(v.get<std::string>());
  if (v.is_number_float()) return QString::number(v.get<double>(), 'g', 4);
  return QString::fromStdString(v.dump());
}

QCPColorGradient viridisGradient() {
  QCPColorGradient g;
  g.clearColorStops();
  for (int i = 0; i <= 16; ++i)
    g.setColorStopAt(i / 16.0, QColor(colormap(i / 16.0, Colormap::Viridis)));
  g.setNanHandling(QCPColorGradient::nhNanColor);
  g.setNanColor(QColor(missingColor()));
  return g;
}

// A QCPColorMap spans its cells' centres: one cell needs a range of its own width.
QCPRange cellCentres(int n) { return n > 1 ? QCPRange(0, n - 1) : QCPRange(-0.5, 0.5); }

}  // namespace

SweepPlot::SweepPlot(QWidget* parent) : QCustomPlot(parent) {
  setObjectName("sweepPlot");
  setNoAntialiasingOnDrag(true);
  margins_ = new QCPMarginGroup(this);
  axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins_);
  clearResults();
}

void SweepPlot::clearResults() {
  clearPlottables();
  clearItems();
  map_ = nullptr;
  scatter_ = nullptr;
  labels_.clear();
  if (scale_) {
    plotLayout()->remove(scale_);
    plotLayout()->simplify();
    scale_ = nullptr;
  }
  for (QCPAxis* axis : {xAxis, yAxis}) {
    axis->setScaleType(QCPAxis::stLinear);
    axis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    axis->setLabel({});
    axis->grid()->setVisible(true);
  }
  replot(rpQueuedReplot);
}

void SweepPlot::showResults(const SweepResults& results, const std::string& probe,
                            const std::string& xKey, bool logX) {
  clearResults();
  if (results.random || results.axes.empty())
    showScatter(results, probe, xKey, logX);
  else
    showGrid(results, probe);
  replot(rpQueuedReplot);
}

void SweepPlot::showGrid(const SweepResults& r, const std::string& probe) {
  const int nx = int(r.axes[0].values.size());
  const int ny = r.axes.size() > 1 ? int(r.axes[1].values.size()) : 1;
  map_ = new QCPColorMap(xAxis, yAxis);
  map_->setInterpolate(false);
  map_->data()->setSize(nx, ny);
  map_->data()->setRange(cellCentres(nx), cellCentres(ny));
  map_->data()->fill(std::numeric_limits<double>::quiet_NaN());
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  const SweepPointResult* best = nullptr;
  for (const auto& p : r.points) {
    if (p.cell.empty()) continue;
    const double v = r.value(p, probe);
    map_->data()->setCell(p.cell[0], p.cell.size() > 1 ? p.cell[1] : 0, v);
    if (std::isnan(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    if (!best || v > r.value(*best, probe)) best = &p;
  }
  if (!(lo <= hi)) lo = 0, hi = 100;  // nothing yet
  if (hi - lo < 1e-9) lo -= 1, hi += 1;

  scale_ = new QCPColorScale(this);
  plotLayout()->addElement(0, 1, scale_);
  scale_->setType(QCPAxis::atRight);
  scale_->axis()->setLabel(probeTitle(probe));
  map_->setColorScale(scale_);  // takes the scale's gradient and range: set them after
  map_->setGradient(viridisGradient());
  map_->setDataRange(QCPRange(lo, hi));
  scale_->setMarginGroup(QCP::msBottom | QCP::msTop, margins_);

  auto ticker = [](const SweepAxis* axis) {
    QSharedPointer<QCPAxisTickerText> t(new QCPAxisTickerText);
    if (axis)
      for (size_t i = 0; i < axis->values.size(); ++i)
        t->addTick(double(i), settingLabel(axis->values[i]));
    return t;
  };
  xAxis->setTicker(ticker(&r.axes[0]));
  xAxis->setLabel(QString::fromStdString(r.axes[0].key));
  yAxis->setTicker(ticker(r.axes.size() > 1 ? &r.axes[1] : nullptr));
  yAxis->setLabel(r.axes.size() > 1 ? QString::fromStdString(r.axes[1].key) : QString());
  for (QCPAxis* axis : {xAxis, yAxis}) axis->grid()->setVisible(false);
  xAxis->setRange(-0.5, nx - 0.5);
  yAxis->setRange(-0.5, ny - 0.5);

  labels_ = QVector<QVector<QCPItemText*>>(nx, QVector<QCPItemText*>(ny, nullptr));
  QFont font = this->font();
  font.setPointSizeF(font.pointSizeF() * 1.3);
  font.setBold(true);
  for (const auto& p : r.points) {
    if (p.cell.empty()) continue;
    const int i = p.cell[0], j = p.cell.size() > 1 ? p.cell[1] : 0;
    const double v = r.value(p, probe);
    auto* text = new QCPItemText(this);
    text->position->setCoords(i, j);
    text->setFont(font);
    text->setText(std::isnan(v) ? (p.status == "pending" ? QStringLiteral("-")
                                                         : QString::fromStdString(p.status))
                                : QString::number(v, 'f', 2));
    // Light text on the dark half of viridis.
    const bool dark = !std::isnan(v) && (v - lo) / (hi - lo) < 0.6;
    text->setColor(dark ? Qt::white : Qt::black);
    labels_[i][j] = text;
  }
  if (best) {
    const int i = best->cell[0], j = best->cell.size() > 1 ? best->cell[1] : 0;
    auto* frame = new QCPItemRect(this);
    frame->topLeft->setCoords(i - 0.48, j + 0.48);
    frame->bottomRight->setCoords(i + 0.48, j - 0.48);
    frame->setPen(QPen(QColor(220, 40, 40), 3));
  }
}

void SweepPlot::showScatter(const SweepResults& r, const std::string& probe,
                            const std::string& xKey, bool logX) {
  if (r.keys.empty()) return;
  size_t k = 0;
  for (size_t i = 0; i < r.keys.size(); ++i)
    if (r.keys[i] == xKey) k = i;
  // Numbers as they are; other values (choices) at positions 0, 1, ... in order of appearance.
  std::map<std::string, int> categories;
  QSharedPointer<QCPAxisTickerText> text(new QCPAxisTickerText);
  QVector<double> xs, ys;
  for (const auto& p : r.points) {
    const double v = r.value(p, probe);
    if (std::isnan(v) || k >= p.settings.size()) continue;
    const nlohmann::json& s = p.settings[k].second;
    double x = 0;
    if (s.is_number()) {
      x = s.get<double>();
    } else {
      const std::string label = settingLabel(s).toStdString();
      auto it = categories.find(label);
      if (it == categories.end()) {
        it = categories.emplace(label, int(categories.size())).first;
        text->addTick(it->second, QString::fromStdString(label));
      }
      x = it->second;
    }
    xs.append(x);
    ys.append(v);
  }
  scatter_ = addGraph();
  scatter_->setLineStyle(QCPGraph::lsNone);
  scatter_->setScatterStyle(
      QCPScatterStyle(QCPScatterStyle::ssDisc, QColor(colormap(0.35, Colormap::Viridis)), 9));
  scatter_->setData(xs, ys);
  xAxis->setLabel(QString::fromStdString(r.keys[k]));
  yAxis->setLabel(probeTitle(probe));
  if (!categories.empty()) {
    xAxis->setTicker(text);
    xAxis->setRange(-0.5, double(categories.size()) - 0.5);
  } else if (logX) {
    xAxis->setScaleType(QCPAxis::stLogarithmic);
    xAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
  }
  if (!xs.isEmpty()) {
    if (categories.empty()) {
      scatter_->rescaleKeyAxis();
      const QCPRange x = xAxis->range();
      if (logX)
        xAxis->setRange(x.lower / 1.3, x.upper * 1.3);
      else
        xAxis->setRange(x.lower - 0.05 * std::max(x.size(), 1e-9),
                        x.upper + 0.05 * std::max(x.size(), 1e-9));
    }
    scatter_->rescaleValueAxis();
    const QCPRange y = yAxis->range();
    yAxis->setRange(y.lower - std::max(0.5, 0.1 * y.size()),
                    y.upper + std::max(0.5, 0.1 * y.size()));
  }
}

double SweepPlot::cellValue(int i, int j) const {
  return map_ ? map_->data()->cell(i, j) : std::nan("");
}

QString SweepPlot::cellText(int i, int j) const {
  if (i < 0 || i >= labels_.size() || j < 0 || j >= labels_[i].size() || !labels_[i][j]) return {};
  return labels_[i][j]->text();
}

QVector<QPointF> SweepPlot::scatterPoints() const {
  QVector<QPointF> out;
  if (!scatter_) return out;
  for (auto it = scatter_->data()->constBegin(); it != scatter_->data()->constEnd(); ++it)
    out.append(QPointF(it->key, it->value));
  return out;
}

}  // namespace pretext
