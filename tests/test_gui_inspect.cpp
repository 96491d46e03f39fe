// The Embedding and "Inside the encoder" panels: the scatter widget's hit testing, hover and
// click; the panels fed directly; and both panels on a tiny MNIST-like data set through the
// session controller (random-init model, engine thread). Set PRETEXT_SCREENSHOTS=DIR to save
// pictures of the panels.
#include "test_main.h"
#include <torch/torch.h>

#include <QLabel>
#include <QSignalSpy>
#include <QtTest>
#include <filesystem>

#include "core/config/experiment.h"
#include "test_support.h"
#include "ui/inspect/embedding_panel.h"
#include "ui/inspect/encoder_panel.h"
#include "ui/widgets/scatter_view.h"
#include "ui/window/session_controller.h"

using namespace pretext;
namespace fs = std::filesystem;

namespace {

void saveShot(QWidget& w, const QString& name) {
  const QString dir = qEnvironmentVariable("PRETEXT_SCREENSHOTS");
  if (dir.isEmpty()) return;
  QTest::qWait(100);  // pending relayouts (new texts, combo sizes) land first
  w.grab().save(dir + "/" + name + ".png");
}

// The panel's status line (the label that says what the map shows).
QString statusText(QWidget& panel) {
  for (auto* l : panel.findChildren<QLabel*>())
    if (l->text().contains("t-SNE") || l->text().contains("PCA")) return l->text();
  return {};
}

}  // namespace

class TestGuiInspect : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_;

  // The shared tiny experiment (ConvNet width 4, SimCLR) on the tiny MNIST-like set.
  Experiment tinyExperiment() { return experimentFromJson(test::tinyExperimentJson(data_)); }

 private slots:
  void initTestCase() {
    at::set_num_threads(2);
    data_ = dir_.filePath("mnist").toStdString();
    fs::create_directories(data_);
    test::writeTinyMnist(data_, 96, 40);
  }

  void scatterHitTestingHoverAndClick() {
    ScatterView view;
    view.resize(500, 400);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    int asked = -1;
    view.setThumbnailProvider([&](int i) {
      asked = i;
      QImage img(8, 8, QImage::Format_Grayscale8);
      img.fill(200);
      return img;
    });
    view.setPoints({{0, 0}, {1, 1}, {2, 0}}, {0, 1, 1}, {"zero", "one"});
    QCOMPARE(view.count(), 3);
    // Distinct points land at distinct places inside the widget, y pointing up.
    const QPointF p0 = view.widgetPosition(0), p1 = view.widgetPosition(1),
                  p2 = view.widgetPosition(2);
    QVERIFY(p0.x() < p1.x() && p1.x() < p2.x());
    QVERIFY(p1.y() < p0.y());
    QVERIFY(view.rect().contains(p0.toPoint()) && view.rect().contains(p2.toPoint()));
    QCOMPARE(view.pointAt(p1), 1);
    QCOMPARE(view.pointAt(p1 + QPointF(2, -2)), 1);
    QCOMPARE(view.pointAt((p0 + p1) / 2), -1);

    QSignalSpy hovered(&view, &ScatterView::pointHovered);
    QTest::mouseMove(&view, p2.toPoint());
    QTRY_COMPARE(view.hovered(), 2);
    QCOMPARE(asked, 2);
    QCOMPARE(hovered.last().first().toInt(), 2);

    QSignalSpy clicked(&view, &ScatterView::pointClicked);
    QTest::mouseClick(&view, Qt::LeftButton, {}, p0.toPoint());
    QCOMPARE(clicked.count(), 1);
    QCOMPARE(clicked.first().first().toInt(), 0);
    QCOMPARE(view.selected(), 0);
    // A click on empty space selects nothing new.
    QTest::mouseClick(&view, Qt::LeftButton, {}, ((p0 + p1) / 2).toPoint());
    QCOMPARE(clicked.count(), 1);

    // Clicking a legend entry highlights the class; points of other classes stop being hit.
    bool foundLegend = false;
    for (int y = 0; y < view.height() && !foundLegend; y += 2)
      for (int x = view.width() - 1; x > view.width() / 2 && !foundLegend; x -= 4)
        if (view.legendEntryAt(QPointF(x, y)) == 1) {
          QTest::mouseClick(&view, Qt::LeftButton, {}, QPoint(x, y));
          foundLegend = true;
        }
    QVERIFY(foundLegend);
    QCOMPARE(view.highlightedClass(), 1);
    QCOMPARE(view.pointAt(view.widgetPosition(0)), -1);
    QCOMPARE(view.pointAt(view.widgetPosition(1)), 1);

    // Moving keeps the count; a wrong-sized update is ignored.
    view.setPositions({{0, 0}, {5, 5}, {10, 0}});
    QCOMPARE(view.positions()[1], QPointF(5, 5));
    view.setPositions({{0, 0}});
    QCOMPARE(view.count(), 3);
  }

  void embeddingPanelFedDirectlyMapsClicksToTestIndices() {
    EmbeddingPanel panel(nullptr);
    panel.resize(700, 500);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QVector<QPointF> pts;
    QVector<int> classes;
    QVector<qint64> indices;
    for (int i = 0; i < 30; ++i) {
      pts << QPointF(i % 3 * 10 + (i % 7) * 0.3, i / 3 % 2 * 4 + (i % 5) * 0.2);
      classes << i % 3;
      indices << 100 + i;
    }
    panel.setEmbedding(pts, classes, {"a", "b", "c"}, {}, indices);
    QCOMPARE(panel.view()->count(), 30);
    QSignalSpy selected(&panel, &EmbeddingPanel::imageSelected);
    const QPoint at = panel.view()->mapTo(&panel, panel.view()->widgetPosition(17).toPoint());
    const int hit = panel.view()->pointAt(panel.view()->widgetPosition(17));
    QTest::mouseClick(panel.view(), Qt::LeftButton, {}, panel.view()->mapFrom(&panel, at));
    QCOMPARE(selected.count(), 1);
    QCOMPARE(selected.first().first().value<qint64>(), qint64(100 + hit));
    panel.highlightTestImage(105);
    QCOMPARE(panel.view()->selected(), 5);
    panel.highlightTestImage(7);  // not on the map
    QCOMPARE(panel.view()->selected(), -1);
  }

  void embeddingPanelMapsTheTestSet_data() {
    QTest::addColumn<int>("projection");
    QTest::newRow("pca") << int(EmbeddingPanel::Projection::Pca);
    QTest::newRow("tsne") << int(EmbeddingPanel::Projection::Tsne);
  }
  void embeddingPanelMapsTheTestSet() {
    QFETCH(int, projection);
    SessionController controller;
    controller.setRunsFolder(dir_.filePath("runs"));
    controller.setExperiment(tinyExperiment());
    EmbeddingPanel panel(&controller);
    panel.setProjection(EmbeddingPanel::Projection(projection));
    panel.setTsneIterations(300);
    panel.setPerplexity(5);
    panel.resize(800, 600);
    QSignalSpy ready(&panel, &EmbeddingPanel::embeddingReady);
    panel.show();  // a stale panel refreshes when shown
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QTRY_VERIFY_WITH_TIMEOUT(ready.count() >= 1, 60000);
    QCOMPARE(panel.view()->count(), 40);  // every test image of the tiny set
    QVERIFY(!panel.busy());
    QVERIFY(panel.separation() >= 0 && panel.separation() <= 1);
    // Every point lies inside the view.
    for (int i = 0; i < panel.view()->count(); ++i)
      QVERIFY(panel.view()->rect().contains(panel.view()->widgetPosition(i).toPoint()));

    QSignalSpy selected(&panel, &EmbeddingPanel::imageSelected);
    const int target = panel.view()->pointAt(panel.view()->widgetPosition(23));
    QVERIFY(target >= 0);
    QTest::mouseClick(panel.view(), Qt::LeftButton, {}, panel.view()->widgetPosition(23).toPoint());
    QCOMPARE(selected.count(), 1);
    QCOMPARE(selected.first().first().value<qint64>(), qint64(target));
    QTest::mouseMove(panel.view(), panel.view()->widgetPosition(target).toPoint());
    QTRY_COMPARE(panel.view()->hovered(), target);
    saveShot(panel, projection == int(EmbeddingPanel::Projection::Pca) ? "embedding_pca_tiny"
                                                                       : "embedding_tsne_tiny");
  }

  void liveMapFollowsTraining() {
    SessionController controller;
    controller.setRunsFolder(dir_.filePath("runs"));
    controller.setExperiment(experimentFromJson(test::tinyExperimentJson(data_, "simclr", 200)));
    EmbeddingPanel panel(&controller);
    panel.setProjection(EmbeddingPanel::Projection::Tsne);
    panel.setTsneIterations(60);
    panel.setPerplexity(5);
    panel.setLive(true);
    panel.setLiveInterval(100);
    QSignalSpy ready(&panel, &EmbeddingPanel::embeddingReady);
    QSignalSpy finished(&controller, &SessionController::finished);
    controller.start();
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    // Maps keep coming while the model trains (one after the start, then the live ones).
    QTRY_VERIFY_WITH_TIMEOUT(ready.count() >= 3, 60000);
    QVERIFY(controller.training());
    // Live maps continue the last one instead of starting over from PCA.
    QTRY_VERIFY_WITH_TIMEOUT(panel.findChild<QLabel*>(QString(), Qt::FindChildrenRecursively) &&
                                 statusText(panel).contains("continuing"),
                             30000);
    QCOMPARE(panel.view()->count(), 40);
    panel.setLive(false);
    controller.stop();
    QVERIFY(finished.wait(60000));
  }

  void hiddenPanelDoesNotAsk() {
    SessionController controller;
    controller.setRunsFolder(dir_.filePath("runs"));
    controller.setExperiment(tinyExperiment());
    EmbeddingPanel panel(&controller);
    QSignalSpy ready(&panel, &EmbeddingPanel::embeddingReady);
    panel.refresh();  // never shown
    QTest::qWait(300);
    QVERIFY(!panel.busy());
    QCOMPARE(ready.count(), 0);
    QCOMPARE(panel.view()->count(), 0);
  }

  void tsneRestartCancelsTheRunningOne() {
    SessionController controller;
    controller.setRunsFolder(dir_.filePath("runs"));
    controller.setExperiment(tinyExperiment());
    EmbeddingPanel panel(&controller);
    panel.setProjection(EmbeddingPanel::Projection::Tsne);
    panel.setTsneIterations(100000);  // would run for minutes
    panel.setPerplexity(5);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QTRY_VERIFY_WITH_TIMEOUT(panel.view()->count() == 40 && panel.busy(), 60000);
    QSignalSpy ready(&panel, &EmbeddingPanel::embeddingReady);
    panel.setProjection(EmbeddingPanel::Projection::Pca);  // cancels the t-SNE
    QCOMPARE(ready.count(), 1);
    QTRY_VERIFY_WITH_TIMEOUT(!panel.busy(), 5000);
    // Destroying the panel with a t-SNE running joins it without hanging.
    panel.setTsneIterations(100000);
    panel.setProjection(EmbeddingPanel::Projection::Tsne);
    QVERIFY(panel.busy());
  }

  void encoderPanelShowsFiltersActivationsAndSimilarity() {
    SessionController controller;
    controller.setRunsFolder(dir_.filePath("runs"));
    controller.setExperiment(tinyExperiment());
    EncoderPanel panel(&controller);
    panel.setSimilarityImages(30);
    panel.setTopK(8);
    panel.resize(1000, 650);
    QSignalSpy refreshed(&panel, &EncoderPanel::refreshed);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QTRY_VERIFY_WITH_TIMEOUT(refreshed.count() >= 1, 60000);
    // ConvNet width 4 on 1-channel images: 4 filters of 3x3 at 36/3 = 12x, 16 columns max.
    QVERIFY(!panel.filterImage().isNull());
    QCOMPARE(panel.filterImage().width(), 4 * (36 + 3) + 3);
    QCOMPARE(panel.stageCount(), 4);
    QCOMPARE(panel.channelCount(), 4);  // stage 1
    QCOMPARE(panel.topIndices().size(), 8);
    for (qint64 i : panel.topIndices()) QVERIFY(i >= 0 && i < 40);
    QVERIFY(!panel.topImage().isNull());
    panel.setStage(3);
    QCOMPARE(panel.channelCount(), 32);  // 8w
    panel.setChannel(31);
    QCOMPARE(panel.channel(), 31);
    QCOMPARE(panel.topIndices().size(), 8);
    QVERIFY(!panel.similarityImage().isNull());
    QVERIFY(panel.similarityImage().width() >= 30 * (480 / 30));
    saveShot(panel, "encoder_tiny");
  }

  // Not a check: pictures of both panels on the real Fashion-MNIST (random init), for looking at.
  void screenshotsOnFashionMnist() {
    const QString dir = qEnvironmentVariable("PRETEXT_SCREENSHOTS");
    if (dir.isEmpty()) QSKIP("set PRETEXT_SCREENSHOTS=DIR to save screenshots on Fashion-MNIST");
    Experiment e = tinyExperiment();
    e.data = "fashion-mnist";
    e.width = 32;
    e.dataLimit = 2000;
    SessionController controller;
    controller.setRunsFolder(dir_.filePath("runs"));
    controller.setExperiment(e);
    {
      EmbeddingPanel panel(&controller);
      panel.setSampleSize(2000);
      panel.resize(1100, 750);
      QSignalSpy ready(&panel, &EmbeddingPanel::embeddingReady);
      panel.setProjection(EmbeddingPanel::Projection::Pca);
      panel.show();
      QTRY_VERIFY_WITH_TIMEOUT(ready.count() >= 1, 120000);
      saveShot(panel, "embedding_pca");
      panel.setProjection(EmbeddingPanel::Projection::Tsne);
      QTest::qWait(1500);
      saveShot(panel, "embedding_tsne_running");
      QTRY_VERIFY_WITH_TIMEOUT(ready.count() >= 2, 300000);
      const QPointF at = panel.view()->widgetPosition(5);
      QTest::mouseMove(panel.view(), at.toPoint());
      QTest::mouseClick(panel.view(), Qt::LeftButton, {},
                        panel.view()->widgetPosition(9).toPoint());
      QTest::mouseMove(panel.view(), at.toPoint());
      saveShot(panel, "embedding_tsne");
      panel.resize(800, 600);
      QTest::qWait(50);
      saveShot(panel, "embedding_tsne_800x600");
    }
    {
      EncoderPanel panel(&controller);
      panel.resize(1280, 800);
      QSignalSpy refreshed(&panel, &EncoderPanel::refreshed);
      panel.show();
      QTRY_VERIFY_WITH_TIMEOUT(refreshed.count() >= 1, 120000);
      panel.setStage(2);
      panel.setChannel(5);
      saveShot(panel, "encoder");
      panel.resize(800, 600);
      QTest::qWait(50);
      saveShot(panel, "encoder_800x600");
    }
  }
};

PRETEXT_TEST_AREA(TestGuiInspect, "gui_inspect")
#include "test_gui_inspect.moc"
