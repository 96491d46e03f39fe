#include "ui/evaluation/label_curve_view.h"

#include <algorithm>
#include <cmath>

namespace pretext {

namespace {

const QColor kTrained(33, 102, 172);   // the self-supervised encoder
const QColor kScratch(150, 150, 150);  // from scratch

QCPGraph* addLine(QCustomPlot* plot, const QColor& colour, const QString& name) {
  QCPGraph* g = plot->addGraph();
  g->setName(name);
  g->setPen(QPen(colour, 2.5));
  g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, colour, colour, 9));
  return g;
}

}  // namespace

LabelCurveView::LabelCurveView(QWidget* parent) : QCustomPlot(parent) {
  setObjectName("labelCurve");
  setMinimumSize(280, 220);
  plotLayout()->insertRow(0);
  title_ = new QCPTextElement(this, QString(), QFont(font().family(), 10, QFont::Bold));
  plotLayout()->addElement(0, 0, title_);
  xAxis->setScaleType(QCPAxis::stLogarithmic);
  QSharedPointer<QCPAxisTickerLog> ticker(new QCPAxisTickerLog);
  ticker->setSubTickCount(8);
  xAxis->setTicker(ticker);
  xAxis->setNumberFormat(QStringLiteral("g"));
  xAxis->setLabel(tr("labelled images per class"));
  yAxis->setLabel(tr("test top-1 %"));
  legend->setVisible(true);
  legend->setBrush(QColor(255, 255, 255, 220));
  axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);  // curves rise to the right
  clear(tr("Run a label curve: the accuracy after fine-tuning on 10, 50, 100, 500 labels per "
           "class, self-supervised against from scratch."));
}

void LabelCurveView::clear(const QString& message) {
  curve_.clear();
  message_ = message;
  clearGraphs();
  clearItems();
  title_->setText(message);
  xAxis->setRange(5, 1000);
  yAxis->setRange(0, 100);
  legend->setVisible(false);
  replot(rpQueuedReplot);
}

void LabelCurveView::setCurve(const std::vector<LabelCurvePoint>& curve, const QString& runName,
                              const QString& method) {
  if (curve.empty()) {
    clear(tr("%1 has no label curve yet: press \"Run label curve\".").arg(runName));
    return;
  }
  clearGraphs();
  clearItems();
  curve_ = curve;
  message_.clear();
  int64_t step = 0;
  for (const auto& p : curve) step = std::max(step, p.trainedStep);
  QCPGraph* trained = addLine(this, kTrained, tr("%1, self-supervised (step %2)").arg(method).arg(step));
  QCPGraph* scratch = addLine(this, kScratch, tr("the same network from scratch"));
  double lo = 100, hi = 0;
  auto label = [&](double x, double y, const QColor& colour, bool above) {
    auto* t = new QCPItemText(this);
    t->position->setType(QCPItemPosition::ptPlotCoords);
    t->position->setCoords(x, y);
    t->setPositionAlignment(Qt::AlignHCenter | (above ? Qt::AlignBottom : Qt::AlignTop));
    t->setPadding(QMargins(0, 4, 0, 4));
    t->setText(QString::number(y, 'f', 1));
    t->setColor(colour.darker(130));
    t->setFont(QFont(font().family(), 9, QFont::Bold));
  };
  for (const auto& p : curve) {
    const double x = double(p.labelsPerClass);
    const bool trainedAbove = std::isnan(p.scratch) || p.trained >= p.scratch;
    if (!std::isnan(p.trained)) {
      trained->addData(x, p.trained);
      label(x, p.trained, kTrained, trainedAbove);
      lo = std::min(lo, p.trained);
      hi = std::max(hi, p.trained);
    }
    if (!std::isnan(p.scratch)) {
      scratch->addData(x, p.scratch);
      label(x, p.scratch, kScratch, !trainedAbove);
      lo = std::min(lo, p.scratch);
      hi = std::max(hi, p.scratch);
    }
  }
  if (scratch->dataCount() == 0) removeGraph(scratch);
  const double first = double(curve.front().labelsPerClass), last = double(curve.back().labelsPerClass);
  xAxis->setRange(first / 1.6, last * 1.6);
  const double pad = std::max(2.0, (hi - lo) * 0.25);
  yAxis->setRange(std::max(0.0, lo - pad), std::min(100.0, hi + pad));
  title_->setText(tr("Fine-tuned on a few labels: %1").arg(runName));
  legend->setVisible(true);
  replot(rpQueuedReplot);
}

}  // namespace pretext
