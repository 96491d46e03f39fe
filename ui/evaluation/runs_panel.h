#pragma once
// "Runs": the results table across the runs of a folder (core/eval/runs_table.h) — one row per
// run, the settings that differ between them, and their evaluations, sortable by any column —
// and a scatter of any setting or result against any result, one colour per method. Double-click
// a row to open that run. Refreshes when shown and when a run of this window ends.
#include <QPair>
#include <QString>
#include <QStringList>
#include <QWidget>
#include <memory>

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QLabel;
class QPushButton;
class QTableWidget;

namespace pretext {

class SessionController;
struct RunsTable;

class RunsPanel : public QWidget {
  Q_OBJECT

 public:
  explicit RunsPanel(SessionController* controller, QWidget* parent = nullptr);
  ~RunsPanel() override;

  void setFolder(const QString& folder);  // default: the controller's runs folder
  QString folder() const { return folder_; }
  // Show every setting, not only those that differ.
  void setAllSettings(bool all);
  // The scatter's axes, by column name (a setting key or a result name).
  void setScatterAxes(const QString& x, const QString& y);

  // What is shown (for tests and screenshots).
  const QTableWidget* table() const { return table_; }
  QStringList columnNames() const { return columns_; }
  int plottedPoints() const;
  QPair<QString, QString> scatterAxes() const;  // (x, y)
  QString status() const;
  bool scanning() const { return scanning_; }

 public slots:
  // Reads the folder again on a worker thread (a run folder holds hundreds of runs; the GUI
  // thread only fills the table): `refreshed` when the table shows it.
  void refresh();
  void chooseFolder();

 signals:
  void runActivated(const QString& runDir);  // a row was double-clicked
  void refreshed();

 protected:
  void showEvent(QShowEvent* e) override;

 private:
  void applyScan(std::shared_ptr<RunsTable> table, const QString& error);
  void fillTable();
  void fillAxes();
  void plot();

  SessionController* controller_;
  QString folder_;
  QLabel* folderLabel_;
  QPushButton* choose_;
  QPushButton* refresh_;
  QCheckBox* all_;
  QLabel* status_;
  QTableWidget* table_;
  QComboBox* x_;
  QComboBox* y_;
  QCustomPlot* plot_;
  QLabel* plotInfo_;
  std::shared_ptr<RunsTable> data_;
  QStringList columns_;  // the table's columns after "run" and "step"
  QStringList settingColumns_, resultColumns_;
  bool stale_ = true;
  bool chosenFolder_ = false;
  QString error_;
  bool chosenX_ = false, chosenY_ = false;  // the user picked the scatter's axes
  bool scanning_ = false;
  quint64 scanGeneration_ = 0;  // a scan's result is shown only if no newer scan was asked for
};

}  // namespace pretext
