#pragma once
// The plot of the curves panel: stacked axis rects (loss, kNN accuracy, method metrics,
// learning rate) sharing one x axis, each with its title and legend; mouse zoom and pan,
// double-click to reset, a hover cursor with a tooltip of the values under it. The panel owns
// the data; this class owns the look and the interaction.
#include <qcustomplot.h>

#include <QVector>

#include "ui/curves/curves_data.h"

namespace pretext {

class CurvesPlot : public QCustomPlot {
  Q_OBJECT

 public:
  enum Row { LossRow, KnnRow, MetricsRow, CollapseRow, LrRow, RowCount };

  explicit CurvesPlot(QWidget* parent = nullptr);

  QCPAxisRect* rect(Row row) const { return rows_[row].rect; }
  QCPLegend* rowLegend(Row row) const { return rows_[row].legend; }
  // Rows without data are taken out of the layout; the loss row always stays.
  void setRowVisible(Row row, bool visible);
  bool rowVisible(Row row) const { return rows_[row].visible; }

  // A line graph in `row`; `legendName` empty keeps it out of the legend. `rightAxis`: on the
  // row's right value axis (a second scale, shown when a graph uses it).
  QCPGraph* addCurve(Row row, const QString& name, const QPen& pen, const QString& legendName = {},
                     bool rightAxis = false);
  void removeCurve(QCPGraph* graph);

  void setXMode(CurveX mode);
  CurveX xMode() const { return xMode_; }
  void setLogLoss(bool log);
  bool logLoss() const { return logLoss_; }

  // The shared x range (every row's bottom axis follows the loss row's).
  QCPRange xRange() const;
  // Fits every visible row to its data (x shared, y per row with a little headroom).
  void fitToData();
  // The empty-plot message in the loss row ("no run yet ..."); empty hides it.
  void setPlaceholder(const QString& text);

  // "step 1,234" / "epoch 3.42" / "1:02:03" for an x value in the current mode.
  QString formatX(double x) const;

 signals:
  // The user dragged or zoomed: the view no longer follows new data until reset.
  void userChangedView();
  void resetRequested();  // double-click
  void xRangeChanged(const QCPRange& range);

 protected:
  void leaveEvent(QEvent* event) override;

 private:
  struct RowParts {
    QCPLayoutGrid* header = nullptr;  // title | legend
    QCPTextElement* title = nullptr;
    QCPAxisRect* rect = nullptr;
    QCPLegend* legend = nullptr;
    QCPItemStraightLine* cursor = nullptr;
    double stretch = 1;
    bool visible = true;
  };
  void relayout();
  void onMouseMove(QMouseEvent* event);
  void syncX(const QCPRange& range);
  void styleAxis(QCPAxis* axis);

  RowParts rows_[RowCount];
  QCPMarginGroup* margins_ = nullptr;
  QCPItemText* placeholder_ = nullptr;
  CurveX xMode_ = CurveX::Steps;
  bool logLoss_ = false;
  bool programmatic_ = false;  // range changes we make ourselves are not the user's
  bool syncing_ = false;       // inside syncX: the other rows' echoes are ignored
};

}  // namespace pretext
