#pragma once
// A small labelled matrix as a heat map: row and column names, the value printed in each cell
// when it fits, an axis caption on each side, a colour bar, a tooltip per cell. For layer-by-layer
// similarity (CKA) and other matrices of a handful to a few dozen rows.
#include <QSize>
#include <QStringList>
#include <QVector>
#include <QWidget>

namespace pretext {

class MatrixHeatmapView : public QWidget {
  Q_OBJECT

 public:
  explicit MatrixHeatmapView(QWidget* parent = nullptr);

  // values: row-major rows x columns (rows = rowNames.size(), columns = columnNames.size());
  // coloured by viridis from vmin to vmax. A size that does not match clears the view.
  void setMatrix(const QVector<double>& values, const QStringList& rowNames, const QStringList& columnNames,
                 double vmin = 0, double vmax = 1);
  void setAxisTitles(const QString& rows, const QString& columns);
  void clear(const QString& message = {});

  int rows() const { return rowNames_.size(); }
  int columns() const { return columnNames_.size(); }
  double value(int row, int column) const { return values_[row * columns() + column]; }
  QString rowName(int row) const { return rowNames_[row]; }
  QString columnName(int column) const { return columnNames_[column]; }
  // The cell under a point of the widget, or {-1,-1}.
  QPoint cellAt(const QPoint& pos) const;

  QSize sizeHint() const override { return {520, 440}; }
  QSize minimumSizeHint() const override { return {220, 180}; }

 protected:
  void paintEvent(QPaintEvent*) override;
  bool event(QEvent* e) override;

 private:
  struct Layout {
    QRect grid;
    double cellW = 0, cellH = 0;
    int rowNamesW = 0, colNamesH = 0;
  };
  Layout layoutNow() const;

  QVector<double> values_;
  QStringList rowNames_, columnNames_;
  QString rowsTitle_, columnsTitle_, message_;
  double vmin_ = 0, vmax_ = 1;
};

}  // namespace pretext
