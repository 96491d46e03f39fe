#include "ui/curves/curves_plot.h"

#include <QToolTip>
#include <cmath>

namespace pretext {

namespace {

const QColor kAxisColor(176, 176, 176);
const QColor kTextColor(85, 85, 85);
const QColor kGridColor(232, 232, 232);

QString formatValue(CurvesPlot::Row row, double v) {
  if (!std::isfinite(v)) return QStringLiteral("–");
  switch (row) {
    case CurvesPlot::KnnRow:
      return QString::number(v, 'f', 2) + QLatin1Char('%');
    case CurvesPlot::LrRow:
      return QString::number(v, 'g', 3);
    default:
      return QString::number(v, 'g', 4);
  }
}

// Log-axis ticks at 1, 2 and 5 per decade (only powers of ten over wide ranges), labelled in
// plain numbers: a loss between 0.2 and 5 would otherwise get one label, "1".
class LogTicker : public QCPAxisTickerLog {
 public:
  void generate(const QCPRange& range, const QLocale& locale, QChar formatChar, int precision,
                QVector<double>& ticks, QVector<double>* subTicks,
                QVector<QString>* tickLabels) override {
    ticks.clear();
    if (subTicks) subTicks->clear();
    if (tickLabels) tickLabels->clear();
    if (!(range.lower > 0) || !(range.upper > range.lower)) return;
    const int lo = static_cast<int>(std::floor(std::log10(range.lower)));
    const int hi = static_cast<int>(std::ceil(std::log10(range.upper)));
    const int decades = hi - lo;
    QVector<double> mantissas = decades > 3   ? QVector<double>{1}
                                : decades > 1 ? QVector<double>{1, 2, 5}
                                              : QVector<double>{1, 2, 3, 5};
    for (int e = lo; e <= hi; ++e) {
      const double base = std::pow(10.0, e);
      for (int m = 1; m <= 9; ++m) {
        const double v = m * base;
        if (v < range.lower || v > range.upper) continue;
        if (mantissas.contains(m)) {
          ticks << v;
          if (tickLabels) *tickLabels << QString::number(v, 'g', 3);
        } else if (subTicks && decades <= 6) {
          *subTicks << v;
        }
      }
    }
  }
};

// The graph point nearest to `key` (data sorted by key); false when the graph is empty.
bool nearestPoint(const QCPGraph* g, double key, double* outKey, double* outValue) {
  const auto data = g->data();
  if (data->isEmpty()) return false;
  auto it = data->findBegin(key, false);
  if (it == data->constEnd()) --it;
  if (it != data->constBegin()) {
    auto prev = it - 1;
    if (std::abs(prev->key - key) < std::abs(it->key - key)) it = prev;
  }
  *outKey = it->key;
  *outValue = it->value;
  return true;
}

}  // namespace

CurvesPlot::CurvesPlot(QWidget* parent) : QCustomPlot(parent) {
  setAutoAddPlottableToLegend(false);
  setNoAntialiasingOnDrag(true);
  setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  setBackground(Qt::white);
  setMinimumSize(260, 220);
  plotLayout()->clear();  // the default axis rect and legend; the rows below replace them
  plotLayout()->setRowSpacing(0);
  margins_ = new QCPMarginGroup(this);

  const char* titles[RowCount] = {"Loss", "Online kNN accuracy", "Method metrics",
                                  "Collapse monitor", "Learning rate"};
  const double stretch[RowCount] = {3.0, 1.8, 1.8, 1.8, 1.2};
  QFont titleFont = font();
  titleFont.setPointSizeF(9);
  titleFont.setBold(true);
  QFont legendFont = font();
  legendFont.setPointSizeF(8);
  for (int r = 0; r < RowCount; ++r) {
    RowParts& row = rows_[r];
    row.stretch = stretch[r];
    // The header row holds the title on the left and the legend on the right, so that a
    // legend never covers the newest points (top right is where curves end).
    row.header = new QCPLayoutGrid;
    plotLayout()->addElement(2 * r, 0, row.header);  // gives it the plot before children come
    row.header->setColumnSpacing(8);
    row.title = new QCPTextElement(this, tr(titles[r]), titleFont);
    row.title->setTextColor(QColor(51, 51, 51));
    row.title->setTextFlags(Qt::AlignLeft | Qt::AlignVCenter);
    row.title->setMargins(QMargins(10, r == 0 ? 4 : 10, 0, 0));
    row.header->addElement(0, 0, row.title);
    row.rect = new QCPAxisRect(this, true);
    row.rect->setMarginGroup(QCP::msLeft | QCP::msRight, margins_);
    row.rect->setRangeDrag(Qt::Horizontal | Qt::Vertical);
    row.rect->setRangeZoom(Qt::Horizontal | Qt::Vertical);
    row.rect->setMinimumSize(60, 50);
    for (QCPAxis* a : row.rect->axes()) styleAxis(a);
    row.rect->axis(QCPAxis::atTop)->setVisible(false);
    row.rect->axis(QCPAxis::atRight)->setVisible(false);
    row.rect->axis(QCPAxis::atLeft)->setPadding(4);

    row.legend = new QCPLegend;
    row.header->addElement(0, 1, row.legend);
    row.header->setColumnStretchFactor(0, 1);
    row.header->setColumnStretchFactor(1, 0.01);
    row.legend->setLayer(QStringLiteral("legend"));
    row.legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    row.legend->setWrap(3);
    row.legend->setFont(legendFont);
    row.legend->setTextColor(QColor(60, 60, 60));
    row.legend->setBrush(Qt::NoBrush);
    row.legend->setBorderPen(Qt::NoPen);
    row.legend->setIconSize(18, 8);
    row.legend->setRowSpacing(2);
    row.legend->setColumnSpacing(12);
    row.legend->setMargins(QMargins(0, r == 0 ? 4 : 10, 8, 0));
    row.legend->setVisible(false);
    plotLayout()->addElement(2 * r + 1, 0, row.rect);

    connect(row.rect->axis(QCPAxis::atBottom),
            QOverload<const QCPRange&>::of(&QCPAxis::rangeChanged), this, &CurvesPlot::syncX);
    connect(row.rect->axis(QCPAxis::atLeft), QOverload<const QCPRange&>::of(&QCPAxis::rangeChanged),
            this, [this] {
              if (!programmatic_) emit userChangedView();
            });
  }
  rows_[KnnRow].rect->axis(QCPAxis::atLeft)->setLabel(QStringLiteral("top-1 %"));
  rows_[LrRow].rect->axis(QCPAxis::atLeft)->ticker()->setTickCount(2);  // a short row
  rows_[CollapseRow].rect->axis(QCPAxis::atLeft)->setLabel(tr("std of normalised emb."));
  rows_[CollapseRow].rect->axis(QCPAxis::atRight)->setLabel(tr("effective rank"));

  rows_[KnnRow].visible = rows_[MetricsRow].visible = rows_[CollapseRow].visible =
      rows_[LrRow].visible = false;
  relayout();

  // Items come after the layout: a new item's positions look for a first axis rect in it.
  for (RowParts& row : rows_) {
    row.cursor = new QCPItemStraightLine(this);
    row.cursor->setClipAxisRect(row.rect);
    row.cursor->setPen(QPen(QColor(120, 120, 120, 160), 1, Qt::DashLine));
    for (QCPItemPosition* p : {row.cursor->point1, row.cursor->point2}) {
      p->setAxes(row.rect->axis(QCPAxis::atBottom), row.rect->axis(QCPAxis::atLeft));
      p->setAxisRect(row.rect);
      p->setTypeX(QCPItemPosition::ptPlotCoords);
      p->setTypeY(QCPItemPosition::ptAxisRectRatio);
    }
    row.cursor->point1->setCoords(0, 0);
    row.cursor->point2->setCoords(0, 1);
    row.cursor->setVisible(false);
    row.cursor->setSelectable(false);
  }
  placeholder_ = new QCPItemText(this);
  placeholder_->setClipAxisRect(rows_[LossRow].rect);
  placeholder_->position->setAxisRect(rows_[LossRow].rect);
  placeholder_->position->setType(QCPItemPosition::ptAxisRectRatio);
  placeholder_->position->setCoords(0.5, 0.5);
  placeholder_->setColor(QColor(140, 140, 140));
  placeholder_->setSelectable(false);
  placeholder_->setVisible(false);

  setXMode(CurveX::Steps);

  connect(this, &QCustomPlot::mouseMove, this, &CurvesPlot::onMouseMove);
  connect(this, &QCustomPlot::mouseDoubleClick, this, [this] { emit resetRequested(); });
}

void CurvesPlot::styleAxis(QCPAxis* a) {
  a->setBasePen(QPen(kAxisColor, 1));
  a->setTickPen(QPen(kAxisColor, 1));
  a->setSubTickPen(QPen(kAxisColor, 1));
  a->setTickLengthIn(0);
  a->setTickLengthOut(4);
  a->setSubTickLengthIn(0);
  a->setSubTickLengthOut(2);
  a->setTickLabelColor(kTextColor);
  a->setLabelColor(kTextColor);
  QFont f = font();
  f.setPointSizeF(8);
  a->setTickLabelFont(f);
  a->setLabelFont(f);
  a->grid()->setPen(QPen(kGridColor, 1));
  a->grid()->setSubGridVisible(false);
  a->grid()->setZeroLinePen(Qt::NoPen);
  a->ticker()->setTickCount(4);
}

void CurvesPlot::relayout() {
  for (RowParts& row : rows_) {
    if (row.header->layout()) plotLayout()->take(row.header);
    if (row.rect->layout()) plotLayout()->take(row.rect);
  }
  plotLayout()->simplify();
  int r = 0;
  Row bottom = LossRow;
  for (int i = 0; i < RowCount; ++i) {
    RowParts& row = rows_[i];
    // Out of the layout is not enough: an element keeps drawing at its last place.
    row.header->setVisible(row.visible);
    row.rect->setVisible(row.visible);
    if (!row.visible) continue;
    plotLayout()->addElement(r, 0, row.header);
    plotLayout()->addElement(r + 1, 0, row.rect);
    plotLayout()->setRowStretchFactor(r, 0.001);
    plotLayout()->setRowStretchFactor(r + 1, row.stretch);
    r += 2;
    bottom = static_cast<Row>(i);
  }
  // One set of x tick labels, under the bottom row, reads as one shared axis.
  for (int i = 0; i < RowCount; ++i) {
    QCPAxis* x = rows_[i].rect->axis(QCPAxis::atBottom);
    x->setTickLabels(i == bottom);
    x->setLabel(i == bottom ? (xMode_ == CurveX::Steps    ? tr("step")
                               : xMode_ == CurveX::Epochs ? tr("epoch")
                                                          : tr("wall time (h:mm:ss)"))
                            : QString());
  }
}

void CurvesPlot::setRowVisible(Row row, bool visible) {
  if (row == LossRow) visible = true;
  if (rows_[row].visible == visible) return;
  rows_[row].visible = visible;
  relayout();
}

QCPGraph* CurvesPlot::addCurve(Row row, const QString& name, const QPen& pen,
                               const QString& legendName, bool rightAxis) {
  QCPAxisRect* r = rows_[row].rect;
  QCPGraph* g = addGraph(r->axis(QCPAxis::atBottom), r->axis(rightAxis ? QCPAxis::atRight : QCPAxis::atLeft));
  if (rightAxis) r->axis(QCPAxis::atRight)->setVisible(true);
  g->setName(legendName.isEmpty() ? name : legendName);
  g->setPen(pen);
  g->setSelectable(QCP::stNone);
  g->setAdaptiveSampling(true);
  if (!legendName.isEmpty()) {
    g->addToLegend(rows_[row].legend);
    rows_[row].legend->setVisible(true);
  }
  return g;
}

void CurvesPlot::removeCurve(QCPGraph* graph) {
  if (!graph) return;
  for (RowParts& row : rows_)
    if (QCPPlottableLegendItem* item = row.legend->itemWithPlottable(graph))
      row.legend->removeItem(item);
  removeGraph(graph);
  for (RowParts& row : rows_) row.legend->setVisible(row.legend->itemCount() > 0);
}

void CurvesPlot::setXMode(CurveX mode) {
  xMode_ = mode;
  QSharedPointer<QCPAxisTicker> ticker;
  if (mode == CurveX::WallTime) {
    auto t = QSharedPointer<QCPAxisTickerTime>::create();
    t->setTimeFormat(QStringLiteral("%h:%m:%s"));
    t->setFieldWidth(QCPAxisTickerTime::tuHours, 1);
    ticker = t;
  } else {
    ticker = QSharedPointer<QCPAxisTicker>::create();
  }
  ticker->setTickCount(6);
  for (RowParts& row : rows_) row.rect->axis(QCPAxis::atBottom)->setTicker(ticker);
  relayout();
}

void CurvesPlot::setLogLoss(bool log) {
  logLoss_ = log;
  QCPAxis* y = rows_[LossRow].rect->axis(QCPAxis::atLeft);
  programmatic_ = true;
  if (log) {
    y->setScaleType(QCPAxis::stLogarithmic);
    y->setTicker(QSharedPointer<LogTicker>::create());
  } else {
    auto t = QSharedPointer<QCPAxisTicker>::create();
    t->setTickCount(4);
    y->setScaleType(QCPAxis::stLinear);
    y->setTicker(t);
  }
  programmatic_ = false;
}

QCPRange CurvesPlot::xRange() const {
  return rows_[LossRow].rect->axis(QCPAxis::atBottom)->range();
}

void CurvesPlot::syncX(const QCPRange& range) {
  if (syncing_) return;
  syncing_ = true;
  for (RowParts& row : rows_) row.rect->axis(QCPAxis::atBottom)->setRange(range);
  syncing_ = false;
  if (!programmatic_) emit userChangedView();
  emit xRangeChanged(range);
}

void CurvesPlot::fitToData() {
  programmatic_ = true;
  bool anyX = false;
  QCPRange x;
  for (const RowParts& row : rows_) {
    if (!row.visible) continue;
    for (QCPGraph* g : row.rect->graphs()) {
      if (!g->visible() || g->data()->isEmpty()) continue;
      bool found = false;
      const QCPRange k = g->getKeyRange(found);
      if (!found) continue;
      if (!anyX)
        x = k;
      else
        x.expand(k);
      anyX = true;
    }
  }
  if (!anyX) x = QCPRange(0, 1);
  if (x.size() <= 0) x = QCPRange(x.lower - 0.5, x.upper + 0.5);
  const double pad = x.size() * 0.01;
  rows_[LossRow].rect->axis(QCPAxis::atBottom)->setRange(QCPRange(x.lower - pad, x.upper + pad));
  for (int r = 0; r < RowCount; ++r) {
    RowParts& row = rows_[r];
    if (!row.visible) continue;
    for (QCPAxis* yAxis : {row.rect->axis(QCPAxis::atLeft), row.rect->axis(QCPAxis::atRight)}) {
    if (!yAxis->visible()) continue;
    const bool log = yAxis->scaleType() == QCPAxis::stLogarithmic;
    bool anyY = false;
    QCPRange y;
    for (QCPGraph* g : row.rect->graphs()) {
      if (!g->visible() || g->data()->isEmpty() || g->valueAxis() != yAxis) continue;
      bool found = false;
      const QCPRange v = g->getValueRange(found, log ? QCP::sdPositive : QCP::sdBoth);
      if (!found) continue;
      if (!anyY)
        y = v;
      else
        y.expand(v);
      anyY = true;
    }
    if (!anyY) {
      yAxis->setRange(log ? QCPRange(0.1, 10) : QCPRange(0, 1));
      continue;
    }
    if (log) {
      // Headroom as a ratio: a fixed amount would be huge or invisible depending on decade.
      const double span = std::max(std::log10(y.upper / y.lower), 0.1);
      const double f = std::pow(10.0, span * 0.05);
      yAxis->setRange(QCPRange(y.lower / f, y.upper * f));
    } else {
      double span = y.size();
      if (span <= 0) span = std::max(std::abs(y.upper) * 0.1, 1e-3);
      double lo = y.lower - span * 0.06, hi = y.upper + span * 0.06;
      if (r == KnnRow) {
        lo = std::max(lo, 0.0);  // a percentage: no headroom below 0 or above 100
        hi = std::min(hi, 100.0);
        if (hi - lo < 1) hi = std::min(100.0, lo + 1);
      }
      if (r == CollapseRow) lo = 0;  // a std and a rank: 0 (collapse) is the reference point
      yAxis->setRange(QCPRange(lo, hi));
    }
    }
  }
  programmatic_ = false;
}

void CurvesPlot::setPlaceholder(const QString& text) {
  placeholder_->setText(text);
  placeholder_->setVisible(!text.isEmpty());
}

QString CurvesPlot::formatX(double x) const {
  switch (xMode_) {
    case CurveX::Steps:
      return tr("step %1").arg(QLocale().toString(static_cast<qlonglong>(std::llround(x))));
    case CurveX::Epochs:
      return tr("epoch %1").arg(QString::number(x, 'f', 2));
    case CurveX::WallTime: {
      const qint64 s = std::max<qint64>(0, std::llround(x));
      return QStringLiteral("%1:%2:%3")
          .arg(s / 3600)
          .arg((s / 60) % 60, 2, 10, QLatin1Char('0'))
          .arg(s % 60, 2, 10, QLatin1Char('0'));
    }
  }
  return QString::number(x);
}

void CurvesPlot::onMouseMove(QMouseEvent* event) {
  if (event->buttons() != Qt::NoButton) return;  // dragging: no tooltip in the way
  QCPAxisRect* under = axisRectAt(event->position());
  int rowIndex = -1;
  for (int r = 0; r < RowCount; ++r)
    if (rows_[r].visible && rows_[r].rect == under) rowIndex = r;
  if (rowIndex < 0 || !under->rect().contains(event->position().toPoint())) {
    leaveEvent(nullptr);
    return;
  }
  QCPAxis* xAxis = under->axis(QCPAxis::atBottom);
  const double key = xAxis->pixelToCoord(event->position().x());
  for (RowParts& row : rows_) {
    row.cursor->setVisible(row.visible);
    row.cursor->point1->setCoords(key, 0);
    row.cursor->point2->setCoords(key, 1);
  }
  QString html = QStringLiteral("<b>%1</b>").arg(formatX(key).toHtmlEscaped());
  int lines = 0;
  for (QCPGraph* g : under->graphs()) {
    if (!g->visible() || g->property("raw").toBool()) continue;
    double k = 0, v = 0;
    if (!nearestPoint(g, key, &k, &v)) continue;
    QString line = QStringLiteral("<br><span style='color:%1'>&#9632;</span> %2: <b>%3</b>")
                       .arg(g->pen().color().name(), g->name().toHtmlEscaped(),
                            formatValue(static_cast<Row>(rowIndex), v));
    if (auto* raw = qobject_cast<QCPGraph*>(g->property("rawGraph").value<QObject*>())) {
      double rk = 0, rv = 0;
      if (raw->visible() && nearestPoint(raw, key, &rk, &rv) && rv != v)
        line += tr(" (raw %1)").arg(formatValue(static_cast<Row>(rowIndex), rv));
    }
    // A sparse curve (kNN once per epoch): say where its nearest point is.
    if (std::abs(xAxis->coordToPixel(k) - event->position().x()) > 8)
      line +=
          QStringLiteral(" <span style='color:#888'>@ %1</span>").arg(formatX(k).toHtmlEscaped());
    html += line;
    ++lines;
  }
  if (lines > 0)
    QToolTip::showText(event->globalPosition().toPoint() + QPoint(14, 10), html, this);
  else
    QToolTip::hideText();
  replot(QCustomPlot::rpQueuedReplot);
}

void CurvesPlot::leaveEvent(QEvent* event) {
  if (event) QCustomPlot::leaveEvent(event);
  bool changed = false;
  for (RowParts& row : rows_) {
    changed = changed || row.cursor->visible();
    row.cursor->setVisible(false);
  }
  QToolTip::hideText();
  if (changed) replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace pretext
