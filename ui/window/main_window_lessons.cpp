#include <QDir>
#include <QFileInfo>
#include <QStatusBar>

#include "core/config/experiment.h"
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
  });
  // A one-run lesson that asks for its probes gets them when it has trained.
  connect(controller_, &SessionController::finished, this, [this](const QString&, bool stopped) {
    if (!lessonRunning_) return;
    lessonRunning_ = false;
    if (stopped || !lessonCard_->hasLesson() || !lessonCard_->lesson().evaluate) return;
    if (auto* evaluation = qobject_cast<EvaluationPanel*>(panel("Evaluation"))) {
      evaluation->runKnn();
      evaluation->runLinear();
      showPanel("Evaluation");
    }
  });
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
  // A sweep lesson that ran before shows its results at once (a class need not wait again).
  const QString folder = lessonFolder(name);
  if (lesson.isSweep() && QFileInfo::exists(QDir(folder).filePath("sweep_results.json")))
    if (auto* sweep = qobject_cast<SweepPanel*>(panel("Sweep"))) sweep->openSweep(folder);
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
  } else {
    lessonRunning_ = true;
    start();
  }
  showPanel(QString::fromStdString(lesson.panel));
}

void MainWindow::closeLesson() {
  lessonRunning_ = false;
  lessonCard_->hide();
  lessonCard_->setLesson(Lesson{});
  setPresentationMode(false);
}

}  // namespace pretext
