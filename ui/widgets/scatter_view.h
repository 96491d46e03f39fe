#pragma once
// A 2-D scatter plot of up to a few thousand class-coloured points, painted directly (no
// QCustomPlot: one hover/click hit test and one paint pass for all points). Hover shows the
// point's image and label in a card next to the cursor; click selects a point and emits
// pointClicked; clicking a legend entry highlights that class. The view fits the points
// (with a margin) every time they move, so an animated t-SNE stays on screen.
#include <QColor>
#include <QImage>
#include <QPointF>
#include <QRectF>
#include <QString>
#include <QStringList>
#include <QVector>
#include <QWidget>
#include <functional>

namespace pretext {

class ScatterView : public QWidget {
  Q_OBJECT

 public:
  explicit ScatterView(QWidget* parent = nullptr);

  // New points: positions in data units, one class index per point (-1 = unlabelled) and the
  // class names for the legend. Clears the hover and the selection.
  void setPoints(const QVector<QPointF>& positions, const QVector<int>& classes,
                 const QStringList& classNames);
  // Moves the existing points (same count; other sizes are ignored), keeping hover and selection.
  void setPositions(const QVector<QPointF>& positions);
  // The image shown when hovering point i (called lazily, on hover only).
  void setThumbnailProvider(std::function<QImage(int)> provider) {
    thumbnail_ = std::move(provider);
  }
  // Text shown in the middle when there are no points (e.g. "Computing features...").
  void setPlaceholder(const QString& text);

  int count() const { return positions_.size(); }
  const QVector<QPointF>& positions() const { return positions_; }
  int hovered() const { return hovered_; }
  int selected() const { return selected_; }
  int highlightedClass() const { return highlightClass_; }
  void setSelected(int index);
  void setHighlightedClass(int cls);  // -1 = none

  // The point under a widget position (within a few pixels), or -1. The legend entry under it,
  // or -1.
  int pointAt(const QPointF& widgetPos) const;
  int legendEntryAt(const QPointF& widgetPos) const;
  // Where point i is drawn, in widget coordinates.
  QPointF widgetPosition(int index) const;

  QSize sizeHint() const override { return {640, 480}; }
  QSize minimumSizeHint() const override { return {240, 180}; }

 signals:
  void pointClicked(int index);
  void pointHovered(int index);  // -1 when the cursor leaves the points

 protected:
  void paintEvent(QPaintEvent*) override;
  void mouseMoveEvent(QMouseEvent* e) override;
  void mousePressEvent(QMouseEvent* e) override;
  void leaveEvent(QEvent*) override;
  void resizeEvent(QResizeEvent*) override;

 private:
  void fit();
  QRectF plotRect() const;
  QRectF legendRect() const;
  void setHovered(int index);
  QColor colorOf(int cls) const;
  void paintCard(class QPainter& p);

  QVector<QPointF> positions_;
  QVector<int> classes_;
  QStringList classNames_;
  std::vector<QColor> palette_;
  QRectF bounds_;  // data-space rectangle mapped onto plotRect()
  QString placeholder_;
  std::function<QImage(int)> thumbnail_;
  int hovered_ = -1;
  int selected_ = -1;
  int highlightClass_ = -1;
  QImage hoverImage_;
};

}  // namespace pretext
