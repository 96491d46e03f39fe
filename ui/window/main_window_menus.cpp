#include "ui/window/main_window.h"

#include <QAction>
#include <QDir>
#include <QFileDialog>
#include <QMenuBar>
#include <QMessageBox>
#include <QTabWidget>

#include "core/config/experiment.h"
#include "core/train/examples.h"
#include "core/train/lesson.h"
#include "ui/sweep/sweep_panel.h"
#include "ui/window/session_controller.h"

// MainWindow's menu bar (the rest of the window is in main_window.cpp).
namespace pretext {

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&New experiment"), QKeySequence::New, this, [this] { loadPreset("simclr-fashion"); });
  file->addAction(tr("&Open experiment..."), QKeySequence::Open, this, [this] {
    const QString path = QFileDialog::getOpenFileName(this, tr("Open experiment"), {},
                                                      tr("Experiments (*.json)"));
    if (!path.isEmpty()) openExperimentFile(path);
  });
  file->addAction(tr("&Save experiment as..."), QKeySequence::Save, this, [this] {
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Save experiment"), experimentPath_.isEmpty() ? "experiment.json" : experimentPath_,
        tr("Experiments (*.json)"));
    if (!path.isEmpty()) saveExperimentFile(path);
  });
  file->addSeparator();
  file->addAction(tr("Open &run..."), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O), this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a run folder"),
                                                          controller_->runsFolder());
    if (!dir.isEmpty()) openRun(dir);
  });
  file->addAction(tr("&Follow run..."), this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Follow a run folder that another process is writing"), controller_->runsFolder());
    if (!dir.isEmpty()) followRun(dir);
  })->setStatusTip(tr("Watch a run that pretext-cli, torchrun or Slurm is training: the curves grow, "
                      "the panels reload at each checkpoint"));
  file->addAction(tr("Open &weights..."), this, [this] {
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Open PyTorch weights (a state_dict: torchvision ResNet-18/34, a solo-learn or "
                 "lightly backbone, a Pretext export)"),
        {}, tr("PyTorch weights (*.pt *.pth *.ckpt *.tar);;All files (*)"));
    if (!path.isEmpty()) controller_->openWeights(path);
  })->setStatusTip(tr("Import a PyTorch state_dict as a run that every panel inspects"));
  QMenu* examples = file->addMenu(tr("Open e&xample"));
  for (const ExampleRun& e : exampleRuns()) {
    const QString name = QString::fromStdString(e.name);
    QAction* a = examples->addAction(QString::fromStdString(e.title), this, [this, name] { openExample(name); });
    a->setStatusTip(QString::fromStdString(e.summary));
  }
  if (examples->isEmpty()) examples->addAction(tr("(none found)"))->setEnabled(false);
  auto* sweep = qobject_cast<SweepPanel*>(panel("Sweep"));
  file->addAction(tr("Run s&weep..."), this,
                  [this, sweep] {
                    const QString path = QFileDialog::getOpenFileName(this, tr("Run a sweep file"),
                                                                      {}, tr("Sweeps (*.json)"));
                    if (!path.isEmpty()) sweep->runSweep(path);
                  })
      ->setStatusTip(tr(
          "Train a sweep file's points one after another, shown as a heat map in the Sweep tab"));
  file->addAction(tr("Open swee&p..."), this,
                  [this, sweep] {
                    const QString dir = QFileDialog::getExistingDirectory(
                        this, tr("Open a sweep folder"),
                        QDir(controller_->runsFolder()).filePath("sweeps"));
                    if (dir.isEmpty()) return;
                    sweep->openSweep(dir);
                    showPanel("Sweep");
                  })
      ->setStatusTip(tr("Show a sweep's results (also one that pretext-cli sweep is running)"));
  file->addAction(tr("Res&ume run..."), this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Resume a run folder"),
                                                          controller_->runsFolder());
    if (!dir.isEmpty()) resumeRun(dir);
  });
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

  QMenu* run = menuBar()->addMenu(tr("&Run"));
  for (const char* key : {"start", "pause", "step", "stop", "reset"}) run->addAction(actions_[key]);

  QMenu* presets = menuBar()->addMenu(tr("&Presets"));
  for (const std::string& name : presetNames()) {
    const QString n = QString::fromStdString(name);
    QString tip;
    try {
      tip = QString::fromStdString(loadPresetJson(name).value("description", std::string()));
    } catch (const std::exception&) {
    }
    QAction* a = presets->addAction(n, this, [this, n] { loadPreset(n); });
    a->setToolTip(tip);
    a->setStatusTip(tip);
  }

  QMenu* lessons = menuBar()->addMenu(tr("&Lessons"));
  for (const Lesson& l : allLessons()) {
    const QString name = QString::fromStdString(l.name);
    QAction* a = lessons->addAction(QString::fromStdString(l.title), this, [this, name] { openLesson(name); });
    a->setObjectName("lesson_" + name);
    a->setStatusTip(QString::fromStdString(l.claim));
  }
  if (lessons->isEmpty()) lessons->addAction(tr("(none found)"))->setEnabled(false);

  QMenu* view = menuBar()->addMenu(tr("&View"));
  for (int i = 0; i < tabs_->count(); ++i) {
    const QString name = tabs_->tabText(i);
    view->addAction(name, QKeySequence(QString("Ctrl+%1").arg(i + 1)), this,
                    [this, name] { showPanel(name); });
  }
  view->addSeparator();
  view->addAction(experimentDock_->toggleViewAction());
  view->addAction(logDock_->toggleViewAction());
  view->addSeparator();
  view->addAction(actions_["present"]);

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&Keyboard shortcuts"), this, [this] {
    QString text = "<table>";
    for (const char* key : {"start", "pause", "step", "stop", "reset", "present"})
      text += QString("<tr><td><b>%1</b></td><td>%2</td></tr>")
                  .arg(actions_[key]->shortcut().toString(QKeySequence::NativeText),
                       actions_[key]->text());
    text +=
        tr("<tr><td><b>Ctrl+1..9</b></td><td>show a panel</td></tr>"
           "<tr><td><b>R</b></td><td>re-roll the augmentations</td></tr></table>");
    QMessageBox::information(this, tr("Keyboard shortcuts"), text);
  });
  help->addAction(tr("&About Pretext"), this, [this] {
    QMessageBox::about(this, tr("About Pretext"),
                       tr("<b>Pretext</b> — a workbench for self-supervised visual representation "
                          "learning: configure, train, watch and look inside."));
  });
}

}  // namespace pretext
