// pretext: the workbench window.
//   pretext [--preset NAME | --experiment FILE] [--open-run DIR | --follow DIR | --open-example NAME]
//           [--open-sweep DIR | --sweep FILE] [--runs DIR]
//           [--compare-with DIR] [--lesson NAME] [--start] [--present] [--size WxH]
//   pretext --screenshots DIR [--steps N] [--panels A,B]
//                           trains N steps, saves a picture of every panel (or of A, B), quits
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QTimer>

#include <cstdlib>
#include <iostream>

#include "core/config/experiment.h"
#include "core/train/lesson.h"
#include "core/util/threads.h"
#include "ui/sweep/sweep_panel.h"
#include "ui/window/main_window.h"
#include "ui/window/screenshots.h"
#include "ui/window/session_controller.h"

int main(int argc, char** argv) {
  // The training thread's OpenMP workers must sleep, not spin, when they wait: with a window to
  // paint on the same cores, spinning workers starve the event loop (and training gains nothing).
  pretext::useOpenMpWaitPolicy(argv);
  QApplication app(argc, argv);
  QApplication::setOrganizationName("Pretext");
  QApplication::setApplicationName("Pretext");
  QApplication::setApplicationVersion(PRETEXT_VERSION);

  QCommandLineParser cli;
  cli.setApplicationDescription("Pretext: a workbench for self-supervised visual representation learning");
  cli.addHelpOption();
  cli.addVersionOption();
  QCommandLineOption preset("preset", "Load a preset (see pretext-cli presets).", "name");
  QCommandLineOption experiment("experiment", "Load an experiment JSON file.", "file");
  QCommandLineOption openRun("open-run", "Open a run folder for inspection.", "dir");
  QCommandLineOption follow("follow",
                            "Follow a run folder another process is writing (curves grow, panels reload "
                            "at each checkpoint).",
                            "dir");
  QCommandLineOption openExample("open-example",
                                 "Open a ready-trained example (pretext-cli examples lists them).", "name");
  QCommandLineOption openSweep("open-sweep", "Show a sweep folder's results in the Sweep tab.",
                               "dir");
  QCommandLineOption sweep("sweep", "Run a sweep file (or continue a sweep folder) in the window.",
                           "file");
  QCommandLineOption runs("runs", "Folder for new runs (default: runs).", "dir");
  QCommandLineOption compareWith("compare-with",
                                 "Show the Compare panel: the opened run (or example) against this run "
                                 "folder, layer by layer (linear CKA).",
                                 "dir");
  QCommandLineOption lesson("lesson", "Open a lesson (pretext-cli lessons lists them); with --start, run it.",
                            "name");
  QCommandLineOption start("start", "Start training at once.");
  QCommandLineOption present("present", "Start in presentation mode.");
  QCommandLineOption shots("screenshots", "Train, save a PNG of every panel into DIR, and quit.", "dir");
  QCommandLineOption steps("steps",
                           "With --screenshots: training steps first (default 60; 0 with an opened run).",
                           "n", "60");
  QCommandLineOption panels("panels",
                            "With --screenshots: only these panels, comma-separated (and "
                            "'presentation' for presentation mode).",
                            "names");
  QCommandLineOption fresh("no-settings", "Ignore and keep the saved layout and last experiment.");
  QCommandLineOption size("size", "The window's size, e.g. 1920x1080 (a projector; a figure).", "WxH");
  cli.addOptions({preset, experiment, openRun, follow, openExample, openSweep, sweep, runs, compareWith, lesson,
                  start, present, shots, steps, panels, fresh, size});
  cli.process(app);

  pretext::MainWindowOptions options;
  options.useSettings = !cli.isSet(fresh) && !cli.isSet(shots);
  pretext::MainWindow window(options);
  if (cli.isSet(runs)) window.controller()->setRunsFolder(cli.value(runs));
  if (cli.isSet(preset)) window.loadPreset(cli.value(preset));
  if (cli.isSet(experiment) && !window.openExperimentFile(cli.value(experiment))) return 1;
  if (cli.isSet(size)) {
    const QStringList wh = cli.value(size).split('x');
    const int w = wh.size() == 2 ? wh[0].toInt() : 0, h = wh.size() == 2 ? wh[1].toInt() : 0;
    if (w < 320 || h < 240) {
      std::cerr << "error: --size " << cli.value(size).toStdString()
                << ": expected WIDTHxHEIGHT of at least 320x240, e.g. 1920x1080\n";
      return 1;
    }
    window.resize(w, h);
  }
  window.show();
  if (cli.isSet(lesson)) window.openLesson(cli.value(lesson));
  if (cli.isSet(openRun)) window.openRun(cli.value(openRun));
  if (cli.isSet(follow)) window.followRun(cli.value(follow));
  if (cli.isSet(openExample)) window.openExample(cli.value(openExample));
  if (cli.isSet(compareWith)) window.compareWith(cli.value(compareWith));
  auto* sweepPanel = qobject_cast<pretext::SweepPanel*>(window.panel("Sweep"));
  if (cli.isSet(openSweep)) {
    if (!sweepPanel->openSweep(cli.value(openSweep))) {
      std::cerr << "error: " << cli.value(openSweep).toStdString()
                << ": not a sweep folder (no readable sweep_results.json)\n";
      return 1;
    }
    window.showPanel("Sweep");
  }
  if (cli.isSet(sweep))
    QTimer::singleShot(0, sweepPanel, [&] { sweepPanel->runSweep(cli.value(sweep)); });
  if (cli.isSet(present)) window.setPresentationMode(true);
  if (cli.isSet(shots)) {
    // Of an opened run or example: its pictures as they are (no training unless --steps asks).
    // A lesson on a ready-trained example opens that run.
    bool exampleLesson = false;
    try {
      exampleLesson = cli.isSet(lesson) && pretext::loadLesson(cli.value(lesson).toStdString()).isExample();
    } catch (const std::exception&) {
      // openLesson has said what is wrong with it
    }
    const bool opened = cli.isSet(openRun) || cli.isSet(openExample) || cli.isSet(follow) ||
                        cli.isSet(openSweep) || exampleLesson;
    const int trainSteps = cli.isSet(steps) ? cli.value(steps).toInt() : opened ? 0 : 60;
    auto* shooter = new pretext::ScreenshotTour(&window, cli.value(shots), trainSteps);
    if (cli.isSet(panels)) shooter->setPanels(cli.value(panels).split(',', Qt::SkipEmptyParts));
    QObject::connect(shooter, &pretext::ScreenshotTour::done, &app, [&](bool ok) {
      std::cout << (ok ? "screenshots saved in " : "screenshots incomplete in ")
                << cli.value(shots).toStdString() << "\n";
      app.exit(ok ? 0 : 1);
    });
    // Unattended: a failure (a run that does not open, training that fails) ends the program
    // with its message instead of leaving an invisible dialog open.
    QObject::connect(window.controller(), &pretext::SessionController::failed, &app, [&](const QString& m) {
      std::cerr << "error: " << m.toStdString() << "\n";
      app.exit(1);
    });
    if ((cli.isSet(openSweep) || cli.isSet(lesson)) && !cli.isSet(openRun) && !cli.isSet(openExample) &&
        !cli.isSet(follow) && !exampleLesson) {
      QTimer::singleShot(500, shooter, &pretext::ScreenshotTour::run);  // drawn at once
    } else if (opened) {
      // The pictures show the opened run: the tour starts once it is loaded.
      QObject::connect(window.controller(), &pretext::SessionController::runOpened, shooter,
                       [shooter] { QTimer::singleShot(2000, shooter, &pretext::ScreenshotTour::run); },
                       Qt::SingleShotConnection);
    } else {
      QTimer::singleShot(0, shooter, &pretext::ScreenshotTour::run);
    }
  } else if (cli.isSet(start) && cli.isSet(lesson)) {
    QTimer::singleShot(0, &window, &pretext::MainWindow::runLesson);
  } else if (cli.isSet(start)) {
    QTimer::singleShot(0, &window, &pretext::MainWindow::start);
  }
  return app.exec();
}
