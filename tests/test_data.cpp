// Data layer: file readers (valid and broken files of every format), spec parsing,
// the batch sampler and the prefetcher.
#include "test_main.h"
#include <torch/torch.h>
#include <zlib.h>

#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/data/dataset.h"
#include "core/data/prefetcher.h"
#include "core/data/sampler.h"
#include "core/util/error.h"
#include "test_support.h"

#ifdef PRETEXT_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif

using namespace pretext;
using pretext::test::writeBytes;
using pretext::test::writeText;
using Bytes = std::vector<uint8_t>;

namespace {

std::string path(const QTemporaryDir& dir, const std::string& name) {
  return dir.path().toStdString() + "/" + name;
}

void writeGz(const std::string& file, const Bytes& bytes) {
  gzFile f = gzopen(file.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

void putBe32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

// IDX pixel (i, r, c) = (i*31 + r*7 + c) % 256; label i = (i*3) % 10.
uint8_t idxPixel(int i, int r, int c) { return uint8_t((i * 31 + r * 7 + c) % 256); }

Bytes idxImages(int n, int rows, int cols, uint32_t magic = 0x803) {
  Bytes b;
  putBe32(b, magic);
  putBe32(b, uint32_t(n));
  putBe32(b, uint32_t(rows));
  putBe32(b, uint32_t(cols));
  for (int i = 0; i < n; ++i)
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) b.push_back(idxPixel(i, r, c));
  return b;
}

Bytes idxLabels(int n, uint32_t magic = 0x801) {
  Bytes b;
  putBe32(b, magic);
  putBe32(b, uint32_t(n));
  for (int i = 0; i < n; ++i) b.push_back(uint8_t((i * 3) % 10));
  return b;
}

void writeIdxSet(const QTemporaryDir& dir, bool gz, int nTrain = 5, int nTest = 3) {
  auto put = [&](const std::string& name, const Bytes& b) {
    if (gz)
      writeGz(path(dir, name + ".gz"), b);
    else
      writeBytes(path(dir, name), b);
  };
  put("train-images-idx3-ubyte", idxImages(nTrain, 4, 3));
  put("train-labels-idx1-ubyte", idxLabels(nTrain));
  put("t10k-images-idx3-ubyte", idxImages(nTest, 4, 3));
  put("t10k-labels-idx1-ubyte", idxLabels(nTest));
}

// CIFAR pixel of record i, channel ch, row y, column x.
uint8_t cifarPixel(int i, int ch, int y, int x) {
  return uint8_t((i * 13 + ch * 100 + y * 3 + x) % 256);
}

Bytes cifarRecords(int n, int labelBytes, int firstLabel = 0) {
  Bytes b;
  for (int i = 0; i < n; ++i) {
    for (int l = 0; l < labelBytes; ++l)
      b.push_back(uint8_t((firstLabel + i + l * 7) % (l ? 100 : 10)));
    for (int ch = 0; ch < 3; ++ch)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) b.push_back(cifarPixel(i, ch, y, x));
  }
  return b;
}

void writeCifar10(const std::string& dir) {
  for (int k = 1; k <= 5; ++k)
    writeBytes(dir + "/data_batch_" + std::to_string(k) + ".bin", cifarRecords(2, 1, k));
  writeBytes(dir + "/test_batch.bin", cifarRecords(3, 1));
  writeText(dir + "/batches.meta.txt",
            "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
}

// STL pixel of image i, channel ch, row y, column x (stored column-major in the file).
uint8_t stlPixel(int i, int ch, int y, int x) {
  return uint8_t((i * 17 + ch * 50 + y * 3 + x * 5) % 251);
}

Bytes stlImages(int n, int offset = 0) {
  Bytes b;
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < 3; ++ch)
      for (int x = 0; x < 96; ++x)
        for (int y = 0; y < 96; ++y) b.push_back(stlPixel(i + offset, ch, y, x));
  return b;
}

torch::Tensor stlExpected(int n, int offset = 0) {
  auto t = torch::empty({n, 3, 96, 96}, torch::kUInt8);
  auto* p = t.data_ptr<uint8_t>();
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < 3; ++ch)
      for (int y = 0; y < 96; ++y)
        for (int x = 0; x < 96; ++x) *p++ = stlPixel(i + offset, ch, y, x);
  return t;
}

void writeStl(const std::string& dir, int nTrain = 3, int nTest = 2, int nUnlabeled = 2) {
  writeBytes(dir + "/train_X.bin", stlImages(nTrain));
  Bytes y;
  for (int i = 0; i < nTrain; ++i) y.push_back(uint8_t(1 + (i % 10)));
  writeBytes(dir + "/train_y.bin", y);
  writeBytes(dir + "/test_X.bin", stlImages(nTest, 100));
  Bytes yt;
  for (int i = 0; i < nTest; ++i) yt.push_back(uint8_t(10 - i));
  writeBytes(dir + "/test_y.bin", yt);
  if (nUnlabeled > 0) writeBytes(dir + "/unlabeled_X.bin", stlImages(nUnlabeled, 200));
  writeText(dir + "/class_names.txt",
            "airplane\nbird\ncar\ncat\ndeer\ndog\nhorse\nmonkey\nship\ntruck\n");
}

#ifdef PRETEXT_HAVE_OPENCV
// A solid-colour image (given as RGB) written through OpenCV (which wants BGR).
void writeSolid(const std::string& file, int w, int h, int r, int g, int b) {
  std::filesystem::create_directories(std::filesystem::path(file).parent_path());
  cv::Mat m(h, w, CV_8UC3, cv::Scalar(b, g, r));
  QVERIFY(cv::imwrite(file, m));
}
#endif

// Resident / peak memory of this process in MiB (Linux; 0 elsewhere).
double procMiB(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stod(line.substr(std::strlen(key))) / 1024.0;
  return 0;
}

}  // namespace

class TestData : public QObject {
  Q_OBJECT

 private slots:
  // ---- IDX (MNIST / Fashion-MNIST) ----
  void idxValid_data() {
    QTest::addColumn<bool>("gz");
    QTest::addColumn<bool>("fashion");
    QTest::newRow("raw mnist") << false << false;
    QTest::newRow("gz mnist") << true << false;
    QTest::newRow("raw fashion") << false << true;
    QTest::newRow("gz fashion") << true << true;
  }
  void idxValid() {
    QFETCH(bool, gz);
    QFETCH(bool, fashion);
    QTemporaryDir dir;
    writeIdxSet(dir, gz);
    auto s =
        loadData(std::string(fashion ? "fashion-mnist:" : "mnist:") + dir.path().toStdString());
    QCOMPARE(s.train.images.sizes().vec(), (std::vector<int64_t>{5, 1, 4, 3}));
    QCOMPARE(s.test.images.sizes().vec(), (std::vector<int64_t>{3, 1, 4, 3}));
    QCOMPARE(s.train.images.scalar_type(), torch::kUInt8);
    QCOMPARE(s.train.labels.scalar_type(), torch::kLong);
    QCOMPARE(int(s.train.images[2][0][3][1].item<uint8_t>()), int(idxPixel(2, 3, 1)));
    QCOMPARE(int(s.test.images[1][0][2][2].item<uint8_t>()), int(idxPixel(1, 2, 2)));
    QCOMPARE(s.train.labels[4].item<int64_t>(), int64_t(2));
    QCOMPARE(s.train.numClasses(), int64_t(10));
    QCOMPARE(s.train.classNames[0], std::string(fashion ? "T-shirt/top" : "0"));
    QCOMPARE(s.train.classNames[9], std::string(fashion ? "Ankle boot" : "9"));
    QVERIFY(s.trainLabelled.images.data_ptr() == s.train.images.data_ptr());
    QVERIFY(s.train.images.is_contiguous());
  }

  void idxBroken_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("needle");
    QTest::newRow("image magic") << "image magic"
                                 << "train-images-idx3-ubyte"
                                 << "expected 0x00000803";
    QTest::newRow("label magic") << "label magic"
                                 << "train-labels-idx1-ubyte"
                                 << "expected 0x00000801";
    QTest::newRow("truncated") << "truncated"
                               << "train-images-idx3-ubyte"
                               << "expected 76 bytes";
    QTest::newRow("truncated gz") << "truncated gz"
                                  << "train-images-idx3-ubyte.gz"
                                  << "found 70";
    QTest::newRow("too long") << "too long"
                              << "t10k-images-idx3-ubyte"
                              << "found 53";
    QTest::newRow("huge count gz") << "huge count gz"
                                   << "train-images-idx3-ubyte.gz"
                                   << "more than a";
    QTest::newRow("count mismatch") << "count mismatch"
                                    << "train-labels-idx1-ubyte"
                                    << "has 4 labels but";
    QTest::newRow("bad label") << "bad label"
                               << "t10k-labels-idx1-ubyte"
                               << "bad label 12";
    QTest::newRow("missing") << "missing"
                             << "t10k-labels-idx1-ubyte"
                             << "missing file";
    QTest::newRow("short header") << "short header"
                                  << "t10k-labels-idx1-ubyte"
                                  << "8-byte IDX label header";
  }
  void idxBroken() {
    QFETCH(QString, kind);
    QFETCH(QString, file);
    QFETCH(QString, needle);
    QTemporaryDir dir;
    writeIdxSet(dir, false);
    const std::string k = kind.toStdString();
    if (k == "image magic")
      writeBytes(path(dir, "train-images-idx3-ubyte"), idxImages(5, 4, 3, 0x802));
    if (k == "label magic") writeBytes(path(dir, "train-labels-idx1-ubyte"), idxLabels(5, 0x803));
    if (k == "truncated" || k == "truncated gz") {
      Bytes b = idxImages(5, 4, 3);
      b.resize(70);
      std::remove(path(dir, "train-images-idx3-ubyte").c_str());
      if (k == "truncated")
        writeBytes(path(dir, "train-images-idx3-ubyte"), b);
      else
        writeGz(path(dir, "train-images-idx3-ubyte.gz"), b);
    }
    if (k == "huge count gz") {
      Bytes b = idxImages(5, 4, 3);
      b[4] = 0x7f;  // 2 billion images
      std::remove(path(dir, "train-images-idx3-ubyte").c_str());
      writeGz(path(dir, "train-images-idx3-ubyte.gz"), b);
    }
    if (k == "too long") {
      Bytes b = idxImages(3, 4, 3);
      b.push_back(0);
      writeBytes(path(dir, "t10k-images-idx3-ubyte"), b);
    }
    if (k == "count mismatch") writeBytes(path(dir, "train-labels-idx1-ubyte"), idxLabels(4));
    if (k == "bad label") {
      Bytes b = idxLabels(3);
      b[8 + 1] = 12;
      writeBytes(path(dir, "t10k-labels-idx1-ubyte"), b);
    }
    if (k == "missing") std::remove(path(dir, "t10k-labels-idx1-ubyte").c_str());
    if (k == "short header") writeBytes(path(dir, "t10k-labels-idx1-ubyte"), {0, 0, 8});
    const std::string spec = "mnist:" + dir.path().toStdString();
    PRETEXT_VERIFY_THROWS_WITH(loadData(spec), file.toStdString());
    PRETEXT_VERIFY_THROWS_WITH(loadData(spec), needle.toStdString());
  }

  void builtInFashionMnist() {
    if (!std::filesystem::exists(defaultFashionMnistDir() + "/train-images-idx3-ubyte.gz")) {
      PRETEXT_VERIFY_THROWS_WITH(loadData("fashion-mnist"), "dataset-fashion-mnist");
      QSKIP("Debian's dataset-fashion-mnist is not installed");
    }
    const double rss0 = procMiB("VmRSS:"), peak0 = procMiB("VmHWM:");
    QElapsedTimer timer;
    timer.start();
    auto s = loadData("fashion-mnist");
    qInfo(
        "built-in Fashion-MNIST loaded in %lld ms; RSS +%.0f MiB, peak +%.0f MiB "
        "(raw uint8 images + int64 labels: %.0f MiB)",
        static_cast<long long>(timer.elapsed()), procMiB("VmRSS:") - rss0,
        procMiB("VmHWM:") - peak0, (70000.0 * 784 + 70000.0 * 8) / (1 << 20));
    QCOMPARE(s.train.size(), int64_t(60000));
    QCOMPARE(s.test.size(), int64_t(10000));
    QCOMPARE(s.train.channels(), int64_t(1));
    QCOMPARE(s.train.height(), int64_t(28));
    QCOMPARE(s.train.width(), int64_t(28));
    QCOMPARE(s.train.numClasses(), int64_t(10));
    QCOMPARE(torch::bincount(s.train.labels).min().item<int64_t>(), int64_t(6000));
    const std::string text = describeData(s);
    qInfo("%s", text.c_str());
    QVERIFY2(text.find("Ankle boot 6000") != std::string::npos, text.c_str());
    auto limited = loadData("fashion-mnist", DataOptions().limit(100));
    QCOMPARE(limited.train.size(), int64_t(100));
    QVERIFY(torch::equal(limited.train.images, s.train.images.narrow(0, 0, 100)));
  }

  // ---- CIFAR ----
  void cifar10Valid_data() {
    QTest::addColumn<bool>("subdir");
    QTest::newRow("flat") << false;
    QTest::newRow("cifar-10-batches-bin") << true;
  }
  void cifar10Valid() {
    QFETCH(bool, subdir);
    QTemporaryDir dir;
    std::string root = dir.path().toStdString();
    std::string data = subdir ? root + "/cifar-10-batches-bin" : root;
    std::filesystem::create_directories(data);
    writeCifar10(data);
    auto s = loadData("cifar10:" + root);
    QCOMPARE(s.train.images.sizes().vec(), (std::vector<int64_t>{10, 3, 32, 32}));
    QCOMPARE(s.test.size(), int64_t(3));
    // record 1 of data_batch_3 is train image 5; R, G, B planes in order
    QCOMPARE(int(s.train.images[5][0][4][7].item<uint8_t>()), int(cifarPixel(1, 0, 4, 7)));
    QCOMPARE(int(s.train.images[5][1][0][0].item<uint8_t>()), int(cifarPixel(1, 1, 0, 0)));
    QCOMPARE(int(s.train.images[5][2][31][31].item<uint8_t>()), int(cifarPixel(1, 2, 31, 31)));
    QCOMPARE(s.train.labels[5].item<int64_t>(), int64_t(4));  // firstLabel 3 + record 1
    QCOMPARE(s.train.classNames.size(), size_t(10));
    QCOMPARE(s.train.classNames[9], std::string("truck"));
    QCOMPARE(s.test.classNames[0], std::string("airplane"));
  }

  void cifar100Valid() {
    QTemporaryDir dir;
    std::string data = path(dir, "cifar-100-binary");
    std::filesystem::create_directories(data);
    writeBytes(data + "/train.bin", cifarRecords(4, 2));
    writeBytes(data + "/test.bin", cifarRecords(2, 2));
    std::string names;
    for (int i = 0; i < 100; ++i) names += "class" + std::to_string(i) + "\n";
    writeText(data + "/fine_label_names.txt", names);
    auto s = loadData("cifar100:" + dir.path().toStdString());
    QCOMPARE(s.train.size(), int64_t(4));
    QCOMPARE(s.train.labels[2].item<int64_t>(), int64_t(9));  // fine label = record + 7
    QCOMPARE(int(s.train.images[3][1][2][5].item<uint8_t>()), int(cifarPixel(3, 1, 2, 5)));
    QCOMPARE(s.train.numClasses(), int64_t(100));
    QCOMPARE(s.train.classNames[42], std::string("class42"));
  }

  void cifarBroken_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("needle1");
    QTest::addColumn<QString>("needle2");
    QTest::newRow("record size") << "record size"
                                 << "data_batch_2.bin"
                                 << "multiple of the 3073-byte";
    QTest::newRow("bad label") << "bad label"
                               << "test_batch.bin"
                               << "bad label 11 in record 1";
    QTest::newRow("missing") << "missing"
                             << "data_batch_4.bin"
                             << "missing file";
    QTest::newRow("names") << "names"
                           << "batches.meta.txt"
                           << "expected 10";
    QTest::newRow("not a dir") << "not a dir"
                               << "nowhere"
                               << "is not a directory";
  }
  void cifarBroken() {
    QFETCH(QString, kind);
    QFETCH(QString, needle1);
    QFETCH(QString, needle2);
    QTemporaryDir dir;
    std::string root = dir.path().toStdString();
    writeCifar10(root);
    const std::string k = kind.toStdString();
    if (k == "record size") {
      Bytes b = cifarRecords(2, 1);
      b.pop_back();
      writeBytes(root + "/data_batch_2.bin", b);
    }
    if (k == "bad label") {
      Bytes b = cifarRecords(3, 1);
      b[3073] = 11;
      writeBytes(root + "/test_batch.bin", b);
    }
    if (k == "missing") std::remove((root + "/data_batch_4.bin").c_str());
    if (k == "names") writeText(root + "/batches.meta.txt", "cat\ndog\n");
    if (k == "not a dir") root += "/nowhere";
    PRETEXT_VERIFY_THROWS_WITH(loadData("cifar10:" + root), needle1.toStdString());
    PRETEXT_VERIFY_THROWS_WITH(loadData("cifar10:" + root), needle2.toStdString());
  }

  // ---- STL-10 ----
  void stl10Valid_data() {
    QTest::addColumn<bool>("unlabeled");
    QTest::addColumn<int64_t>("limit");
    QTest::addColumn<int64_t>("trainSize");
    QTest::addColumn<int64_t>("labelledSize");
    QTest::newRow("with unlabeled") << true << int64_t(0) << int64_t(5) << int64_t(3);
    QTest::newRow("without unlabeled") << false << int64_t(0) << int64_t(3) << int64_t(3);
    QTest::newRow("limit into unlabeled") << true << int64_t(4) << int64_t(4) << int64_t(3);
    QTest::newRow("limit inside train") << true << int64_t(2) << int64_t(2) << int64_t(2);
  }
  void stl10Valid() {
    QFETCH(bool, unlabeled);
    QFETCH(int64_t, limit);
    QFETCH(int64_t, trainSize);
    QFETCH(int64_t, labelledSize);
    QTemporaryDir dir;
    std::string data = path(dir, "stl10_binary");
    std::filesystem::create_directories(data);
    writeStl(data);
    auto s = loadData("stl10:" + dir.path().toStdString(),
                      DataOptions().stlUnlabeled(unlabeled).limit(limit));
    QCOMPARE(s.train.size(), trainSize);
    QCOMPARE(s.trainLabelled.size(), labelledSize);
    QCOMPARE(s.train.images.sizes().vec(), (std::vector<int64_t>{trainSize, 3, 96, 96}));
    QVERIFY(torch::equal(s.trainLabelled.images, stlExpected(int(labelledSize))));
    if (trainSize > labelledSize) {
      QVERIFY(torch::equal(s.train.images.narrow(0, labelledSize, trainSize - labelledSize),
                           stlExpected(int(trainSize - labelledSize), 200)));
      QVERIFY(!s.train.labelled());
      QVERIFY(s.trainLabelled.images.storage().is_alias_of(s.train.images.storage()));
    } else {
      QVERIFY(s.train.labelled());
    }
    QVERIFY(torch::equal(s.test.images, stlExpected(int(s.test.size()), 100)));
    QCOMPARE(s.trainLabelled.labels[1].item<int64_t>(), int64_t(1));  // file label 2 -> 1
    QCOMPARE(s.test.labels[0].item<int64_t>(), int64_t(9));           // file label 10 -> 9
    QCOMPARE(s.test.classNames[7], std::string("monkey"));
    // a pixel off the diagonal, to pin the transpose down
    QCOMPARE(int(s.test.images[1][2][5][40].item<uint8_t>()), int(stlPixel(101, 2, 5, 40)));
  }

  void stl10Broken_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("needle1");
    QTest::addColumn<QString>("needle2");
    QTest::newRow("label 0") << "label 0"
                             << "train_y.bin"
                             << "bad label 0 at byte 1: expected 1..10";
    QTest::newRow("label 11") << "label 11"
                              << "test_y.bin"
                              << "bad label 11";
    QTest::newRow("count") << "count"
                           << "test_y.bin"
                           << "has 3 labels but";
    QTest::newRow("image size") << "image size"
                                << "train_X.bin"
                                << "multiple of the 27648-byte";
    QTest::newRow("missing") << "missing"
                             << "test_X.bin"
                             << "missing file";
  }
  void stl10Broken() {
    QFETCH(QString, kind);
    QFETCH(QString, needle1);
    QFETCH(QString, needle2);
    QTemporaryDir dir;
    std::string root = dir.path().toStdString();
    writeStl(root, 3, 2, 0);
    const std::string k = kind.toStdString();
    if (k == "label 0") writeBytes(root + "/train_y.bin", {1, 0, 3});
    if (k == "label 11") writeBytes(root + "/test_y.bin", {11, 1});
    if (k == "count") writeBytes(root + "/test_y.bin", {1, 2, 3});
    if (k == "image size") {
      Bytes b = stlImages(3);
      b.resize(b.size() - 5);
      writeBytes(root + "/train_X.bin", b);
    }
    if (k == "missing") std::remove((root + "/test_X.bin").c_str());
    PRETEXT_VERIFY_THROWS_WITH(loadData("stl10:" + root), needle1.toStdString());
    PRETEXT_VERIFY_THROWS_WITH(loadData("stl10:" + root), needle2.toStdString());
  }

  // ---- folder: and photos: ----
  void folderHeldOut() {
#ifndef PRETEXT_HAVE_OPENCV
    PRETEXT_VERIFY_THROWS_WITH(loadData("folder:/tmp"), "without OpenCV");
    QSKIP("built without OpenCV");
#else
    QTemporaryDir dir;
    std::string root = dir.path().toStdString();
    // class "cat": 10 red-ish 8x6 images; class "dog": 4 blue-ish; sorted names = classes
    for (int i = 0; i < 10; ++i)
      writeSolid(root + "/cat/c" + std::to_string(i) + ".png", 8, 6, 200, 10 + i, 30);
    for (int i = 0; i < 4; ++i)
      writeSolid(root + "/dog/d" + std::to_string(i) + ".bmp", 6, 6, 5, 60, 250);
    writeText(root + "/dog/notes.txt", "not an image");
    auto opts = DataOptions().imageSize(4).seed(7);
    auto s = loadData("folder:" + root, opts);
    QCOMPARE(s.train.classNames, (std::vector<std::string>{"cat", "dog"}));
    QCOMPARE(s.train.size() + s.test.size(), int64_t(14));
    QCOMPARE(s.test.size(), int64_t(2));  // one held out per class (~10%, at least 1)
    QCOMPARE(s.train.images.sizes().vec(), (std::vector<int64_t>{12, 3, 4, 4}));
    QVERIFY(torch::equal(torch::bincount(s.test.labels), torch::tensor({1, 1}, torch::kLong)));
    // RGB order and labels: every cat is R=200,B=30; every dog is R=5,G=60,B=250
    for (int64_t i = 0; i < s.train.size(); ++i) {
      auto px = s.train.images[i].select(1, 2).select(1, 1);  // pixel (2,1), 3 channels
      if (s.train.labels[i].item<int64_t>() == 0) {
        QCOMPARE(int(px[0].item<uint8_t>()), 200);
        QCOMPARE(int(px[2].item<uint8_t>()), 30);
      } else {
        QCOMPARE(int(px[0].item<uint8_t>()), 5);
        QCOMPARE(int(px[1].item<uint8_t>()), 60);
        QCOMPARE(int(px[2].item<uint8_t>()), 250);
      }
    }
    auto again = loadData("folder:" + root, opts);
    QVERIFY(torch::equal(again.test.images, s.test.images));  // deterministic hold-out
#endif
  }

  void folderTrainTest() {
#ifndef PRETEXT_HAVE_OPENCV
    QSKIP("built without OpenCV");
#else
    QTemporaryDir dir;
    std::string root = dir.path().toStdString();
    writeSolid(root + "/train/a/1.png", 10, 20, 1, 2, 3);
    writeSolid(root + "/train/b/1.jpg", 20, 10, 250, 250, 250);
    writeSolid(root + "/train/b/2.png", 20, 10, 4, 5, 6);
    writeSolid(root + "/test/b/1.png", 16, 16, 7, 8, 9);
    auto s = loadData("folder:" + root, DataOptions().imageSize(5));
    QCOMPARE(s.train.size(), int64_t(3));
    QCOMPARE(s.test.size(), int64_t(1));
    QCOMPARE(s.test.labels[0].item<int64_t>(), int64_t(1));
    QCOMPARE(s.train.images.sizes().vec(), (std::vector<int64_t>{3, 3, 5, 5}));
    QCOMPARE(int(s.test.images[0][1][4][4].item<uint8_t>()), 8);
    QCOMPARE(int(s.train.images[2][2][0][0].item<uint8_t>()), 6);
#endif
  }

  void folderBroken_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("needle1");
    QTest::addColumn<QString>("needle2");
    QTest::newRow("undecodable") << "undecodable"
                                 << "cannot decode image"
                                 << "broken.png";
    QTest::newRow("empty") << "empty"
                           << "no class sub-folders"
                           << "folder:";
    QTest::newRow("no images") << "no images"
                               << "no JPEG/PNG/BMP images"
                               << "folder:";
    QTest::newRow("unknown test class") << "unknown test class"
                                        << "test/zebra"
                                        << "no matching folder";
    // A 645-byte JPEG whose frame header claims 30000 x 30000: OpenCV decoded it (2.7 GB, a minute).
    QTest::newRow("huge jpeg header") << "huge jpeg header" << "huge.jpg" << "claims 30000 x 30000 pixels";
    QTest::newRow("huge bmp header") << "huge bmp header" << "huge.bmp" << "claims 30000 x 30000 pixels";
    // imread picks its decoder from the content: TIFF bytes named .png reached the TIFF decoder.
    QTest::newRow("tiff named png") << "tiff named png" << "tiff.png"
                                    << "not a JPEG, PNG or BMP file (it starts with 49 49 2a 00";
  }
  void folderBroken() {
#ifndef PRETEXT_HAVE_OPENCV
    QSKIP("built without OpenCV");
#else
    QFETCH(QString, kind);
    QFETCH(QString, needle1);
    QFETCH(QString, needle2);
    QTemporaryDir dir;
    std::string root = dir.path().toStdString();
    const std::string k = kind.toStdString();
    if (k == "undecodable") {
      writeSolid(root + "/a/good.png", 4, 4, 1, 2, 3);
      writeText(root + "/a/broken.png", "this is not a PNG");
    }
    if (k == "huge jpeg header" || k == "huge bmp header" || k == "tiff named png")
      std::filesystem::create_directories(root + "/a");
    if (k == "huge jpeg header") {
      std::vector<uchar> jpeg;
      QVERIFY(cv::imencode(".jpg", cv::Mat(6, 5, CV_8UC3, cv::Scalar(1, 2, 3)), jpeg));
      const uchar frame[2] = {0xFF, 0xC0};  // the baseline frame header's marker
      const auto sof = std::search(jpeg.begin(), jpeg.end(), frame, frame + 2);
      QVERIFY(sof != jpeg.end());
      const uchar size[4] = {0x75, 0x30, 0x75, 0x30};  // height, width: 30000 each, big-endian
      std::copy(size, size + 4, sof + 5);
      writeBytes(root + "/a/huge.jpg", Bytes(jpeg.begin(), jpeg.end()));
    }
    if (k == "huge bmp header") {
      Bytes bmp = {'B', 'M', 66, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0};
      for (uint32_t v : {30000u, 30000u}) for (int i = 0; i < 4; ++i) bmp.push_back(uint8_t(v >> (8 * i)));
      bmp.insert(bmp.end(), {1, 0, 24, 0});  // one plane, 24 bits, then zeros to 66 bytes
      bmp.resize(66, 0);
      writeBytes(root + "/a/huge.bmp", bmp);
    }
    if (k == "tiff named png") writeBytes(root + "/a/tiff.png", {'I', 'I', 42, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    if (k == "no images") std::filesystem::create_directories(root + "/a");
    if (k == "unknown test class") {
      writeSolid(root + "/train/a/1.png", 4, 4, 1, 2, 3);
      writeSolid(root + "/test/zebra/1.png", 4, 4, 1, 2, 3);
    }
    PRETEXT_VERIFY_THROWS_WITH(loadData("folder:" + root), needle1.toStdString());
    PRETEXT_VERIFY_THROWS_WITH(loadData("folder:" + root), needle2.toStdString());
#endif
  }

  void photos() {
#ifndef PRETEXT_HAVE_OPENCV
    PRETEXT_VERIFY_THROWS_WITH(loadData("photos:/tmp"), "without OpenCV");
    QSKIP("built without OpenCV");
#else
    QTemporaryDir dir;
    std::string root = dir.path().toStdString();
    writeSolid(root + "/a.png", 40, 30, 255, 0, 0);
    writeSolid(root + "/sub/b.jpg", 64, 64, 0, 0, 255);
    writeText(root + "/readme.txt", "skip me");
    auto opts = DataOptions().imageSize(8).photoCrops(7).photoTestCrops(3).seed(5);
    auto s = loadData("photos:" + root, opts);
    QCOMPARE(s.train.images.sizes().vec(), (std::vector<int64_t>{7, 3, 8, 8}));
    QCOMPARE(s.test.images.sizes().vec(), (std::vector<int64_t>{3, 3, 8, 8}));
    QVERIFY(!s.train.labelled());
    QVERIFY(!s.test.labelled());
    QCOMPARE(s.trainLabelled.size(), int64_t(7));
    // every crop is either the red or the blue photo (RGB order)
    for (int64_t i = 0; i < 7; ++i) {
      int r = s.train.images[i][0][4][4].item<uint8_t>(),
          b = s.train.images[i][2][4][4].item<uint8_t>();
      QVERIFY((r > 240 && b < 15) || (b > 240 && r < 15));
    }
    auto again = loadData("photos:" + root, opts);
    QVERIFY(torch::equal(again.train.images, s.train.images));
    QVERIFY(torch::equal(again.test.images, s.test.images));

    writeText(root + "/sub/broken.jpeg", "not a jpeg");
    PRETEXT_VERIFY_THROWS_WITH(loadData("photos:" + root, opts), "broken.jpeg");
    QTemporaryDir empty;
    PRETEXT_VERIFY_THROWS_WITH(loadData("photos:" + empty.path().toStdString(), opts),
                               "no .jpg/.jpeg/.png");
#endif
  }

  void photosFromBackgrounds() {
#ifndef PRETEXT_HAVE_OPENCV
    QSKIP("built without OpenCV");
#else
    if (!std::filesystem::exists(defaultPhotosDir())) QSKIP("no /usr/share/backgrounds");
    QElapsedTimer timer;
    timer.start();
    auto s = loadData("photos", DataOptions().imageSize(32).photoCrops(64).photoTestCrops(16));
    qInfo("photos from %s in %lld ms", defaultPhotosDir().c_str(),
          static_cast<long long>(timer.elapsed()));
    QCOMPARE(s.train.images.sizes().vec(), (std::vector<int64_t>{64, 3, 32, 32}));
    QCOMPARE(s.test.size(), int64_t(16));
    QVERIFY(!torch::equal(s.train.images.narrow(0, 0, 16), s.test.images));
#endif
  }

  // ---- spec, limit, describe ----
  void unknownSpec_data() {
    QTest::addColumn<QString>("spec");
    QTest::newRow("unknown prefix") << "imagenet:/data";
    QTest::newRow("no dir") << "cifar10";
    QTest::newRow("empty") << "";
    QTest::newRow("typo") << "fashion_mnist";
  }
  void unknownSpec() {
    QFETCH(QString, spec);
    PRETEXT_VERIFY_THROWS_WITH(loadData(spec.toStdString()), "unknown data source");
    PRETEXT_VERIFY_THROWS_WITH(loadData(spec.toStdString()), "cifar10:DIR");
  }

  void sourceImageSizes() {
    QCOMPARE(sourceImageSize("fashion-mnist"), int64_t(28));
    QCOMPARE(sourceImageSize("cifar10:/data/c"), int64_t(32));
    QCOMPARE(sourceImageSize("cifar100:/data/c"), int64_t(32));
    QCOMPARE(sourceImageSize("stl10:/data/s"), int64_t(96));
    QCOMPARE(sourceImageSize("folder:/data/f"), int64_t(0));
    QCOMPARE(sourceImageSize("photos"), int64_t(0));
    QCOMPARE(sourceImageSize("mnist:/data/m"), int64_t(-1));  // IDX headers say
    QCOMPARE(sourceImageSize("fashion-mnist:/data/m"), int64_t(-1));
  }

  void limitAndDescribe() {
    QTemporaryDir dir;
    writeIdxSet(dir, true, 20, 6);
    auto s = loadData("fashion-mnist:" + dir.path().toStdString(), DataOptions().limit(4));
    QCOMPARE(s.train.size(), int64_t(4));
    QCOMPARE(s.test.size(), int64_t(4));
    QCOMPARE(int(s.train.images[3][0][1][1].item<uint8_t>()), int(idxPixel(3, 1, 1)));
    const std::string text = describeData(s);
    QVERIFY2(text.find("fashion-mnist") != std::string::npos, text.c_str());
    QVERIFY2(text.find("1x4x3") != std::string::npos, text.c_str());
    QVERIFY2(text.find("T-shirt/top 1") != std::string::npos, text.c_str());  // labels 0,3,6,9
    QVERIFY2(text.find("Pullover 0") != std::string::npos, text.c_str());
    PRETEXT_VERIFY_THROWS_WITH(
        loadData("mnist:" + dir.path().toStdString(), DataOptions().limit(-1)), "negative");
  }
};

PRETEXT_TEST_AREA(TestData, "data")
#include "test_data.moc"
