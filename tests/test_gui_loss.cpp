// The "Inside the loss" panel through the session controller (engine thread): a SimCLR random
// init's batch taken apart (2N rows, positives, the hardest anchors, the terms), New batch, RotNet's
// (rows of turned images against the four turns), and a method that offers no anatomy saying so.
#include "test_main.h"
#include <torch/torch.h>

#include <QSignalSpy>
#include <QtTest>
#include <filesystem>

#include "core/config/experiment.h"
#include "core/methods/method.h"
#include "test_support.h"
#include "ui/inspect/loss_panel.h"
#include "ui/window/session_controller.h"

using namespace pretext;
namespace fs = std::filesystem;

class TestGuiLoss : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_;

 private slots:
  void initTestCase() {
    at::set_num_threads(2);
    data_ = dir_.filePath("mnist").toStdString();
    fs::create_directories(data_);
    test::writeTinyMnist(data_, 96, 40);
  }

  void simclrBatchTakenApartThenAMethodWithout() {
    SessionController c;
    c.setExperiment(experimentFromJson(test::tinyExperimentJson(data_, "simclr", 1)));
    LossPanel panel(&c);
    QSignalSpy refreshed(&panel, &LossPanel::refreshed);
    panel.setBatchSize(8);
    panel.resize(1100, 700);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QTRY_VERIFY_WITH_TIMEOUT(panel.anatomy() != nullptr && panel.anatomy()->matrix.size(0) == 16, 30000);
    const LossAnatomy* a = panel.anatomy();
    QCOMPARE(a->positives[0].item<int64_t>(), int64_t(8));
    QCOMPARE(a->images.size(0), 16);
    QCOMPARE(panel.hardestShown(), 4);
    QVERIFY2(panel.terms().startsWith("loss = "), qPrintable(panel.terms()));
    const auto first = a->matrix.clone();
    refreshed.clear();
    panel.newBatch();
    QVERIFY(refreshed.wait(30000));
    QVERIFY(!torch::allclose(panel.anatomy()->matrix.nan_to_num(0), first.nan_to_num(0)));
    if (const QString shots = qEnvironmentVariable("PRETEXT_SCREENSHOTS"); !shots.isEmpty())
      panel.grab().save(shots + "/loss-panel.png");

    // RotNet: rows are turned images, columns the four turns (not images): the hardest rows are
    // shown alone.
    refreshed.clear();
    c.setExperiment(experimentFromJson(test::tinyExperimentJson(data_, "rotation", 1)));
    panel.refresh();
    QTRY_VERIFY_WITH_TIMEOUT(panel.anatomy() != nullptr && panel.anatomy()->matrix.size(0) == 32, 30000);
    QCOMPARE(panel.anatomy()->matrix.size(1), 4);
    QVERIFY(!panel.anatomy()->columnImages.defined());
    QCOMPARE(panel.hardestShown(), 8);

    refreshed.clear();
    c.setExperiment(experimentFromJson(test::tinyExperimentJson(data_, "supervised", 1)));
    panel.refresh();
    QTRY_VERIFY_WITH_TIMEOUT(panel.anatomy() == nullptr && panel.status().contains("does not take its loss apart"),
                             30000);
  }
};

PRETEXT_TEST_AREA(TestGuiLoss, "gui_loss")
#include "test_gui_loss.moc"
