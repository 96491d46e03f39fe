#pragma once
// Training curves: loss (raw + TensorBoard smoothing), online kNN accuracy, the method's own
// metrics and the learning rate, live from the session controller or from a run folder, with
// earlier runs of the runs folder overlaid for comparison, and export to PNG, PDF and CSV.
// Cheap by construction: points are appended to ring-buffered series and smoothed as they
// come; the graphs are rebuilt at most once per event-loop pass (once per controller drain),
// from the visible x range decimated to about two points per pixel, and not at all while the
// panel is hidden.
#include <QPointer>
#include <QString>
#include <QVector>
#include <QWidget>
#include <map>
#include <memory>
#include <vector>

#include "ui/curves/curves_data.h"
#include "ui/curves/curves_plot.h"
#include "ui/window/session_controller.h"  // StepPoint, EvalPoint, RunInfo: complete for moc's slots

class QCheckBox;
class QComboBox;
class QLabel;
class QListWidget;
class QListWidgetItem;
class QSlider;

namespace pretext {

class CurvesPanel : public QWidget {
  Q_OBJECT

 public:
  // controller may be null (tests feed the slots directly).
  explicit CurvesPanel(SessionController* controller, QWidget* parent = nullptr);
  ~CurvesPanel() override;

  CurvesPlot* plot() const { return plot_; }
  const RunCurves& liveCurves() const { return live_; }
  QString liveRunDir() const { return liveDir_; }

  // The graphs, for tests and for whoever wants to style them further.
  QCPGraph* lossGraph(bool smoothed) const { return smoothed ? lossSmooth_ : lossRaw_; }
  QCPGraph* knnGraph() const { return knn_; }
  QCPGraph* lrGraph() const { return lr_; }
  QCPGraph* metricGraph(const QString& name, bool smoothed = true) const;
  // {loss (smoothed), kNN} of an overlaid run; empty when it is not overlaid.
  QVector<QCPGraph*> overlayGraphs(const QString& runDir) const;
  // Run folders listed for comparison (the runs folder's runs with metrics, newest first,
  // without the live run).
  QStringList listedRuns() const;
  QStringList metricNames() const { return live_.metricNames(); }
  bool metricShown(const QString& name) const;

  double smoothing() const { return smoothing_; }
  CurveX xMode() const { return plot_->xMode(); }
  bool logScale() const { return plot_->logLoss(); }
  bool followsData() const { return autoFit_; }
  QString message() const;  // the inline error/notice line (empty when hidden)
  // The collapse alarm's text while it is shown (emb_std * sqrt(D) below kCollapseSpread), else empty.
  QString collapseAlarm() const;
  QCPGraph* healthyGraph() const { return healthy_; }

  // Exports of what is shown. width/height 0: the plot's current size (or 1200x900 when it has
  // none yet). Throw pretext::Error naming the file when it cannot be written.
  void exportPng(const QString& path, int width = 0, int height = 0) const;
  void exportPdf(const QString& path, int width = 0, int height = 0) const;
  // Every shown series at full resolution, one point per row:
  //   run,series,step,epoch,wall_s,value
  // (series: loss, loss_smoothed, lr, knn_top1, <metric>, <metric>_smoothed).
  void exportCsv(const QString& path) const;

 public slots:
  void clear();
  void addSteps(const QVector<pretext::StepPoint>& points);
  void addEvaluations(const QVector<pretext::EvalPoint>& points);
  // Shows a finished or opened run's metrics.csv as the main curves. Errors go to the inline
  // message line; the current curves stay.
  void loadRun(const QString& runDir);
  void setSmoothing(double weight);  // [0, 0.999]
  void setXMode(pretext::CurveX mode);
  void setLogScale(bool log);
  void setMetricShown(const QString& name, bool shown);
  // Overlays an earlier run's loss and kNN curves (or removes them). Errors go to the message
  // line and leave the run unchecked.
  void setOverlay(const QString& runDir, bool shown);
  void refreshRuns();
  void resetView();  // fit to the data and follow new points again
  // Rebuilds the graphs from the series now (normally deferred to the next event-loop pass).
  void updatePlot();

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  struct Overlay {
    QString dir;
    QString name;
    QColor color;
    RunCurves curves{0};
    QCPGraph* loss = nullptr;
    QCPGraph* knn = nullptr;
  };
  struct MetricGraphs {
    QCPGraph* raw = nullptr;
    QCPGraph* smooth = nullptr;
    QColor color;
  };

  QWidget* buildToolbar();
  static bool isCollapseMetric(const QString& name);
  void updateCollapse(double stepLo, double stepHi);
  QWidget* buildSidebar();
  void onStarted(const RunInfo& info);
  void scheduleUpdate();
  void ensureMetricGraphs();
  void removeMetricGraphs();
  void setCurveData(QCPGraph* g, const MetricSeries& byStep, const RunCurves& run, double stepLo,
                    double stepHi, int maxPoints) const;
  void updateStatus();
  void rebuildLegends();
  void fitMetricList();
  void showMessage(const QString& text);
  void setLiveName(const QString& runDir);
  QColor nextOverlayColor() const;
  void syncRunItem(const QString& runDir);
  void exportWithDialog(const QString& kind);

  QPointer<SessionController> controller_;
  CurvesPlot* plot_ = nullptr;
  QComboBox* xCombo_ = nullptr;
  QSlider* smoothSlider_ = nullptr;
  QLabel* smoothValue_ = nullptr;
  QCheckBox* logCheck_ = nullptr;
  QListWidget* metricList_ = nullptr;
  QLabel* metricsHeading_ = nullptr;
  QListWidget* runList_ = nullptr;
  QLabel* runsHint_ = nullptr;
  QLabel* status_ = nullptr;
  QLabel* message_ = nullptr;
  QLabel* collapseAlarm_ = nullptr;  // red banner while the embeddings look collapsed
  QCPGraph* healthy_ = nullptr;      // the 1/sqrt(D) reference of emb_std
  bool collapsed_ = false;

  RunCurves live_;
  QString liveDir_;
  QString liveName_;
  QString scannedFolder_;  // the runs folder the list shows
  QCPGraph* lossRaw_ = nullptr;
  QCPGraph* lossSmooth_ = nullptr;
  QCPGraph* knn_ = nullptr;
  QCPGraph* lr_ = nullptr;
  std::map<QString, MetricGraphs> metricGraphs_;
  std::map<QString, bool> metricShown_;
  std::vector<std::unique_ptr<Overlay>> overlays_;

  double smoothing_ = 0.6;
  bool autoFit_ = true;
  bool updatePending_ = false;
  qint64 lastUpdateMs_ = 0;  // cost of the last rebuild: paces the next (see scheduleUpdate)
  bool stale_ = false;
  bool updatingRuns_ = false;
};

}  // namespace pretext
