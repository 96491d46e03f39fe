#pragma once
// The workbench window: the experiment on the left, the panels in the middle (one tab each), the
// log at the bottom, Start / Pause / Step / Stop / Reset on the toolbar, progress in the status
// bar. It only wires: the panels talk to the engine through the SessionController themselves.
#include <QMainWindow>
#include <QPointer>

#include "core/config/experiment.h"

class QAction;
class QDockWidget;
class QLabel;
class QProgressBar;
class QTabWidget;
class QComboBox;

namespace pretext {

class SessionController;
class ExperimentPanel;
class CurvesPanel;
class AugmentPanel;
class NeighboursPanel;
class EmbeddingPanel;
class EncoderPanel;
class EvaluationPanel;
class MethodViewsPanel;
class LogPanel;
class PresentationBanner;
class LessonCard;
class StartPage;
struct Lesson;
struct RunInfo;
struct StepPoint;
enum class SessionState;

struct MainWindowOptions {
  bool useSettings = true;  // restore/save the layout and the last experiment (QSettings)
};

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(MainWindowOptions options = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  SessionController* controller() const { return controller_; }
  ExperimentPanel* experimentPanel() const { return experimentPanel_; }
  QTabWidget* tabs() const { return tabs_; }
  // The panel tabs by name: "Start", "Curves", "Augmentations", "Neighbours", "Embedding",
  // "Encoder", "Evaluation", "Method views", "Sweep".
  QWidget* panel(const QString& name) const;
  bool presentationMode() const { return presenting_; }
  QAction* action(const QString& name) const;  // "start", "pause", "step", "stop", "reset", ...

 public slots:
  void setExperiment(const pretext::Experiment& e);
  void loadPreset(const QString& name);
  bool openExperimentFile(const QString& path);
  bool saveExperimentFile(const QString& path);
  void openRun(const QString& dir);
  // Follows a run folder another process is writing (SessionController::followRun).
  void followRun(const QString& dir);
  // Copies a ready-trained example into the runs folder's examples/ and opens it on the panel
  // that shows it best (core/train/examples.h).
  void openExample(const QString& name);
  // A lesson (resources/lessons): its experiment in the panel (or its sweep ready to run), its
  // card above the panels, its panel shown, presentation mode on. runLesson trains it.
  void openLesson(const QString& name);
  void runLesson();
  void closeLesson();
  void resumeRun(const QString& dir);
  void start();
  void setPresentationMode(bool on);
  void showPanel(const QString& name);
  // Shows the Compare panel against another run folder and compares once the current model is
  // loaded (at once when nothing is being opened).
  void compareWith(const QString& runDir);

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildActions();
  void buildMenus();   // main_window_menus.cpp
  void wireLessons();  // main_window_lessons.cpp
  QString lessonFolder(const QString& name) const;
  void evaluateLesson(const Lesson& lesson);  // its probes and label curve, as it asks
  void showLessonSweepPoints();               // "3 / 5 sweep points" while a sweep lesson is open
  void buildToolBar();
  void buildStatusBar();
  void buildPanels();
  void wireController();
  void updateActions();
  void updateTitle();
  void showError(const QString& title, const QString& message);
  bool pushExperiment();  // panel -> controller; false (and a message) when invalid
  void onStarted(const RunInfo& info);
  void onSteps(const QVector<StepPoint>& points);
  void onStateChanged(SessionState state);
  void showProgress(qint64 step, qint64 total);
  void showPlannedSteps();  // "0 / 2,808 steps" before a start, the opened run's step after opening

  MainWindowOptions options_;
  SessionController* controller_;
  ExperimentPanel* experimentPanel_ = nullptr;
  LogPanel* logPanel_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  PresentationBanner* banner_ = nullptr;
  LessonCard* lessonCard_ = nullptr;
  bool lessonRunning_ = false;  // the open lesson's run (not a sweep) is training
  QString lessonRun_;           // the open example lesson's copy of its example
  int lessonSweepPoints_ = 0;   // the open sweep lesson's points (the progress bar counts them)
  StartPage* startPage_ = nullptr;
  QDockWidget* experimentDock_ = nullptr;
  QDockWidget* logDock_ = nullptr;
  QComboBox* presetBox_ = nullptr;
  QLabel* stateLabel_ = nullptr;
  QLabel* speedLabel_ = nullptr;
  QLabel* etaLabel_ = nullptr;
  QLabel* deviceLabel_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QMap<QString, QAction*> actions_;
  QMap<QString, QWidget*> panels_;
  QString experimentPath_;
  QString examplePanel_;    // the panel an opened example asks for, shown once it is loaded
  qint64 openedStep_ = 0;   // the step of the opened run (0 for a fresh model)
  bool presenting_ = false;
  QByteArray normalState_;  // dock layout before presentation mode
  QFont normalFont_;
};

}  // namespace pretext
