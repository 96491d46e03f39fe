#include <QDir>
#include <QFileInfo>
#include <QStatusBar>

#include "core/config/experiment.h"
#include "core/train/examples.h"
#include "core/train/lesson.h"
#include "core/train/sweep.h"
#include "ui/evaluation/evaluation_panel.h"
#include "ui/sweep/sweep_panel.h"
#include "ui/window/lesson_card.h"
#include "ui/window/main_window.h"
#include "ui/window/session_controller.h"

// MainWindow's lessons (core/train/lesson.h): open one, run it, close it.
namespace pretext {

void MainWindow::wireLessons() {
  connect(lessonCard_, &LessonCard::startRequested, this, &MainWindow::runLesson);
  connect(lessonCard_, &LessonCard::closeRequested, this, &MainWindow::closeLesson);
  connect(controller_, &SessionController::stateChanged, this, [this](SessionState state) {
    lessonCard_->setRunning(state != SessionState::Idle);
    if (state == SessionState::Idle) showLessonSweepPoints();  // a sweep lesson's points done
  });
  // A one-run lesson that asks for its probes or its label curve gets them when it has trained.
  connect(controller_, &SessionController::finished, this, [this](const QString&, bool stopped) {
    if (!lessonRunning_) return;
    lessonRunning_ = false;
    if (!stopped && lessonCard_->hasLesson()) evaluateLesson(lessonCard_->lesson());
  });
}

void MainWindow::evaluateLesson(const Lesson& lesson) {
  if (!lesson.evaluate && !lesson.labelCurve) return;
  auto* evaluation = qobject_cast<EvaluationPanel*>(panel("Evaluation"));
  if (!evaluation) return;
  if (lesson.evaluate) {
    evaluation->runKnn();
    evaluation->runLinear();
  }
  if (lesson.labelCurve) evaluation->runLabelCurveWith(lesson.labelCurveOptions);
  showPanel("Evaluation");
}

QString MainWindow::lessonFolder(const QString& name) const {
  return QDir(controller_->runsFolder()).filePath("lessons/" + name);
}

void MainWindow::openLesson(const QString& name) {
  if (controller_->state() != SessionState::Idle) {
    showError(tr("Training is running"), tr("Stop the run before opening a lesson."));
    return;
  }
  Lesson lesson;
  try {
    lesson = loadLesson(name.toStdString());
    // The experiment panel shows what the lesson trains: its run, or its sweep's base.
    setExperiment(lesson.isSweep() ? loadSweep(lessonSweepPath(lesson)).points.front().experiment
                                   : experimentFromJson(lessonExperimentJson(lesson)));
    experimentPath_.clear();
  } catch (const std::exception& e) {
    showError(tr("Cannot open lesson %1").arg(name), QString::fromUtf8(e.what()));
    return;
  }
  lessonRunning_ = false;
  lessonCard_->setLesson(lesson);
  lessonCard_->show();
  if (lesson.labelCurve)
    if (auto* evaluation = qobject_cast<EvaluationPanel*>(panel("Evaluation"))) {
      evaluation->setLabelCurve(lesson.labelCurveOptions);
      evaluation->showLabelCurveTab();
    }
  if (lesson.isExample()) {
    // The ready-trained run, copied into RUNS/lessons/NAME/examples/EXAMPLE and opened: what the
    // lesson measured on it before (its evaluations) shows at once.
    try {
      const std::string copy =
          copyExampleRun(lesson.example, lessonFolder(name).toStdString());
      examplePanel_ = QString::fromStdString(lesson.panel);
      lessonRun_ = QString::fromStdString(copy);
      openRun(lessonRun_);
    } catch (const std::exception& e) {
      showError(tr("Cannot open lesson %1").arg(name), QString::fromUtf8(e.what()));
    }
  }
  // A sweep lesson that ran before shows its results at once (a class need not wait again).
  const QString folder = lessonFolder(name);
  if (lesson.isSweep() && QFileInfo::exists(QDir(folder).filePath("sweep_results.json")))
    if (auto* sweep = qobject_cast<SweepPanel*>(panel("Sweep"))) sweep->openSweep(folder);
  lessonSweepPoints_ = 0;
  if (lesson.isSweep()) {
    try {
      lessonSweepPoints_ = int(loadSweep(lessonSweepPath(lesson)).points.size());
    } catch (const std::exception&) {
      // parseLesson validated it; nothing to count if it changed since
    }
    showLessonSweepPoints();
  }
  setPresentationMode(true);
  const QString shown = QString::fromStdString(lesson.panel);
  if (!panel(shown))
    showError(tr("Lesson %1").arg(name),
              tr("It asks for the panel \"%1\", which this window does not have.").arg(shown));
  showPanel(shown);
  statusBar()->showMessage(tr("Lesson %1 opened; press \"Run the lesson\"").arg(name), 8000);
}

void MainWindow::runLesson() {
  if (!lessonCard_->hasLesson()) return;
  if (controller_->state() != SessionState::Idle) {
    showError(tr("Training is running"), tr("Stop the run before running the lesson."));
    return;
  }
  const Lesson& lesson = lessonCard_->lesson();
  if (lesson.isSweep()) {
    // Its points train one after another into RUNS/lessons/NAME; the Sweep tab fills in.
    controller_->runSweep(QString::fromStdString(lessonSweepPath(lesson)),
                          lessonFolder(QString::fromStdString(lesson.name)));
  } else if (lesson.isExample()) {
    // Ready-trained: nothing to train, only to measure, once its run has opened (the evaluation
    // is of the model the engine holds).
    if (QDir(controller_->runDir()) == QDir(lessonRun_)) {
      evaluateLesson(lesson);
    } else {
      connect(
          controller_, &SessionController::runOpened, this,
          [this, name = lesson.name](const QString& dir) {
            if (lessonCard_->hasLesson() && lessonCard_->lesson().name == name &&
                QDir(dir) == QDir(lessonRun_))
              evaluateLesson(lessonCard_->lesson());
          },
          Qt::SingleShotConnection);
    }
    return;
  } else {
    lessonRunning_ = true;
    start();
  }
  showPanel(QString::fromStdString(lesson.panel));
}

void MainWindow::showLessonSweepPoints() {
  if (lessonSweepPoints_ <= 0 || controller_->state() != SessionState::Idle) return;
  int done = 0;
  const QString folder = lessonCard_->hasLesson()
                             ? lessonFolder(QString::fromStdString(lessonCard_->lesson().name))
                             : QString();
  auto* sweep = qobject_cast<SweepPanel*>(panel("Sweep"));
  if (sweep && sweep->hasSweep() && QDir(sweep->folder()) == QDir(folder))
    done = sweep->results().finishedCount();
  progress_->setRange(0, lessonSweepPoints_);
  progress_->setValue(std::min(done, lessonSweepPoints_));
  progress_->setFormat(tr("%1 / %2 sweep points").arg(done).arg(lessonSweepPoints_));
}

void MainWindow::closeLesson() {
  lessonRunning_ = false;
  lessonSweepPoints_ = 0;
  lessonCard_->hide();
  lessonCard_->setLesson(Lesson{});
  setPresentationMode(false);
}

}  // namespace pretext
