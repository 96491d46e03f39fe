#include "ui/window/main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLocale>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QScrollArea>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QToolBar>
#include <QVBoxLayout>

#include <fstream>

#include "core/methods/registry.h"
#include "core/train/examples.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "ui/experiment/augment_panel.h"
#include "ui/curves/curves_panel.h"
#include "ui/inspect/compare_panel.h"
#include "ui/inspect/loss_panel.h"
#include "ui/inspect/embedding_panel.h"
#include "ui/inspect/encoder_panel.h"
#include "ui/evaluation/evaluation_panel.h"
#include "ui/evaluation/runs_panel.h"
#include "ui/experiment/experiment_panel.h"
#include "ui/window/lesson_card.h"
#include "ui/window/log_panel.h"
#include "ui/inspect/method_views_panel.h"
#include "ui/inspect/neighbours_panel.h"
#include "ui/sweep/sweep_panel.h"
#include "ui/window/presentation_banner.h"
#include "ui/window/session_controller.h"
#include "ui/window/start_page.h"

namespace pretext {

namespace {

QString duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return QStringLiteral("-");
  const qint64 s = qRound64(seconds);
  if (s >= 3600) return QString("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QChar('0'));
  if (s >= 60) return QString("%1 min %2 s").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
  return QString("%1 s").arg(s);
}

}  // namespace

MainWindow::MainWindow(MainWindowOptions options, QWidget* parent)
    : QMainWindow(parent), options_(options), controller_(new SessionController(this)) {
  setObjectName("PretextMainWindow");
  normalFont_ = font();
  buildPanels();
  buildActions();
  buildMenus();
  buildToolBar();
  buildStatusBar();
  wireController();
  wireLessons();

  resize(1400, 880);
  Experiment initial = experimentFromJson(loadPresetJson("simclr-fashion"));
  bool restoredLayout = false;
  if (options_.useSettings) {
    QSettings settings;
    restoreGeometry(settings.value("window/geometry").toByteArray());
    restoredLayout = restoreState(settings.value("window/state").toByteArray());
    tabs_->setCurrentIndex(settings.value("window/tab", 0).toInt());
    const QByteArray last = settings.value("experiment/last").toByteArray();
    if (!last.isEmpty()) {
      try {
        initial = experimentFromJson(nlohmann::json::parse(last.toStdString()));
      } catch (const std::exception&) {
        // An experiment saved by another version: start from the preset.
      }
    }
  }
  setExperiment(initial);
  updateActions();
  if (!restoredLayout) resizeDocks({logDock_}, {110}, Qt::Vertical);
}

MainWindow::~MainWindow() = default;

void MainWindow::buildPanels() {
  experimentPanel_ = new ExperimentPanel(this);
  auto* scroll = new QScrollArea;
  scroll->setWidget(experimentPanel_);
  scroll->setWidgetResizable(true);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  experimentDock_ = new QDockWidget(tr("Experiment"), this);
  experimentDock_->setObjectName("experimentDock");
  experimentDock_->setWidget(scroll);
  experimentDock_->setMinimumWidth(360);
  addDockWidget(Qt::LeftDockWidgetArea, experimentDock_);

  logPanel_ = new LogPanel(controller_, this);
  logDock_ = new QDockWidget(tr("Log"), this);
  logDock_->setObjectName("logDock");
  logDock_->setWidget(logPanel_);
  addDockWidget(Qt::BottomDockWidgetArea, logDock_);

  auto* central = new QWidget(this);
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(0);
  banner_ = new PresentationBanner(central);
  banner_->hide();
  layout->addWidget(banner_);
  lessonCard_ = new LessonCard(central);
  lessonCard_->hide();
  layout->addWidget(lessonCard_);
  tabs_ = new QTabWidget(central);
  tabs_->setDocumentMode(true);
  layout->addWidget(tabs_, 1);
  setCentralWidget(central);

  auto add = [&](const QString& name, QWidget* w, const QString& tip) {
    panels_[name] = w;
    const int i = tabs_->addTab(w, name);
    tabs_->setTabToolTip(i, tip);
  };
  startPage_ = new StartPage(this);
  add("Start", startPage_, tr("What Pretext is, trained examples to open, presets by what they teach, the last runs"));
  connect(startPage_, &StartPage::exampleRequested, this, &MainWindow::openExample);
  connect(startPage_, &StartPage::lessonRequested, this, &MainWindow::openLesson);
  connect(startPage_, &StartPage::presetRequested, this, [this](const QString& name) {
    loadPreset(name);
    statusBar()->showMessage(tr("Loaded the preset %1: press Start (F5) to train it").arg(name), 8000);
    showPanel("Augmentations");
  });
  connect(startPage_, &StartPage::runRequested, this, &MainWindow::openRun);
  connect(tabs_, &QTabWidget::currentChanged, this, [this](int index) {
    if (tabs_->widget(index) == startPage_) startPage_->refresh(controller_->runsFolder());
  });
  auto* curves = new CurvesPanel(controller_, this);
  connect(controller_, &SessionController::cleared, curves, &CurvesPanel::clear);
  add("Curves", curves, tr("Loss, learning rate, online kNN accuracy and the method's metrics"));
  add("Augmentations", new AugmentPanel(controller_, this), tr("The views the method trains on, under the current settings"));
  auto* neighbours = new NeighboursPanel(controller_, this);
  add("Neighbours", neighbours, tr("The images closest to a query in feature space"));
  auto* embedding = new EmbeddingPanel(controller_, this);
  add("Embedding", embedding, tr("Test-set features in 2-D (PCA, t-SNE), coloured by class"));
  add("Encoder", new EncoderPanel(controller_, this), tr("First-layer filters, the images that excite a channel, representational similarity"));
  add("Evaluation", new EvaluationPanel(controller_, this), tr("kNN, linear probe and few-label fine-tuning"));
  add("Method views", new MethodViewsPanel(controller_, this), tr("The pictures the method itself offers (predictions, reconstructions...)"));
  add("Loss", new LossPanel(controller_, this), tr("One batch's loss taken apart: the matrix, each row's loss, the hardest rows"));
  add("Compare", new ComparePanel(controller_, this), tr("Layer-by-layer similarity (linear CKA) with the random init, itself, or another run"));
  auto* runs = new RunsPanel(controller_, this);
  connect(runs, &RunsPanel::runActivated, this, &MainWindow::openRun);
  add("Runs", runs, tr("The results table across runs: the settings that differ, the probes, a scatter"));
  auto* sweep = new SweepPanel(controller_, this);
  add("Sweep", sweep,
      tr("A sweep's points as a heat map of their probe results, filled in as they finish"));
  connect(sweep, &SweepPanel::openPointRequested, this, &MainWindow::openRun);
  connect(sweep, &SweepPanel::sweepOpened, this, [this](const QString& folder) {
    if (controller_->state() != SessionState::Idle) return;
    try {  // the experiment panel shows what the sweep varies
      std::ifstream plan(QDir(folder).filePath("sweep.json").toStdString());
      setExperiment(experimentFromJson(nlohmann::json::parse(plan).at("experiment")));
    } catch (const std::exception&) {
      // A results file without its plan: the panel keeps its experiment.
    }
  });
  connect(controller_, &SessionController::sweepStarted, this, [this] { showPanel("Sweep"); });
  connect(embedding, &EmbeddingPanel::imageSelected, this, [this, neighbours](qint64 index) {
    neighbours->setQueryTestIndex(index);
    showPanel("Neighbours");
  });
}

void MainWindow::buildActions() {
  auto make = [&](const QString& key, const QString& text, const QKeySequence& shortcut,
                  const QString& tip, QStyle::StandardPixmap icon) {
    auto* a = new QAction(style()->standardIcon(icon), text, this);
    a->setShortcut(shortcut);
    a->setToolTip(QString("%1 (%2)").arg(tip, shortcut.toString(QKeySequence::NativeText)));
    a->setShortcutContext(Qt::ApplicationShortcut);
    actions_[key] = a;
    return a;
  };
  connect(make("start", tr("Start"), Qt::Key_F5, tr("Train the experiment into a new run folder"),
               QStyle::SP_MediaPlay),
          &QAction::triggered, this, &MainWindow::start);
  connect(make("pause", tr("Pause"), Qt::Key_F6, tr("Pause or resume training"), QStyle::SP_MediaPause),
          &QAction::triggered, this, [this] {
            if (controller_->state() == SessionState::Paused)
              controller_->resume();
            else
              controller_->pause();
          });
  connect(make("step", tr("Step"), Qt::Key_F10, tr("Train one batch, then pause"),
               QStyle::SP_MediaSkipForward),
          &QAction::triggered, this, [this] {
            if (controller_->state() == SessionState::Idle && !pushExperiment()) return;
            controller_->step();
          });
  connect(make("stop", tr("Stop"), QKeySequence(Qt::SHIFT | Qt::Key_F5),
               tr("Stop; the run keeps a checkpoint and can be resumed"), QStyle::SP_MediaStop),
          &QAction::triggered, controller_, &SessionController::stop);
  connect(make("reset", tr("Reset"), QKeySequence(Qt::CTRL | Qt::Key_R),
               tr("Stop and start over from a fresh random initialisation"), QStyle::SP_BrowserReload),
          &QAction::triggered, this, [this] {
            controller_->reset();
            updateTitle();
          });
  auto* present = make("present", tr("Presentation mode"), Qt::Key_F11,
                       tr("Large type, the method's idea on screen, only the controls a class needs"),
                       QStyle::SP_DesktopIcon);
  present->setCheckable(true);
  connect(present, &QAction::toggled, this, &MainWindow::setPresentationMode);
}

void MainWindow::buildToolBar() {
  QToolBar* bar = addToolBar(tr("Controls"));
  bar->setObjectName("controls");
  bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  for (const char* key : {"start", "pause", "step", "stop", "reset"}) bar->addAction(actions_[key]);
  bar->addSeparator();
  bar->addWidget(new QLabel(tr(" Demo: "), bar));
  presetBox_ = new QComboBox(bar);
  presetBox_->addItem(tr("(choose a preset)"));
  for (const std::string& name : presetNames()) presetBox_->addItem(QString::fromStdString(name));
  presetBox_->setToolTip(tr("Load a ready-made experiment (the classroom demos)"));
  connect(presetBox_, qOverload<int>(&QComboBox::activated), this, [this](int i) {
    if (i > 0) loadPreset(presetBox_->itemText(i));
    presetBox_->setCurrentIndex(0);
  });
  bar->addWidget(presetBox_);
  bar->addSeparator();
  bar->addAction(actions_["present"]);
}

void MainWindow::buildStatusBar() {
  stateLabel_ = new QLabel(this);
  stateLabel_->setObjectName("stateLabel");
  progress_ = new QProgressBar(this);
  progress_->setObjectName("stepProgress");
  progress_->setMaximumWidth(260);
  progress_->setFormat("%v / %m steps");
  progress_->setRange(0, 1);
  progress_->setValue(0);
  speedLabel_ = new QLabel(this);
  etaLabel_ = new QLabel(this);
  deviceLabel_ = new QLabel(this);
  // Permanent widgets: a message (e.g. "Opened RUN for inspection") shows on their left
  // instead of hiding them.
  statusBar()->addPermanentWidget(stateLabel_);
  statusBar()->addPermanentWidget(progress_);
  statusBar()->addPermanentWidget(speedLabel_);
  statusBar()->addPermanentWidget(etaLabel_);
  statusBar()->addPermanentWidget(deviceLabel_);
}

void MainWindow::wireController() {
  connect(controller_, &SessionController::stateChanged, this, &MainWindow::onStateChanged);
  connect(controller_, &SessionController::started, this, &MainWindow::onStarted);
  connect(controller_, &SessionController::stepsArrived, this, &MainWindow::onSteps);
  connect(controller_, &SessionController::failed, this,
          [this](const QString& m) { showError(tr("Training failed"), m); });
  connect(controller_, &SessionController::inspectionFailed, this, [this](const QString& m) {
    statusBar()->showMessage(tr("Inspection failed: %1").arg(m), 8000);
  });
  connect(controller_, &SessionController::finished, this, [this](const QString& dir, bool stopped) {
    statusBar()->showMessage(stopped ? tr("Stopped; %1 can be resumed").arg(dir)
                                     : tr("Finished: %1").arg(dir), 10000);
    updateTitle();
  });
  connect(controller_, &SessionController::runOpened, this, [this](const QString& dir) {
    try {
      experimentPanel_->setExperiment(loadExperiment((dir + "/experiment.json").toStdString()));
    } catch (const std::exception& e) {
      showError(tr("Cannot read the run's experiment"), QString::fromUtf8(e.what()));
    }
    updateTitle();
    statusBar()->showMessage(controller_->following()
                                 ? tr("Following %1: the curves grow as it trains, the panels "
                                      "reload at each checkpoint")
                                       .arg(dir)
                                 : tr("Opened %1 for inspection").arg(dir),
                             8000);
    QFile stateFile(dir + "/state.json");
    openedStep_ = stateFile.open(QIODevice::ReadOnly)
                      ? QJsonDocument::fromJson(stateFile.readAll()).object().value("step").toInteger()
                      : 0;
    showPlannedSteps();
    if (!examplePanel_.isEmpty()) showPanel(examplePanel_);
    examplePanel_.clear();
  });
  connect(controller_, &SessionController::sessionChanged, this, &MainWindow::showPlannedSteps);
  connect(controller_, &SessionController::followingChanged, this, [this] {
    updateActions();
    updateTitle();
  });
  connect(controller_, &SessionController::followStalled, this, [this](qint64 seconds) {
    etaLabel_->setText(tr("no new step for %1").arg(duration(double(seconds))));
  });
  connect(controller_, &SessionController::followEnded, this, [this](const QString& dir, qint64 step) {
    etaLabel_->setText(tr("finished"));
    statusBar()->showMessage(tr("%1 finished at step %2; its last checkpoint is loaded").arg(dir).arg(step),
                             10000);
  });
  connect(controller_, &SessionController::cleared, this, [this] {
    openedStep_ = 0;
    showPlannedSteps();
  });
  connect(experimentPanel_, &ExperimentPanel::changed, this, [this] {
    if (controller_->state() != SessionState::Idle) return;
    QString why;
    if (experimentPanel_->valid(&why)) pushExperiment();
  });
  connect(experimentPanel_, &ExperimentPanel::methodChanged, banner_, &PresentationBanner::setMethod);
}

bool MainWindow::pushExperiment() {
  try {
    const Experiment e = experimentPanel_->experiment();
    controller_->setExperiment(e);
    banner_->setMethod(QString::fromStdString(e.method));
    deviceLabel_->setText(controller_->deviceName());
    updateTitle();
    return true;
  } catch (const std::exception& e) {
    showError(tr("The experiment is not valid"), QString::fromUtf8(e.what()));
    return false;
  }
}

void MainWindow::setExperiment(const Experiment& e) {
  experimentPanel_->setExperiment(e);
  pushExperiment();
}

void MainWindow::loadPreset(const QString& name) {
  if (controller_->state() != SessionState::Idle) {
    showError(tr("Training is running"), tr("Stop the run before loading a preset."));
    return;
  }
  try {
    setExperiment(experimentFromJson(loadPresetJson(name.toStdString())));
    experimentPath_.clear();
    statusBar()->showMessage(tr("Preset %1 loaded; press Start (F5)").arg(name), 8000);
  } catch (const std::exception& e) {
    showError(tr("Cannot load preset %1").arg(name), QString::fromUtf8(e.what()));
  }
}

bool MainWindow::openExperimentFile(const QString& path) {
  try {
    setExperiment(loadExperiment(path.toStdString()));
    experimentPath_ = path;
    return true;
  } catch (const std::exception& e) {
    showError(tr("Cannot open the experiment"), QString::fromUtf8(e.what()));
    return false;
  }
}

bool MainWindow::saveExperimentFile(const QString& path) {
  try {
    saveExperiment(experimentPanel_->experiment(), path.toStdString());
    experimentPath_ = path;
    statusBar()->showMessage(tr("Saved %1 (run it with: pretext-cli train %1)").arg(path), 8000);
    return true;
  } catch (const std::exception& e) {
    showError(tr("Cannot save the experiment"), QString::fromUtf8(e.what()));
    return false;
  }
}

void MainWindow::openRun(const QString& dir) { controller_->openRun(dir); }

void MainWindow::compareWith(const QString& runDir) {
  auto* compare = qobject_cast<ComparePanel*>(panel("Compare"));
  if (!compare) return;
  compare->setPartnerRun(runDir);
  showPanel("Compare");
  compare->compute();  // queued behind an open in progress on the engine thread
}

void MainWindow::followRun(const QString& dir) {
  if (controller_->state() != SessionState::Idle) {
    showError(tr("Training is running"), tr("Stop the run before following another one."));
    return;
  }
  try {
    loadExperiment((dir + "/experiment.json").toStdString());
  } catch (const std::exception& e) {
    showError(tr("Cannot follow %1").arg(dir),
              QString::fromUtf8(e.what()) +
                  tr("\nPick the run folder that pretext-cli train printed when it started "
                     "(it holds experiment.json)."));
    return;
  }
  controller_->followRun(dir);
}

void MainWindow::openExample(const QString& name) {
  try {
    const ExampleRun example = findExampleRun(name.toStdString());
    const std::string copy = copyExampleRun(example.name, controller_->runsFolder().toStdString());
    examplePanel_ = QString::fromStdString(example.panel);
    openRun(QString::fromStdString(copy));
  } catch (const std::exception& e) {
    showError(tr("Cannot open the example %1").arg(name), QString::fromUtf8(e.what()));
  }
}

void MainWindow::showProgress(qint64 step, qint64 total) {
  progress_->setRange(0, int(std::max<qint64>(1, total)));
  progress_->setValue(int(std::min(step, std::max<qint64>(1, total))));
  progress_->setFormat(tr("%1 / %2 steps").arg(QLocale().toString(step), QLocale().toString(total)));
}

void MainWindow::showPlannedSteps() {
  if (controller_->state() != SessionState::Idle) return;
  if (lessonSweepPoints_ > 0) {
    // A sweep lesson: its points, not the steps of the base experiment the panel shows.
    showLessonSweepPoints();
    return;
  }
  controller_->inspect<qint64>(
      this, [](Session& s) { return qint64(plannedSteps(s.experiment, s.data.train.size())); },
      [this](qint64 total) {
        if (controller_->state() != SessionState::Idle) return;
        if (lessonSweepPoints_ > 0)
          showLessonSweepPoints();  // a sweep lesson opened while this was being counted
        else
          showProgress(openedStep_, total);
      },
      "plannedSteps");
}

void MainWindow::resumeRun(const QString& dir) {
  try {
    const Experiment e = loadExperiment((dir + "/experiment.json").toStdString());
    experimentPanel_->setExperiment(e);
    controller_->setExperiment(e);
    controller_->resumeRun(dir);
  } catch (const std::exception& e) {
    showError(tr("Cannot resume %1").arg(dir), QString::fromUtf8(e.what()));
  }
}

void MainWindow::start() {
  if (controller_->state() != SessionState::Idle || !pushExperiment()) return;
  controller_->start();
}

void MainWindow::onStarted(const RunInfo& info) {
  showProgress(info.startStep, info.totalSteps);
  deviceLabel_->setText(info.device);
  updateTitle();
}

void MainWindow::onSteps(const QVector<StepPoint>& points) {
  if (points.isEmpty()) return;
  const StepPoint& p = points.last();
  if (controller_->following()) openedStep_ = p.step;  // a followed run: its latest step
  showProgress(p.step, p.totalSteps);
  speedLabel_->setText(tr("%1 img/s").arg(p.imgPerSec, 0, 'f', 0));
  // A followed run's ETA is unknown until its planned steps and speed are.
  etaLabel_->setText(p.etaSeconds > 0 || !controller_->following() ? tr("ETA %1").arg(duration(p.etaSeconds))
                                                                    : QString());
}

void MainWindow::onStateChanged(SessionState state) {
  updateActions();
  experimentPanel_->setLocked(state != SessionState::Idle);
  if (state == SessionState::Idle) etaLabel_->clear();
}

void MainWindow::updateActions() {
  const SessionState s = controller_->state();
  const bool idle = s == SessionState::Idle;
  actions_["start"]->setEnabled(idle);
  actions_["pause"]->setEnabled(s == SessionState::Running || s == SessionState::Paused);
  actions_["pause"]->setText(s == SessionState::Paused ? tr("Resume") : tr("Pause"));
  actions_["step"]->setEnabled(s != SessionState::Stopping);
  actions_["stop"]->setEnabled(s == SessionState::Running || s == SessionState::Paused);
  actions_["reset"]->setEnabled(s != SessionState::Stopping);
  static const QMap<SessionState, QString> names{{SessionState::Idle, tr("Ready")},
                                                 {SessionState::Running, tr("Training")},
                                                 {SessionState::Paused, tr("Paused")},
                                                 {SessionState::Stopping, tr("Stopping...")}};
  stateLabel_->setText(idle && controller_->following() ? tr("Following") : names.value(s));
  if (presetBox_) presetBox_->setEnabled(idle);
}

void MainWindow::updateTitle() {
  QString title = QString::fromStdString(controller_->experiment().name);
  if (!controller_->runDir().isEmpty()) title += " — " + QDir(controller_->runDir()).dirName();
  if (controller_->following()) title += tr(" (following)");
  setWindowTitle(title + " — Pretext");
}

void MainWindow::showError(const QString& title, const QString& message) {
  statusBar()->showMessage(title + ": " + message, 10000);
  // Non-modal: the window (and training) go on while the message is shown.
  auto* box = new QMessageBox(QMessageBox::Warning, title, message, QMessageBox::Ok, this);
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->setObjectName("errorBox");
  box->open();
}

QWidget* MainWindow::panel(const QString& name) const { return panels_.value(name); }

QAction* MainWindow::action(const QString& name) const { return actions_.value(name); }

void MainWindow::showPanel(const QString& name) {
  if (QWidget* w = panels_.value(name)) tabs_->setCurrentWidget(w);
}

void MainWindow::setPresentationMode(bool on) {
  if (on == presenting_) return;
  presenting_ = on;
  if (actions_["present"]->isChecked() != on) actions_["present"]->setChecked(on);
  if (auto* views = qobject_cast<MethodViewsPanel*>(panel("Method views"))) views->setLargePictures(on);
  if (on) {
    normalState_ = saveState();
    QFont big = normalFont_;
    big.setPointSizeF(normalFont_.pointSizeF() * 1.45);
    setFont(big);
    experimentDock_->hide();
    logDock_->hide();
    menuBar()->hide();
    for (QToolBar* bar : findChildren<QToolBar*>()) {
      bar->setIconSize(QSize(40, 40));
      bar->setToolButtonStyle(Qt::ToolButtonTextUnderIcon);
    }
    banner_->setMethod(QString::fromStdString(controller_->experiment().method));
    banner_->show();
  } else {
    setFont(normalFont_);
    menuBar()->show();
    for (QToolBar* bar : findChildren<QToolBar*>()) {
      bar->setIconSize(QSize(24, 24));
      bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    }
    banner_->hide();
    restoreState(normalState_);
    experimentDock_->show();
    logDock_->show();
  }
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (controller_->training()) {
    const auto answer = QMessageBox::question(
        this, tr("Training is running"),
        tr("Stop training and quit? The run keeps its last checkpoint and can be resumed."));
    if (answer != QMessageBox::Yes) {
      event->ignore();
      return;
    }
  }
  if (presenting_) setPresentationMode(false);
  if (options_.useSettings) {
    QSettings settings;
    settings.setValue("window/geometry", saveGeometry());
    settings.setValue("window/state", saveState());
    settings.setValue("window/tab", tabs_->currentIndex());
    try {
      settings.setValue("experiment/last",
                        QByteArray::fromStdString(experimentToJson(experimentPanel_->experiment()).dump()));
    } catch (const std::exception&) {
    }
  }
  event->accept();
}

}  // namespace pretext
