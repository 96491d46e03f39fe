// EvaluationPanel's label curve (core/eval/label_curve.h): the form, the queued fine-tunings and
// the plot of the run's points.
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <algorithm>

#include "core/eval/evaluate.h"
#include "ui/evaluation/evaluation_panel.h"
#include "ui/evaluation/label_curve_view.h"
#include "ui/window/session_controller.h"

namespace pretext {

void EvaluationPanel::setLabelCurve(const LabelCurveOptions& o) {
  curveCounts_->setText(QString::fromStdString(formatLabelCounts(o.labelsPerClass)));
  curveSteps_->setValue(int(o.steps));
  curveFrozen_->setValue(int(o.freezeStages));
}

LabelCurveOptions EvaluationPanel::labelCurveOptions() const {
  LabelCurveOptions o;
  o.labelsPerClass = parseLabelCounts(curveCounts_->text().toStdString());
  o.steps = curveSteps_->value();
  o.freezeStages = curveFrozen_->value();
  return o;
}

void EvaluationPanel::showLabelCurveTab() {
  resultViews_->setCurrentWidget(curveView_);
  // The curve is read from across the room: it gets the wider half.
  const int w = std::max(split_->width(), 800);
  split_->setSizes({w * 2 / 5, w * 3 / 5});
}

void EvaluationPanel::runLabelCurve() {
  try {
    runLabelCurveWith(labelCurveOptions());
  } catch (const std::exception& e) {
    error_->setText(tr("Label curve: %1").arg(QString::fromUtf8(e.what())));
    error_->show();
  }
}

void EvaluationPanel::runLabelCurveWith(const LabelCurveOptions& options) {
  const uint64_t seed = controller_ ? controller_->experiment().seed : 0;
  for (EvalRequest r : labelCurveRequests(options, seed)) {
    r.trainLimit = trainLimit_->value();
    r.testLimit = testLimit_->value();
    enqueueRequest(r, tr("fine-tune%1, %2 labels/class")
                          .arg(r.randomInit ? tr(" from scratch") : QString())
                          .arg(r.finetune.perClass()));
  }
  showLabelCurveTab();
}

void EvaluationPanel::updateLabelCurve() {
  // The run shown: the selected result's when it is a point of a curve, else the session's.
  QString run = controller_ ? controller_->runDir() : QString();
  const int selected = selectedRow();
  if (selected >= 0 && selected < records_.size() && records_[selected].labelsPerClass > 0)
    run = QString::fromStdString(records_[selected].run);
  if (run.isEmpty()) {
    curveView_->clear(tr("Open or train a run, then press \"Run label curve\"."));
    return;
  }
  std::vector<EvalRecord> mine;
  QString method;
  for (const auto& r : records_)
    if (QString::fromStdString(r.run) == run) {
      mine.push_back(r);
      method = QString::fromStdString(r.method);
    }
  curveView_->setCurve(labelCurveFromRecords(mine), QFileInfo(run).fileName(), method);
}

}  // namespace pretext
