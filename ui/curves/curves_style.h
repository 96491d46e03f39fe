#pragma once
// Colours shared by the curves panel's files.
#include <QColor>
#include <QIcon>
#include <QPainter>
#include <QPixmap>

namespace pretext::curves {

// matplotlib's tab10 (as viz::categoricalColors, without pulling LibTorch headers into ui/).
inline const QColor kPalette[] = {QColor(31, 119, 180),  QColor(255, 127, 14),  QColor(44, 160, 44),
                           QColor(214, 39, 40),   QColor(148, 103, 189), QColor(140, 86, 75),
                           QColor(227, 119, 194), QColor(127, 127, 127), QColor(188, 189, 34),
                           QColor(23, 190, 207)};
constexpr int kPaletteSize = 10;
inline const QColor kLiveColor = kPalette[0];
// Method metrics get their own colours, away from the live run's blue and the first overlays'.
inline const int kMetricColors[] = {2, 4, 9, 5, 6, 8};

inline QIcon swatch(const QColor& c) {
  QPixmap pm(12, 12);
  pm.fill(Qt::transparent);
  QPainter p(&pm);
  p.setRenderHint(QPainter::Antialiasing);
  p.setPen(Qt::NoPen);
  p.setBrush(c);
  p.drawRoundedRect(QRectF(1, 1, 10, 10), 2, 2);
  return QIcon(pm);
}

inline QColor faded(QColor c, int alpha) {
  c.setAlpha(alpha);
  return c;
}


}  // namespace pretext::curves
