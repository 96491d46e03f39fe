// Lessons in the window: every shipped lesson opens from the Start tab (and has its Lessons menu
// entry) with its card, its panel and presentation mode, and closes back; a tiny one-run lesson
// that asks for its probes and its label curve trains from the card's button, is probed by kNN
// and the linear probe when it has trained, and draws its label curve.
#include "test_main.h"
#include <QAction>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QTabWidget>
#include <QtTest>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/train/lesson.h"
#include "core/train/sweep.h"
#include "test_support.h"
#include "ui/evaluation/evaluation_panel.h"
#include "ui/evaluation/label_curve_view.h"
#include "ui/window/lesson_card.h"
#include "ui/window/main_window.h"
#include "ui/window/session_controller.h"

using namespace pretext;
namespace fs = std::filesystem;
using json = nlohmann::json;

class TestGuiLessons : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;

 private slots:
  void everyLessonOpensWithItsCardAndPanel() {
    MainWindowOptions options;
    options.useSettings = false;
    MainWindow window(options);
    window.controller()->setRunsFolder(dir_.filePath("runs"));
    window.resize(1300, 850);
    window.show();
    auto* card = window.findChild<LessonCard*>("lessonCard");
    QVERIFY(card);
    const auto lessons = allLessons();
    QVERIFY(lessons.size() >= 7);
    for (const Lesson& l : lessons) {
      const QString name = QString::fromStdString(l.name);
      QVERIFY2(window.findChild<QAction*>("lesson_" + name), qPrintable(name));  // the menu
      auto* button = window.findChild<QPushButton*>("lesson_" + name);          // the Start tab
      QVERIFY2(button, qPrintable(name));
      window.showPanel("Start");
      button->click();
      QVERIFY2(card->isVisible() && card->hasLesson() && card->lesson().name == l.name, qPrintable(name));
      QVERIFY(card->text().contains(QString::fromStdString(l.title).toHtmlEscaped()));
      // What it measured stays hidden until asked for.
      auto* result = card->findChild<QWidget*>("lessonResult");
      auto* showResult = card->findChild<QPushButton*>("lessonShowResult");
      QVERIFY(result && showResult && !result->isVisible());
      QCOMPARE(showResult->isVisible(), !l.result.empty());
      if (!l.result.empty()) {
        showResult->click();
        QVERIFY(result->isVisible());
      }
      QVERIFY(window.presentationMode());
      QWidget* shown = window.panel(QString::fromStdString(l.panel));
      QVERIFY2(shown, qPrintable(name + ": its panel " + QString::fromStdString(l.panel)));
      QCOMPARE(window.tabs()->currentWidget(), shown);
      // The experiment panel holds what the lesson trains.
      const std::string method = window.controller()->experiment().method;
      QVERIFY2(!method.empty(), qPrintable(name));
      // A sweep lesson's progress counts its points, not the base experiment's steps.
      if (l.isSweep()) {
        auto* progress = window.findChild<QProgressBar*>("stepProgress");
        QVERIFY(progress);
        const int points = int(loadSweep(lessonSweepPath(l)).points.size());
        QCOMPARE(progress->format(), QStringLiteral("0 / %1 sweep points").arg(points));
        QCOMPARE(progress->maximum(), points);
      }
      // A lesson on a ready-trained example opens a copy of it in the lesson's folder.
      if (l.isExample())
        QVERIFY2(fs::is_regular_file(dir_.filePath("runs/lessons/" + name + "/examples/" +
                                                   QString::fromStdString(l.example) + "/checkpoint.pt")
                                         .toStdString()),
                 qPrintable(name));
      card->findChild<QPushButton*>("lessonClose")->click();
      QVERIFY(!card->isVisible());
      QVERIFY(!window.presentationMode());
    }
  }

  void aOneRunLessonTrainsAndIsProbed() {
    // A resources folder of its own: the window's first preset, a tiny one and a lesson on it.
    const std::string resources = dir_.filePath("resources").toStdString();
    const std::string data = dir_.filePath("mnist").toStdString();
    fs::create_directories(data);
    test::writeTinyMnist(data);
    fs::create_directories(resources + "/presets");
    fs::create_directories(resources + "/lessons");
    fs::copy_file(std::string(PRETEXT_RESOURCE_DIR) + "/presets/simclr-fashion.json",
                  resources + "/presets/simclr-fashion.json");
    json tiny = test::tinyExperimentJson(data, "simclr", 2);
    tiny["name"] = "tiny";
    tiny["run"]["threads"] = 1;
    tiny["run"]["tensorboard"] = false;
    tiny["eval"]["knn_every"] = 0;
    test::writeText(resources + "/presets/tiny.json", tiny.dump(2));
    const json lesson{{"title", "Tiny"},          {"claim", "A claim."},
                      {"explanation", "Words."},  {"look_at", "The probes."},
                      {"panel", "Curves"},        {"preset", "tiny"},
                      {"evaluate", true},         {"minutes", 1},
                      {"label_curve", {{"labels_per_class", {2, 4}}, {"steps", 3}}}};
    test::writeText(resources + "/lessons/tiny-probed.json", lesson.dump(2));
    ::setenv("PRETEXT_RESOURCES", resources.c_str(), 1);

    MainWindowOptions options;
    options.useSettings = false;
    MainWindow window(options);
    window.controller()->setRunsFolder(dir_.filePath("runs-probed"));
    window.show();
    window.openLesson("tiny-probed");
    auto* card = window.findChild<LessonCard*>("lessonCard");
    QVERIFY(card && card->isVisible());
    QCOMPARE(window.controller()->experiment().name, std::string("tiny"));
    auto* evaluation = qobject_cast<EvaluationPanel*>(window.panel("Evaluation"));
    QVERIFY(evaluation);
    QSignalSpy evaluated(evaluation, &EvaluationPanel::evaluationFinished);
    QSignalSpy finished(window.controller(), &SessionController::finished);
    card->findChild<QPushButton*>("lessonStart")->click();
    QCOMPARE(window.tabs()->currentWidget(), window.panel("Curves"));
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, 120000);
    // kNN, the linear probe, then the label curve: both inits at 2 and 4 labels per class.
    QTRY_VERIFY_WITH_TIMEOUT(evaluated.count() == 6, 120000);
    const auto& curve = evaluation->labelCurveView()->curve();
    QCOMPARE(int(curve.size()), 2);
    QCOMPARE(curve[1].labelsPerClass, int64_t(4));
    QVERIFY(curve[0].trained > 0 && curve[0].scratch > 0 && curve[1].trained > 0 && curve[1].scratch > 0);
    QVERIFY(evaluation->labelCurveView()->isVisible());  // its tab is the one shown
    // Every result is saved in the run's evaluations.jsonl.
    const QString runDir = finished.first().at(0).toString();
    std::ifstream records((runDir + "/evaluations.jsonl").toStdString());
    QStringList protocols;
    for (std::string line; std::getline(records, line);)
      protocols << QString::fromStdString(json::parse(line).value("protocol", std::string()));
    QCOMPARE(protocols, (QStringList{"knn", "linear", "finetune", "finetune", "finetune", "finetune"}));
    QCOMPARE(window.tabs()->currentWidget(), window.panel("Evaluation"));
    ::unsetenv("PRETEXT_RESOURCES");
  }
};

PRETEXT_TEST_AREA(TestGuiLessons, "gui_lessons")
#include "test_gui_lessons.moc"
