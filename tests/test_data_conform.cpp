// conformImages: a labelled source converted to another run's image shape (transfer probes).
#include "test_main.h"
#include <torch/torch.h>

#include "core/data/conform.h"
#include "core/util/error.h"
#include "test_support.h"

using pretext::Dataset;

class TestDataConform : public QObject {
  Q_OBJECT

  static Dataset make(torch::Tensor images) {
    Dataset d;
    d.name = "tiny";
    d.images = images.to(torch::kUInt8);
    d.labels = torch::arange(images.size(0), torch::kLong);
    for (int64_t i = 0; i < images.size(0); ++i) d.classNames.push_back("c" + std::to_string(i));
    return d;
  }

 private slots:
  void grayToRgbReplicates() {
    auto d = make(torch::tensor({0, 10, 200, 255}).view({1, 1, 2, 2}));
    auto out = pretext::conformImages(d, 3, 2);
    QCOMPARE(out.images.sizes().vec(), (std::vector<int64_t>{1, 3, 2, 2}));
    for (int c = 0; c < 3; ++c) QVERIFY(out.images[0][c].equal(d.images[0][0]));
    QVERIFY(out.labels.equal(d.labels));
    QCOMPARE(out.classNames, d.classNames);
  }

  void rgbToGrayIsLuma() {
    // Pure red, green, blue, white: 0.299*255 = 76.2, 0.587*255 = 149.7, 0.114*255 = 29.1.
    auto rgb = torch::zeros({1, 3, 2, 2}, torch::kLong);
    rgb[0][0][0][0] = 255;
    rgb[0][1][0][1] = 255;
    rgb[0][2][1][0] = 255;
    rgb.select(2, 1).select(2, 1).fill_(255);
    auto out = pretext::conformImages(make(rgb), 1, 2);
    auto g = out.images.view({4}).to(torch::kLong);
    QCOMPARE(g[0].item<int64_t>(), 76);
    QCOMPARE(g[1].item<int64_t>(), 150);
    QCOMPARE(g[2].item<int64_t>(), 29);
    QCOMPARE(g[3].item<int64_t>(), 255);
  }

  void resizesTheWholeImage() {
    // A 4x4 image, left half 0 and right half 200, shrunk to 2x2: dark | bright; grown to 8x8: the
    // edges keep their values and the middle columns blend.
    auto x = torch::zeros({2, 1, 4, 4}, torch::kLong);
    x.slice(3, 2, 4).fill_(200);
    auto d = make(x);
    auto small = pretext::conformImages(d, 1, 2);
    QCOMPARE(small.images.sizes().vec(), (std::vector<int64_t>{2, 1, 2, 2}));
    // Antialiased (a triangle filter twice as wide): each side takes a little of the other,
    // symmetrically.
    const int left = small.images[1][0][1][0].item<uint8_t>();
    const int right = small.images[1][0][1][1].item<uint8_t>();
    QVERIFY2(left < 50 && left + right == 200, qPrintable(QString("%1 %2").arg(left).arg(right)));
    auto big = pretext::conformImages(d, 3, 8);
    QCOMPARE(big.images.sizes().vec(), (std::vector<int64_t>{2, 3, 8, 8}));
    QCOMPARE(big.images[0][2][5][0].item<uint8_t>(), uint8_t(0));
    QCOMPARE(big.images[0][2][5][7].item<uint8_t>(), uint8_t(200));
    const int mid = big.images[0][1][3][4].item<uint8_t>();
    QVERIFY2(mid > 0 && mid < 200, qPrintable(QString::number(mid)));
  }

  void unchangedWhenAlreadyConform() {
    auto d = make(torch::randint(0, 256, {3, 3, 5, 5}));
    auto out = pretext::conformImages(d, 3, 5);
    QVERIFY(out.images.is_same(d.images));
  }

  void badChannelsNameTheData() {
    auto d = make(torch::zeros({1, 2, 4, 4}));
    try {
      pretext::conformImages(d, 3, 4);
      QFAIL("expected an error");
    } catch (const pretext::Error& e) {
      QVERIFY2(QString(e.what()).contains("tiny") && QString(e.what()).contains("2 channel"), e.what());
    }
    QVERIFY_EXCEPTION_THROWN(pretext::conformImages(make(torch::zeros({1, 1, 4, 4})), 4, 4),
                             pretext::Error);
  }
};

PRETEXT_TEST_AREA(TestDataConform, "data_conform")
#include "test_data_conform.moc"
