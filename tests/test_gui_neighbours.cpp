// The nearest-neighbours panel on a tiny model: queries from the test set, from a picture, and
// the hidden-panel rule (no inspections while hidden).
#include "test_main.h"
#include <torch/torch.h>

#include <QApplication>
#include <QMimeData>
#include <QSignalSpy>
#include <QtTest>
#include <filesystem>

#include "core/data/dataset.h"
#include "test_support.h"
#include "ui/widgets/image_grid_view.h"
#include "ui/inspect/neighbours_panel.h"
#include "ui/window/session_controller.h"
#include "viz/tensor_image.h"

using namespace pretext;
namespace fs = std::filesystem;

class TestGuiNeighbours : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_;

  void configure(SessionController& c, int64_t epochs = 1) {
    c.setRunsFolder(dir_.filePath("runs"));
    c.setExperiment(experimentFromJson(test::tinyExperimentJson(data_, "simclr", epochs)));
  }
  static void verifySorted(const QVector<float>& sims) {
    for (int i = 1; i < sims.size(); ++i) QVERIFY(sims[i - 1] >= sims[i]);
    for (float s : sims) QVERIFY(s >= -1.0001f && s <= 1.0001f);
  }

 private slots:
  void initTestCase() {
    data_ = dir_.filePath("mnist").toStdString();
    fs::create_directories(data_);
    test::writeTinyMnist(data_);
  }

  void firstQueryNeedsNoClick() {
    SessionController c;
    configure(c);
    NeighboursPanel p(&c);
    QSignalSpy updated(&p, &NeighboursPanel::neighboursUpdated);
    p.resize(1000, 640);
    p.show();
    QVERIFY(updated.wait(30000));
    QCOMPARE(p.pickerCount(), 24);
    QCOMPARE(p.resultIndices().size(), 16);  // k defaults to 16
    verifySorted(p.resultSimilarities());
    QVERIFY(p.errorText().isEmpty());
    // The query is the first picked test image; precision@k counts neighbours of its class.
    const qint64 query = p.pickerTestIndex(0);
    int same = 0;
    for (int label : p.resultLabels()) {
      QVERIFY(label >= 0 && label < 10);
      same += label == int(query % 10);  // writeTinyMnist: image i has class i % 10
    }
    QCOMPARE(p.precisionAtK(), same / 16.0);
    p.grab().save(dir_.filePath("neighbours.png"));
  }

  void testIndexAndK() {
    SessionController c;
    configure(c);
    NeighboursPanel p(&c);
    QSignalSpy updated(&p, &NeighboursPanel::neighboursUpdated);
    p.setK(5);
    p.setQueryTestIndex(13);  // hidden: nothing is asked until shown
    p.show();
    QVERIFY(updated.wait(30000));
    QCOMPARE(p.resultIndices().size(), 5);
    QVERIFY(p.precisionAtK() >= 0);
    int same = 0;
    for (int label : p.resultLabels()) same += label == 3;
    QCOMPARE(p.precisionAtK(), same / 5.0);
    verifySorted(p.resultSimilarities());
    // A test index that does not exist is refused with a message, not a crash.
    p.setQueryTestIndex(100000);
    QTRY_VERIFY_WITH_TIMEOUT(p.errorText().contains("does not exist"), 30000);
  }

  // A picture equal to a gallery image finds that image first, with similarity ~1.
  void queryImageFindsItsDuplicate() {
    const DataSplits d = loadData("mnist:" + data_);
    const QImage seven = tensorToImage(d.trainLabelled.images[7]);
    SessionController c;
    configure(c);
    NeighboursPanel p(&c);
    p.show();
    QSignalSpy updated(&p, &NeighboursPanel::neighboursUpdated);
    QVERIFY(updated.wait(30000));
    updated.clear();
    p.setQueryImage(seven);
    QVERIFY(updated.wait(30000));
    QCOMPARE(p.resultIndices().size(), 16);
    QCOMPARE(p.resultIndices().first(), qint64(7));
    QVERIFY2(p.resultSimilarities().first() > 0.999f,
             qPrintable(QString::number(p.resultSimilarities().first())));
    QCOMPARE(p.precisionAtK(), -1.0);  // a picture has no label
    // Another shape and colour: converted to the data's 1x12x12.
    QImage photo(64, 40, QImage::Format_RGB32);
    photo.fill(QColor(200, 30, 30));
    updated.clear();
    p.setQueryImage(photo);
    QVERIFY(updated.wait(30000));
    QCOMPARE(p.resultIndices().size(), 16);
    verifySorted(p.resultSimilarities());
  }

  void hiddenPanelWaitsUntilShown() {
    SessionController c;
    configure(c);
    NeighboursPanel p(&c);
    QSignalSpy updated(&p, &NeighboursPanel::neighboursUpdated);
    p.setQueryTestIndex(2);
    QVERIFY(!updated.wait(700));
    p.show();
    QVERIFY(updated.wait(30000));
    QCOMPARE(p.resultIndices().size(), 16);
  }

  // After training, the panel recomputes the gallery with the trained model.
  void refreshesWhenTheModelChanges() {
    SessionController c;
    configure(c, 1);
    NeighboursPanel p(&c);
    p.show();
    QSignalSpy updated(&p, &NeighboursPanel::neighboursUpdated);
    QVERIFY(updated.wait(30000));
    const QVector<float> before = p.resultSimilarities();
    QSignalSpy finished(&c, &SessionController::finished);
    updated.clear();
    c.start();
    QVERIFY(finished.wait(60000));
    QTRY_VERIFY_WITH_TIMEOUT(!updated.isEmpty() && c.state() == SessionState::Idle, 30000);
    QTRY_VERIFY_WITH_TIMEOUT(p.resultSimilarities() != before, 30000);
    QCOMPARE(p.resultIndices().size(), 16);
  }

  // While training with "live" on, the visible panel recomputes with newer models.
  void liveDuringTraining() {
    SessionController c;
    configure(c, 200);
    NeighboursPanel p(&c);
    p.setLiveIntervalMs(100);
    p.show();
    QSignalSpy updated(&p, &NeighboursPanel::neighboursUpdated);
    QVERIFY(updated.wait(30000));
    QCOMPARE(p.galleryStep(), qint64(0));
    c.start();
    QTRY_VERIFY_WITH_TIMEOUT(p.galleryStep() > 0, 30000);
    const qint64 first = p.galleryStep();
    QTRY_VERIFY_WITH_TIMEOUT(p.galleryStep() > first, 30000);
    // Hidden: no more refreshes.
    p.hide();
    QTest::qWait(300);  // a refresh in flight lands
    updated.clear();
    QVERIFY(!updated.wait(1000));
    QSignalSpy finished(&c, &SessionController::finished);
    c.stop();
    QVERIFY(finished.wait(30000));
  }

  // Dropping an image file on the panel makes it the query.
  void dropAnImageFile() {
    const DataSplits d = loadData("mnist:" + data_);
    const QString file = dir_.filePath("query.png");
    QVERIFY(tensorToImage(d.trainLabelled.images[11]).save(file));
    SessionController c;
    configure(c);
    NeighboursPanel p(&c);
    p.show();
    QSignalSpy updated(&p, &NeighboursPanel::neighboursUpdated);
    QVERIFY(updated.wait(30000));
    updated.clear();
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(file)});
    QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&p, &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&p, &drop);
    QVERIFY(updated.wait(30000));
    QCOMPARE(p.resultIndices().first(), qint64(11));
    // A file that is not an image says so.
    const QString bad = dir_.filePath("notes.png");
    test::writeText(bad.toStdString(), "not an image");
    QMimeData badMime;
    badMime.setUrls({QUrl::fromLocalFile(bad)});
    QDragEnterEvent badEnter(QPoint(10, 10), Qt::CopyAction, &badMime, Qt::LeftButton,
                             Qt::NoModifier);
    QApplication::sendEvent(&p, &badEnter);  // Qt delivers a drop only to the drag's target
    QDropEvent badDrop(QPointF(10, 10), Qt::CopyAction, &badMime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&p, &badDrop);
    QVERIFY2(p.errorText().contains("cannot read"), qPrintable(p.errorText()));
  }

  void gridViewGeometry() {
    ImageGridView g;
    g.resize(300, 100);
    QVector<QImage> images(10, QImage(12, 12, QImage::Format_Grayscale8));
    g.setCellSize(40);
    g.setImages(images, {"x 0.9 a", "0.8 b"});
    QSignalSpy clicked(&g, &ImageGridView::cellClicked);
    g.show();
    const QRect r = g.cellRect(7);
    QTest::mouseClick(&g, Qt::LeftButton, {}, r.center());
    QCOMPARE(clicked.count(), 1);
    QCOMPARE(clicked.first().first().toInt(), 7);
    QCOMPARE(g.cellAt(QPoint(1, 1)), -1);
    QVERIFY(g.heightForWidth(300) > g.heightForWidth(2000));  // fewer columns, more rows
    QVERIFY(g.minimumHeight() >= g.cellRect(9).bottom());
  }
};

PRETEXT_TEST_AREA(TestGuiNeighbours, "gui_neighbours")
#include "test_gui_neighbours.moc"
