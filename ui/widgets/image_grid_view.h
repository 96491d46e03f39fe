#pragma once
// A clickable grid of small images with a caption under each (the neighbours panel's query
// picker and results; reusable by any panel). Images are upscaled by nearest neighbour so 28 px
// images stay crisp. The grid fills the width it is given (as many columns as fit, or a fixed
// number) and asks for the height it needs, so it sits well in a QScrollArea.
#include <QImage>
#include <QStringList>
#include <QVector>
#include <QWidget>

namespace pretext {

class ImageGridView : public QWidget {
  Q_OBJECT

 public:
  explicit ImageGridView(QWidget* parent = nullptr);

  // Captions (optional, one per image; "\n" breaks lines) starting with "x " mark a wrong result:
  // drawn in red, without the marker, with a red frame around the image (viz's imageGrid
  // convention).
  void setImages(const QVector<QImage>& images, const QStringList& captions = {});
  void setToolTips(const QStringList& tips);  // one per image (optional)
  void clear();
  int count() const { return images_.size(); }
  QString caption(int i) const { return i >= 0 && i < captions_.size() ? captions_[i] : QString(); }

  void setCellSize(int pixels);  // the preferred image size (default 56)
  int cellSize() const { return cellSize_; }
  void setColumns(int columns);  // 0 (default): as many as fit the width
  // With as many columns as fit: grow the cells from minCell up to maxCell while the whole grid
  // still fits the parent's height (the viewport of a QScrollArea), so a big window shows big
  // images. maxCell <= 0 turns it off (cells stay at cellSize()).
  void setFitRange(int minCell, int maxCell);
  void setSelected(int index);  // framed in the highlight colour; -1 = none
  int selected() const { return selected_; }
  // Text shown when the grid is empty (e.g. "Pick a query").
  void setPlaceholder(const QString& text);

  int cellAt(const QPoint& p) const;  // index of the cell under p, or -1
  QRect cellRect(int i) const;        // the image part of cell i
  QSize sizeHint() const override;
  QSize minimumSizeHint() const override;
  bool hasHeightForWidth() const override { return true; }
  int heightForWidth(int width) const override;

 signals:
  void cellClicked(int index);

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent* e) override;
  void resizeEvent(QResizeEvent* e) override;
  bool event(QEvent* e) override;  // tooltips

 private:
  struct Layout {
    int columns = 1, rows = 0, cell = 0, caption = 0;
  };
  Layout layoutFor(int width) const;
  Layout layoutWith(int width, int cell) const;
  void updateHeight();

  QVector<QImage> images_;
  QStringList captions_, tips_;
  QString placeholder_;
  int cellSize_ = 56;
  int columns_ = 0;
  int fitMin_ = 0, fitMax_ = 0;
  int selected_ = -1;
  static constexpr int kPad = 6;
};

}  // namespace pretext
