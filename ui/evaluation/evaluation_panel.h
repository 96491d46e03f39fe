#pragma once
// Evaluation on demand: weighted kNN, linear probe and few-label fine-tuning of the live or
// loaded model (and of the same architecture untrained: the baseline), run on the engine
// thread; a results table across runs, kept in each run folder (evaluations.jsonl), a
// confusion-matrix heat map of the selected result, and the semi-supervised label curve (fine-
// tuning on a few labels per class, self-supervised against from scratch) of the run.
#include <QVector>
#include <QWidget>
#include <atomic>
#include <memory>

#include "core/eval/label_curve.h"
#include "core/eval/results.h"

class QCheckBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QTabWidget;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QSplitter;
class QTableWidget;

namespace pretext {

class ConfusionMatrixView;
class LabelCurveView;
class SessionController;
struct StepPoint;
struct PendingEvaluation;  // one queued request, defined in the .cpp

class EvaluationPanel : public QWidget {
  Q_OBJECT

 public:
  explicit EvaluationPanel(SessionController* controller, QWidget* parent = nullptr);
  ~EvaluationPanel() override;

  // Settings (the form's fields).
  void setKnn(int k, double temperature);
  void setFinetune(double fraction, int frozenStages, int epochs);
  void setLimits(int trainImages, int testImages);  // 0 = all
  void setLabelCurve(const LabelCurveOptions& options);
  LabelCurveOptions labelCurveOptions() const;  // the form's; throws pretext::Error when invalid

  bool busy() const { return running_ != nullptr; }
  int queued() const;
  // Every result in the table, in table order (oldest first); the selected one.
  const QVector<EvalRecord>& records() const { return records_; }
  int selectedRow() const;
  ConfusionMatrixView* confusionView() const { return confusion_; }
  LabelCurveView* labelCurveView() const { return curveView_; }
  void showLabelCurveTab();

 public slots:
  void runKnn();
  void runLinear();
  void runFinetune();
  void runRandomInitBaseline();  // kNN and linear probe of the same architecture, untrained
  // Queues the label curve's fine-tunings (the form's settings, or `options`) and shows its plot.
  void runLabelCurve();
  void runLabelCurveWith(const LabelCurveOptions& options);
  void cancel();          // the running evaluation stops at its next batch; the queue empties
  void scanRunsFolder();  // the results of every run in controller->runsFolder()
  void selectRow(int row);
  // Writes the table (every record, oldest first) as CSV; false (with the reason shown) when the
  // file cannot be written. exportCsvDialog asks for the file.
  bool exportCsv(const QString& path);
  void exportCsvDialog();

 signals:
  void evaluationFinished(const pretext::EvalRecord& record);
  void evaluationFailed(const QString& message);
  void busyChanged(bool busy);

 private:
  void enqueue(const QString& protocol, bool randomInit);
  void enqueueRequest(const EvalRequest& request, const QString& title);
  void updateLabelCurve();
  void startNext();
  void onProgress(const QString& stage, double fraction);
  void onSessionChanged();
  void addRecords(const QVector<EvalRecord>& records);
  void rebuildTable();
  void showSelected();
  void updateBusy();

  SessionController* controller_;
  QSpinBox* kSpin_;
  QDoubleSpinBox* tSpin_;
  QDoubleSpinBox* fractionSpin_;
  QSpinBox* frozenSpin_;
  QSpinBox* epochsSpin_;
  QSpinBox* trainLimit_;
  QSpinBox* testLimit_;
  QPushButton* knnButton_;
  QPushButton* linearButton_;
  QPushButton* finetuneButton_;
  QPushButton* baselineButton_;
  QLineEdit* curveCounts_;
  QSpinBox* curveSteps_;
  QSpinBox* curveFrozen_;
  QPushButton* curveButton_;
  QPushButton* cancelButton_;
  QPushButton* scanButton_;
  QPushButton* clearButton_;
  QPushButton* exportButton_;
  QProgressBar* progress_;
  QLabel* stage_;
  QLabel* error_;
  QTableWidget* table_;
  ConfusionMatrixView* confusion_;
  LabelCurveView* curveView_;
  QTabWidget* resultViews_;  // the confusion matrix, the label curve
  QSplitter* split_;         // the table | resultViews_

  QVector<EvalRecord> records_;
  QVector<std::shared_ptr<PendingEvaluation>> queue_;
  std::shared_ptr<PendingEvaluation> running_;
  qint64 step_ = 0;  // the model's training step, as far as the window knows
};

}  // namespace pretext
