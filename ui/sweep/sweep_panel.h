#pragma once
// The Sweep tab: runs a sweep file through the session controller (its points train on the
// engine thread, one after another, like Start's runs) or opens a sweep folder, and shows its
// results as they come: polls FOLDER/sweep_results.json (rewritten after each point, by the
// window or by a pretext-cli sweep in a terminal) and draws the grid as a heat map of the chosen
// probe (a random search as a scatter), with the points ranked in a table below. Double-click a
// row to open that point's run.
#include <QString>
#include <QTimer>
#include <QWidget>

#include "core/train/sweep.h"

class QComboBox;
class QLabel;
class QPushButton;
class QTableWidget;

namespace pretext {

class SessionController;
class SweepPlot;

class SweepPanel : public QWidget {
  Q_OBJECT

 public:
  explicit SweepPanel(SessionController* controller, QWidget* parent = nullptr);

  // Shows the sweep in `folder` and follows its results; false (the reason on the panel) when
  // it has no readable sweep_results.json.
  bool openSweep(const QString& folder);
  QString folder() const { return folder_; }
  bool hasSweep() const { return !folder_.isEmpty(); }
  const SweepResults& results() const { return results_; }
  SweepPlot* plot() const { return plot_; }
  QTableWidget* table() const { return table_; }
  // The probe the plot and the table show: "knn", "linear".
  QString probe() const;
  void setProbe(const QString& probe);
  void setPollInterval(int ms) { poll_.setInterval(ms); }

 public slots:
  // Runs a sweep file (or continues a sweep folder) in the window, and shows it.
  void runSweep(const QString& path);
  // Reads sweep_results.json again now (the timer does every second).
  void refresh();

 signals:
  void openPointRequested(const QString& runDir);
  void sweepOpened(const QString& folder);  // openSweep found its results

 private:
  void chooseAndRun();
  void chooseAndOpen();
  void rebuild();  // plot + table + title from results_
  void updateButtons();

  SessionController* controller_;
  SweepPlot* plot_;
  QLabel* title_;
  QComboBox* probeBox_;
  QLabel* xLabel_;
  QComboBox* xBox_;  // a random search: the setting across
  QPushButton* continue_;
  QPushButton* stop_;
  QTableWidget* table_;
  QTimer poll_;
  QString folder_;
  QByteArray lastText_;  // the results file as last read
  SweepResults results_;
  std::vector<std::string> logKeys_;  // a random search's log_uniform settings (sweep.json)
};

}  // namespace pretext
