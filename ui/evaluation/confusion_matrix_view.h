#pragma once
// A confusion matrix as a heat map with class names: rows are the true classes, columns the
// predictions; colour = share of the row (so rare classes read as clearly as common ones),
// counts printed in the cells when they are large enough, tooltips with the details.
#include <QStringList>
#include <QVector>
#include <QWidget>

namespace pretext {

class ConfusionMatrixView : public QWidget {
  Q_OBJECT

 public:
  explicit ConfusionMatrixView(QWidget* parent = nullptr);

  // counts: row-major C x C (rows = true class). classNames may be empty (then 0..C-1);
  // a size that is not C*C clears the view and shows `title` as a message.
  void setMatrix(const QVector<qint64>& counts, const QStringList& classNames,
                 const QString& title = {});
  void clear(const QString& message = {});
  int classes() const { return classes_; }
  qint64 total() const;
  qint64 count(int trueClass, int predicted) const {
    return counts_[trueClass * classes_ + predicted];
  }

  QSize sizeHint() const override { return {460, 420}; }
  QSize minimumSizeHint() const override { return {200, 180}; }

 protected:
  void paintEvent(QPaintEvent*) override;
  bool event(QEvent* e) override;

 private:
  struct Geometry {
    QRect grid;  // the cells
    double cell = 0;
    bool names = true;
    int colNamesH = 0;  // the band under the grid that the column names take
  };
  Geometry geometry() const;
  QString name(int c) const;

  QVector<qint64> counts_;
  QStringList names_;
  QString title_;
  int classes_ = 0;
};

}  // namespace pretext
