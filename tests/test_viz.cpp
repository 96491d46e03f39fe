// viz: tensor <-> QImage, image grids, colour maps, metric series.
#include "test_main.h"
#include <torch/torch.h>

#include <QColor>
#include <QDir>
#include <QPainter>
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/methods/method.h"
#include "core/util/error.h"
#include "test_support.h"
#include "viz/colormap.h"
#include "viz/image_grid.h"
#include "viz/metric_series.h"
#include "viz/tensor_image.h"

using namespace pretext;

namespace {

bool isReddish(QRgb c) { return qRed(c) > 150 && qGreen(c) < 110 && qBlue(c) < 110; }
bool isDark(QRgb c) { return qRed(c) < 80 && qGreen(c) < 80 && qBlue(c) < 80; }
bool isInk(QRgb c) { return std::min({qRed(c), qGreen(c), qBlue(c)}) < 200; }

int countPixels(const QImage& image, const QRect& rect, bool (*pred)(QRgb)) {
  int n = 0;
  for (int y = rect.top(); y <= rect.bottom(); ++y)
    for (int x = rect.left(); x <= rect.right(); ++x) n += pred(image.pixel(x, y)) ? 1 : 0;
  return n;
}

double luma(QRgb c) { return 0.299 * qRed(c) + 0.587 * qGreen(c) + 0.114 * qBlue(c); }

// Synthetic 28 x 28 images: a bright square whose position and colour depend on the index.
torch::Tensor syntheticImages(int n, int channels) {
  torch::Tensor images = torch::full({n, channels, 28, 28}, 0.1);
  for (int i = 0; i < n; ++i) {
    const int x = 2 + (i * 5) % 16, y = 2 + (i * 3) % 16;
    for (int c = 0; c < channels; ++c)
      images.index_put_(
          {i, c, torch::indexing::Slice(y, y + 10), torch::indexing::Slice(x, x + 10)},
          channels == 1 ? 0.9 : 0.3 + 0.35 * ((i + c) % 3));
  }
  return images;
}

}  // namespace

class TestViz : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { torch::manual_seed(0); }

  // --- tensor <-> image -----------------------------------------------------------------
  void roundTripUint8_data() {
    QTest::addColumn<int>("channels");
    QTest::newRow("gray") << 1;
    QTest::newRow("rgb") << 3;
  }
  void roundTripUint8() {
    QFETCH(int, channels);
    const torch::Tensor bytes = torch::randint(0, 256, {channels, 7, 5}, torch::kUInt8);
    const QImage image = tensorToImage(bytes);
    QCOMPARE(image.width(), 5);
    QCOMPARE(image.height(), 7);
    QCOMPARE(image.format(), channels == 1 ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
    const torch::Tensor back = imageToTensor(image, channels);
    QCOMPARE(back.scalar_type(), torch::kFloat);
    QCOMPARE(back.sizes().vec(), bytes.sizes().vec());
    QVERIFY(back.min().item<float>() >= 0.f && back.max().item<float>() <= 1.f);
    QVERIFY(torch::equal(back.mul(255).round().to(torch::kUInt8), bytes));
  }

  void floatRoundingAndClamping_data() {
    QTest::addColumn<double>("value");
    QTest::addColumn<int>("expected");
    QTest::newRow("0") << 0.0 << 0;
    QTest::newRow("1") << 1.0 << 255;
    QTest::newRow("0.2") << 0.2 << 51;
    QTest::newRow("half rounds up") << 0.5 << 128;
    QTest::newRow("above 1") << 1.7 << 255;
    QTest::newRow("below 0") << -0.3 << 0;
  }
  void floatRoundingAndClamping() {
    QFETCH(double, value);
    QFETCH(int, expected);
    const QImage image = tensorToImage(torch::full({1, 2, 3}, value, torch::kDouble));
    QCOMPARE(qGray(image.pixel(1, 1)), expected);
    QCOMPARE(qRed(image.pixel(2, 0)), expected);
  }

  void pixelPositionsAndChannelOrder() {
    torch::Tensor t = torch::zeros({3, 4, 6});
    t[0][1][2] = 1.0;  // red at x = 2, y = 1
    t[2][3][5] = 1.0;  // blue at x = 5, y = 3
    const QImage image = tensorToImage(t);
    QCOMPARE(image.pixel(2, 1), qRgb(255, 0, 0));
    QCOMPARE(image.pixel(5, 3), qRgb(0, 0, 255));
    QCOMPARE(image.pixel(0, 0), qRgb(0, 0, 0));
    // Non-contiguous input (a transposed view) is read by value, not by memory layout.
    const QImage transposed = tensorToImage(t.transpose(1, 2));
    QCOMPARE(transposed.width(), 4);
    QCOMPARE(transposed.pixel(1, 2), qRgb(255, 0, 0));
    // And back: channel 0 is red.
    const torch::Tensor back = imageToTensor(image, 3);
    QCOMPARE(back[0][1][2].item<float>(), 1.f);
    QCOMPARE(back[2][3][5].item<float>(), 1.f);
    QCOMPARE(back[1].sum().item<float>(), 0.f);
  }

  void imageToTensorConvertsFormats() {
    QImage argb(3, 2, QImage::Format_ARGB32);
    argb.fill(qRgba(10, 200, 30, 40));  // alpha is dropped (unpremultiplied format)
    const torch::Tensor rgb = imageToTensor(argb, 3);
    QCOMPARE(rgb.sizes().vec(), (std::vector<int64_t>{3, 2, 3}));
    QCOMPARE(static_cast<int>(std::lround(rgb[0][1][2].item<float>() * 255)), 10);
    QCOMPARE(static_cast<int>(std::lround(rgb[1][0][0].item<float>() * 255)), 200);
    QImage colour(4, 4, QImage::Format_RGB32);
    colour.fill(qRgb(90, 90, 90));
    const torch::Tensor gray = imageToTensor(colour, 1);
    QCOMPARE(gray.size(0), 1);
    QCOMPARE(static_cast<int>(std::lround(gray[0][3][3].item<float>() * 255)), 90);
  }

  void badInputsThrow() {
    PRETEXT_VERIFY_THROWS_WITH(tensorToImage(torch::zeros({2, 4, 4})), "C = 1 or 3");
    PRETEXT_VERIFY_THROWS_WITH(tensorToImage(torch::zeros({4, 4})), "[4,4]");
    PRETEXT_VERIFY_THROWS_WITH(imageToTensor(QImage(), 3), "null image");
    PRETEXT_VERIFY_THROWS_WITH(imageToTensor(QImage(2, 2, QImage::Format_RGB32), 4), "channels");
    PRETEXT_VERIFY_THROWS_WITH(imageGrid(torch::zeros({2, 1, 4, 4}), 0, 1), "columns");
    PRETEXT_VERIFY_THROWS_WITH(imageGrid(torch::zeros({1, 4, 4}), 2, 1), "[N,C,H,W]");
    PRETEXT_VERIFY_THROWS_WITH(heatmap(torch::zeros({2, 2, 2}), Colormap::Viridis, 0, 1, 1), "2-D");
  }

  // --- image grids ----------------------------------------------------------------------
  void gridGeometryAndPixels_data() {
    QTest::addColumn<int>("n");
    QTest::addColumn<int>("columns");
    QTest::addColumn<int>("scale");
    QTest::addColumn<int>("padding");
    QTest::addColumn<int>("width");
    QTest::addColumn<int>("height");
    // H = 4, W = 3: width = cols * (3 * scale + pad) + pad, height = rows * (4 * scale + pad) + pad
    QTest::newRow("5 in 3 columns x2") << 5 << 3 << 2 << 2 << 26 << 22;
    QTest::newRow("one row") << 4 << 8 << 1 << 1 << 17 << 6;
    QTest::newRow("no padding x3") << 6 << 2 << 3 << 0 << 18 << 36;
  }
  void gridGeometryAndPixels() {
    QFETCH(int, n);
    QFETCH(int, columns);
    QFETCH(int, scale);
    QFETCH(int, padding);
    QFETCH(int, width);
    QFETCH(int, height);
    const torch::Tensor images = torch::randint(0, 256, {n, 3, 4, 3}, torch::kUInt8);
    const QImage grid = imageGrid(images, columns, scale, {}, padding);
    QCOMPARE(grid.size(), QSize(width, height));
    const GridGeometry g = gridGeometry(n, 4, 3, columns, scale, false, padding);
    QCOMPARE(g.size(), grid.size());
    // Every pixel of the last cell is its image upscaled by nearest neighbour.
    const int last = n - 1;
    const QRect cell = g.cellRect(last);
    QCOMPARE(cell.size(), QSize(3 * scale, 4 * scale));
    for (int y = 0; y < cell.height(); ++y)
      for (int x = 0; x < cell.width(); ++x) {
        const auto v = [&](int c) { return images[last][c][y / scale][x / scale].item<int>(); };
        QCOMPARE(grid.pixel(cell.left() + x, cell.top() + y), qRgb(v(0), v(1), v(2)));
      }
    QCOMPARE(g.cellAt(cell.center()), last);
    if (padding > 0) {
      QCOMPARE(grid.pixel(0, 0), qRgb(255, 255, 255));
      QCOMPARE(g.cellAt(QPoint(0, 0)), -1);
    }
  }

  void grayGridAndFloatInput() {
    torch::Tensor images = torch::zeros({2, 1, 2, 2});
    images[1][0][1][0] = 1.0;
    const QImage grid = imageGrid(images, 2, 4, {}, 2);
    const GridGeometry g = gridGeometry(2, 2, 2, 2, 4, false, 2);
    const QRect cell = g.cellRect(1);
    QCOMPARE(grid.pixel(cell.left() + 3, cell.top() + 4), qRgb(255, 255, 255));  // (x0, y1) block
    QCOMPARE(grid.pixel(cell.left() + 4, cell.top() + 4), qRgb(0, 0, 0));
    QCOMPARE(grid.pixel(cell.left() + 3, cell.top() + 3), qRgb(0, 0, 0));
  }

  void captionsAddHeightAndWrongOnesAreRed() {
    const torch::Tensor images = torch::full({2, 1, 28, 28}, 0.5);
    const QImage plain = imageGrid(images, 2, 2);
    const QImage captioned = imageGrid(images, 2, 2, {"dog", "x cat"});
    QCOMPARE(captioned.width(), plain.width());
    QVERIFY(captioned.height() > plain.height() + 8);
    const GridGeometry g = gridGeometry(2, 28, 28, 2, 2, true);
    QCOMPARE(g.size(), captioned.size());
    QVERIFY(countPixels(captioned, g.captionRect(0), isDark) > 5);
    QCOMPARE(countPixels(captioned, g.captionRect(0), isReddish), 0);
    QVERIFY(countPixels(captioned, g.captionRect(1), isReddish) > 5);
    QCOMPARE(countPixels(captioned, g.captionRect(1), isDark), 0);
    // The marker itself is not drawn: red "x cat" is about as wide as black "cat", and
    // clearly narrower than red "x x cat" (which draws "x cat").
    const QImage cat = imageGrid(images, 2, 2, {"cat", "x cat"});
    const QImage xcat = imageGrid(images, 2, 2, {"", "x x cat"});
    auto inkColumns = [&](const QImage& im, int i) {
      const QRect r = g.captionRect(i);
      int cols = 0;
      for (int x = r.left(); x <= r.right(); ++x)
        cols += countPixels(im, QRect(x, r.top(), 1, r.height()), isInk) > 0 ? 1 : 0;
      return cols;
    };
    QVERIFY(std::abs(inkColumns(cat, 1) - inkColumns(cat, 0)) <= 2);
    QVERIFY(inkColumns(xcat, 1) > inkColumns(cat, 1) + 5);
  }

  void previewHasCaptionLine() {
    Preview preview;
    preview.name = "rotation predictions";
    preview.caption = "Predicted rotation under each image; red = wrong.";
    preview.images = syntheticImages(6, 1);
    preview.labels = {"0", "90", "x 180", "270", "0", "x 90"};
    preview.columns = 3;
    const QImage grid = imageGrid(preview.images, 3, 2, {"a"});
    const QImage image = renderPreview(preview, 2);
    QCOMPARE(image.width(), grid.width());
    QVERIFY(image.height() > grid.height() + 8);
    const QRect bottom(0, grid.height(), image.width(), image.height() - grid.height());
    QVERIFY(countPixels(image, bottom, isDark) > 20);
    QVERIFY(renderPreview(Preview{}, 2).isNull());
  }

  // --- colour maps ----------------------------------------------------------------------
  void viridisControlPoints_data() {
    QTest::addColumn<double>("t");
    QTest::addColumn<QString>("expected");
    QTest::newRow("0") << 0.0 << "#440154";
    QTest::newRow("0.25") << 64 / 255.0 << "#3b528b";
    QTest::newRow("0.5") << 128 / 255.0 << "#21918c";
    QTest::newRow("0.75") << 192 / 255.0 << "#5ec962";
    QTest::newRow("1") << 1.0 << "#fde725";
    QTest::newRow("clamped high") << 3.0 << "#fde725";
    QTest::newRow("clamped low") << -1.0 << "#440154";
  }
  void viridisControlPoints() {
    QFETCH(double, t);
    QFETCH(QString, expected);
    const QColor want(expected);
    const QRgb got = colormap(t, Colormap::Viridis);
    const int err =
        std::max({std::abs(qRed(got) - want.red()), std::abs(qGreen(got) - want.green()),
                  std::abs(qBlue(got) - want.blue())});
    QVERIFY2(err <= 1, qPrintable(QColor(got).name() + " vs " + expected));
  }

  void viridisLuminanceIsMonotone() {
    // Fine samples may dip by a byte-rounding step (one channel rounds down before another
    // rounds up); coarse samples must rise strictly.
    double previous = -1;
    for (int i = 0; i <= 1000; ++i) {
      const double l = luma(colormap(i / 1000.0, Colormap::Viridis));
      QVERIFY2(l >= previous - 0.6, qPrintable(QString::number(i)));
      previous = std::max(previous, l);
    }
    previous = -1;
    for (int i = 0; i <= 16; ++i) {
      const double l = luma(colormap(i / 16.0, Colormap::Viridis));
      QVERIFY2(l > previous, qPrintable(QString::number(i)));
      previous = l;
    }
    QVERIFY(luma(colormap(1, Colormap::Viridis)) - luma(colormap(0, Colormap::Viridis)) > 150);
  }

  void divergingAndMissing() {
    QCOMPARE(colormap(0.5, Colormap::Diverging), qRgb(255, 255, 255));
    const QRgb low = colormap(0, Colormap::Diverging), high = colormap(1, Colormap::Diverging);
    QVERIFY(qBlue(low) > qRed(low));
    QVERIFY(qRed(high) > qBlue(high));
    QCOMPARE(colormap(std::nan(""), Colormap::Viridis), missingColor());
  }

  void heatmapSizeValuesAndNan() {
    torch::Tensor m = torch::arange(12, torch::kFloat).reshape({3, 4});
    m[1][2] = std::numeric_limits<float>::quiet_NaN();
    const QImage image = heatmap(m, Colormap::Viridis, 0, 11, 5);
    QCOMPARE(image.size(), QSize(20, 15));
    QCOMPARE(image.pixel(0, 0), colormap(0, Colormap::Viridis));
    QCOMPARE(image.pixel(4, 4), colormap(0, Colormap::Viridis));
    QCOMPARE(image.pixel(19, 14), colormap(1, Colormap::Viridis));
    QCOMPARE(image.pixel(2 * 5 + 2, 1 * 5 + 3), missingColor());
    QCOMPARE(image.pixel(1 * 5, 2 * 5), colormap(9 / 11.0, Colormap::Viridis));
    // A flat range maps to the middle colour rather than dividing by zero.
    QCOMPARE(heatmap(torch::ones({1, 1}), Colormap::Diverging, 1, 1, 1).pixel(0, 0),
             qRgb(255, 255, 255));
  }

  void categoricalColorsCycle() {
    const std::vector<QColor> colors = categoricalColors(12);
    QCOMPARE(colors.size(), size_t(12));
    for (int i = 0; i < 10; ++i)
      for (int j = i + 1; j < 10; ++j) QVERIFY(colors[i] != colors[j]);
    QCOMPARE(colors[10], colors[0]);
    QCOMPARE(colors[0], QColor("#1f77b4"));
  }

  // --- metric series --------------------------------------------------------------------
  void smoothing_data() {
    QTest::addColumn<double>("weight");
    QTest::addColumn<QVector<double>>("ys");
    QTest::addColumn<QVector<double>>("expected");
    QTest::newRow("weight 0 is identity")
        << 0.0 << QVector<double>{3, -1, 7} << QVector<double>{3, -1, 7};
    QTest::newRow("constant stays constant")
        << 0.9 << QVector<double>{2, 2, 2, 2} << QVector<double>{2, 2, 2, 2};
    // last: 0.5, 1.25 -> debiased 0.5 / 0.5 = 1, 1.25 / 0.75 = 5/3
    QTest::newRow("debiased by hand")
        << 0.5 << QVector<double>{1, 2} << QVector<double>{1, 5.0 / 3};
    QTest::newRow("first equals first")
        << 0.99 << QVector<double>{42, 0} << QVector<double>{42, 42 * 0.99 / (1 + 0.99)};
  }
  void smoothing() {
    QFETCH(double, weight);
    QFETCH(QVector<double>, ys);
    QFETCH(QVector<double>, expected);
    MetricSeries s;
    for (int i = 0; i < ys.size(); ++i) s.append(10 * i, ys[i]);
    const MetricSeries out = s.smoothed(weight);
    QCOMPARE(out.size(), s.size());
    QCOMPARE(out.xs(), s.xs());
    for (int i = 0; i < expected.size(); ++i)
      QVERIFY2(std::abs(out.y(i) - expected[i]) < 1e-9, qPrintable(QString::number(out.y(i))));
  }

  void smoothingRejectsBadWeight() {
    MetricSeries s;
    PRETEXT_VERIFY_THROWS_WITH(s.smoothed(1.0), "weight");
    PRETEXT_VERIFY_THROWS_WITH(s.smoothed(-0.1), "weight");
  }

  void decimationKeepsExtremes() {
    MetricSeries s;
    for (int i = 0; i < 10007; ++i)
      s.append(i, std::sin(i * 0.01) + (i == 4321 ? 50 : 0) - (i == 777 ? 30 : 0));
    const MetricSeries d = s.decimated(100);
    QVERIFY(d.size() <= 100);
    QVERIFY(d.size() >= 50);
    const std::vector<double> ys = d.ys(), xs = d.xs();
    QCOMPARE(*std::max_element(ys.begin(), ys.end()), s.y(4321));
    QCOMPARE(*std::min_element(ys.begin(), ys.end()), s.y(777));
    QVERIFY(std::is_sorted(xs.begin(), xs.end()));
    QCOMPARE(s.decimated(20000).size(), s.size());
    PRETEXT_VERIFY_THROWS_WITH(s.decimated(1), "maxPoints");
  }

  void ringBufferDropsOldest() {
    MetricSeries s(3);
    for (int i = 0; i < 5; ++i) s.append(i, i * i);
    QCOMPARE(s.size(), size_t(3));
    QCOMPARE(s.xs(), (std::vector<double>{2, 3, 4}));
    QCOMPARE(s.ys(), (std::vector<double>{4, 9, 16}));
    s.setCapacity(2);
    QCOMPARE(s.xs(), (std::vector<double>{3, 4}));
    MetricSeries unlimited;
    for (int i = 0; i < 1000; ++i) unlimited.append(i, 0);
    QCOMPARE(unlimited.size(), size_t(1000));
  }

  void csvColumn() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("metrics.csv").toStdString();
    test::writeText(path,
                    "step,epoch,loss,knn_top1\n"
                    "0,0,2.5,\n"
                    "10,0,2.0,0.31\n"
                    "20,1,1.5,\n"
                    "30,1,1.25,0.52\n");
    const MetricSeries loss = loadCsvColumn(QString::fromStdString(path), "loss");
    QCOMPARE(loss.xs(), (std::vector<double>{0, 10, 20, 30}));
    QCOMPARE(loss.ys(), (std::vector<double>{2.5, 2.0, 1.5, 1.25}));
    const MetricSeries knn = loadCsvColumn(QString::fromStdString(path), "knn_top1");
    QCOMPARE(knn.xs(), (std::vector<double>{10, 30}));
    QCOMPARE(knn.ys(), (std::vector<double>{0.31, 0.52}));
    PRETEXT_VERIFY_THROWS_WITH(loadCsvColumn(QString::fromStdString(path), "linear_top1"),
                               "no column 'linear_top1'");
    PRETEXT_VERIFY_THROWS_WITH(loadCsvColumn(QString::fromStdString(path), "linear_top1"), path);
    PRETEXT_VERIFY_THROWS_WITH(loadCsvColumn(dir.filePath("missing.csv"), "loss"), "missing.csv");
    test::writeText(path, "step,loss\n1,abc\n");
    PRETEXT_VERIFY_THROWS_WITH(loadCsvColumn(QString::fromStdString(path), "loss"), ":2:");
  }

  // --- a picture to look at -------------------------------------------------------------
  // Set PRETEXT_VIZ_SAMPLE=/tmp/viz_sample.png to write a preview and a heat map side by side.
  void samplePicture() {
    Preview preview;
    preview.caption =
        "Colorization: input (gray) | prediction | target. Red captions mark wrong predictions.";
    preview.images = syntheticImages(8, 3);
    preview.labels = {"T-shirt", "x Trouser", "Pullover", "Dress",
                      "x Coat",  "Sandal",    "Shirt",    "Sneaker"};
    preview.columns = 4;
    const QImage left = renderPreview(preview, 3);
    const torch::Tensor confusion = torch::eye(10) * 0.8 + torch::rand({10, 10}) * 0.2;
    confusion[3][7] = std::numeric_limits<float>::quiet_NaN();
    const QImage viridisMap = heatmap(confusion, Colormap::Viridis, 0, 1, 16);
    const QImage similarity =
        heatmap(torch::rand({10, 10}) * 2 - 1, Colormap::Diverging, -1, 1, 16);
    QImage sample(left.width() + viridisMap.width() + similarity.width() + 40,
                  std::max(left.height(), viridisMap.height()), QImage::Format_RGB32);
    sample.fill(Qt::white);
    QPainter painter(&sample);
    painter.drawImage(0, 0, left);
    painter.drawImage(left.width() + 20, 0, viridisMap);
    painter.drawImage(left.width() + viridisMap.width() + 40, 0, similarity);
    painter.end();
    QVERIFY(!sample.isNull());
    const QByteArray out = qgetenv("PRETEXT_VIZ_SAMPLE");
    if (!out.isEmpty()) QVERIFY(sample.save(QString::fromLocal8Bit(out)));
  }
};

PRETEXT_TEST_AREA(TestViz, "viz")
#include "test_viz.moc"
