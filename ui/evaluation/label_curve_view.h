#pragma once
// The semi-supervised curve (core/eval/label_curve.h) as the RotNet paper draws it: test
// accuracy against labelled images per class on a log axis, the self-supervised encoder
// fine-tuned against the same network trained from scratch, each point labelled with its value.
#include <qcustomplot.h>

#include <QString>
#include <vector>

#include "core/eval/label_curve.h"

namespace pretext {

class LabelCurveView : public QCustomPlot {
  Q_OBJECT

 public:
  explicit LabelCurveView(QWidget* parent = nullptr);

  // Draws `curve` of the run called `runName` (its method in the legend); an empty curve shows
  // `message` instead.
  void setCurve(const std::vector<LabelCurvePoint>& curve, const QString& runName,
                const QString& method);
  void clear(const QString& message);

  const std::vector<LabelCurvePoint>& curve() const { return curve_; }
  QString message() const { return message_; }

 private:
  std::vector<LabelCurvePoint> curve_;
  QString message_;
  QCPTextElement* title_ = nullptr;
};

}  // namespace pretext
