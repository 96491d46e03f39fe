#pragma once
// The sweep panel's plot (core/train/sweep.h): a grid sweep as a heat map of the chosen probe,
// one cell per point (first setting across, second up; a cell without a result yet is grey
// and names its state), the best point framed; a random search as a scatter of one setting
// against the probe (a log axis for a log_uniform setting).
#include <qcustomplot.h>

#include <QPointF>
#include <QVector>

#include "core/train/sweep.h"

namespace pretext {

class SweepPlot : public QCustomPlot {
  Q_OBJECT

 public:
  explicit SweepPlot(QWidget* parent = nullptr);

  // Shows `results` coloured by `probe` ("knn", "linear"); for a random search, against the
  // setting `xKey` (empty: the first). `logX`: that setting drawn on a log axis.
  void showResults(const SweepResults& results, const std::string& probe,
                   const std::string& xKey = {}, bool logX = false);
  void clearResults();

  bool showsHeatMap() const { return map_ != nullptr; }
  // The heat map's cell of the point with cell (i, j) (j = 0 with one setting): its result in
  // percent, NaN while it has none. Requires showsHeatMap().
  double cellValue(int i, int j) const;
  QString cellText(int i, int j) const;  // what is written on the cell
  // The scatter's points (setting, result) of a random search.
  QVector<QPointF> scatterPoints() const;

 private:
  void showGrid(const SweepResults& r, const std::string& probe);
  void showScatter(const SweepResults& r, const std::string& probe, const std::string& xKey,
                   bool logX);

  QCPColorMap* map_ = nullptr;
  QCPColorScale* scale_ = nullptr;
  QCPMarginGroup* margins_ = nullptr;  // the colour scale as tall as the map
  QCPGraph* scatter_ = nullptr;
  QVector<QVector<QCPItemText*>> labels_;  // [i][j]
};

}  // namespace pretext
