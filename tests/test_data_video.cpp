// Video clips (core/data/video.h): the synthetic moving-fashion clips and their masks, clips of a
// frame sequence, the Dataset form, video files written here with OpenCV and read back, and the
// broken files (missing, not a video, empty, truncated) with errors that name them.
#include "test_main.h"
#include <torch/torch.h>

#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>

#include "core/config/experiment.h"
#include "core/data/dataset.h"
#include "core/data/video.h"
#include "core/util/error.h"
#include "test_support.h"

#ifdef PRETEXT_HAVE_OPENCV
#include <opencv2/videoio.hpp>
#endif

using namespace pretext;
using pretext::test::writeBytes;
using pretext::test::writeText;

namespace {

bool haveBuiltIns() {
  return std::filesystem::exists(defaultFashionMnistDir()) && std::filesystem::exists(defaultPhotosDir());
}

#ifdef PRETEXT_HAVE_OPENCV
// Frame i of the test video: a flat colour (40 i mod 256, 255 - 20 i, 128), W x H. Written as
// Motion-JPEG in AVI (the codec every OpenCV build with a video backend writes). False when this
// OpenCV cannot write video.
bool writeTestVideo(const std::string& file, int frames, int W, int H, int fourcc = cv::VideoWriter::fourcc('M', 'J', 'P', 'G')) {
  cv::VideoWriter out(file, fourcc, 10, cv::Size(W, H));
  if (!out.isOpened()) return false;
  for (int i = 0; i < frames; ++i) {
    cv::Mat bgr(H, W, CV_8UC3, cv::Scalar(128, 255 - 20 * i, (40 * i) % 256));
    out.write(bgr);
  }
  return true;
}
#endif

int cv_fourcc(const char* c) {
#ifdef PRETEXT_HAVE_OPENCV
  return cv::VideoWriter::fourcc(c[0], c[1], c[2], c[3]);
#else
  return 0;
#endif
}

}  // namespace

class TestDataVideo : public QObject {
  Q_OBJECT

 private slots:
  // Shapes, label range, determinism, motion, and masks that mark the painted items.
  void movingFashionClipsAndMasks() {
    if (!haveBuiltIns()) QSKIP("the built-in Fashion-MNIST or photos are not installed");
#ifndef PRETEXT_HAVE_OPENCV
    QSKIP("built without OpenCV (the photo backgrounds)");
#endif
    auto o = MovingFashionOptions().clips(4).frames(5).size(32).objects(2).seed(3);
    Clips c = movingFashion(o);
    QCOMPARE(c.frames.sizes(), torch::IntArrayRef({4, 5, 3, 32, 32}));
    QCOMPARE(c.masks.sizes(), torch::IntArrayRef({4, 5, 32, 32}));
    QCOMPARE(c.frames.scalar_type(), torch::kUInt8);
    QCOMPARE(c.objects, int64_t(2));
    QVERIFY(c.masks.max().item<int>() <= 2);
    // Every object shows in frame 0 of most clips, and the items move or turn.
    int shown = 0;
    for (int64_t n = 0; n < 4; ++n)
      for (int k = 1; k <= 2; ++k) shown += c.masks[n][0].eq(k).any().item<bool>();
    QVERIFY2(shown >= 6, qPrintable(QString::number(shown)));
    QVERIFY(!c.masks.select(1, 0).equal(c.masks.select(1, 4)));
    // The same options render the same clips; another seed other clips.
    QVERIFY(movingFashion(o).frames.equal(c.frames));
    QVERIFY(!movingFashion(MovingFashionOptions(o).seed(4)).frames.equal(c.frames));
    // Inside a mask the pixel is the item's colour times its shading (>= 0.35 of the colour),
    // so an item's pixels share one hue: their RGB are proportional. Check that the chromaticity
    // varies far less within an object than over the background.
    auto f = c.frames[0][0].to(torch::kFloat);            // [3,H,W]
    auto m = c.masks[0][0];
    for (int k = 1; k <= 2; ++k) {
      auto sel = m.eq(k);
      if (sel.sum().item<int64_t>() < 10) continue;
      auto px = f.masked_select(sel.unsqueeze(0).expand({3, -1, -1})).view({3, -1});
      auto chroma = px / px.sum(0, true).clamp_min(1);
      QVERIFY2(chroma.std(1).max().item<double>() < 0.05, qPrintable(QString::number(chroma.std(1).max().item<double>())));
    }
    // Bad settings name the setting.
    PRETEXT_VERIFY_THROWS_WITH(movingFashion(MovingFashionOptions().objects(0)), "moving-fashion");
    PRETEXT_VERIFY_THROWS_WITH(movingFashion(MovingFashionOptions().size(8)), "data.image_size");
  }

  // The loadData forms: clips stacked along the channels, the frame count kept, and the spec's
  // clip length and stride.
  void clipSourcesThroughLoadData() {
    if (!haveBuiltIns()) QSKIP("the built-in Fashion-MNIST or photos are not installed");
#ifndef PRETEXT_HAVE_OPENCV
    QSKIP("built without OpenCV (the photo backgrounds)");
#endif
    auto s = loadData("moving-fashion", DataOptions().imageSize(24).clipFrames(3).clips(5).testClips(2));
    QCOMPARE(s.train.images.sizes(), torch::IntArrayRef({5, 9, 24, 24}));
    QCOMPARE(s.test.images.sizes(), torch::IntArrayRef({2, 9, 24, 24}));
    QCOMPARE(s.train.frames, int64_t(3));
    QVERIFY(!s.train.labelled());
    QVERIFY(QString::fromStdString(describeData(s)).contains("clips of 3 frames of 3x24x24"));
    QCOMPARE(unpackClips(s.train.images, 3).sizes(), torch::IntArrayRef({5, 3, 3, 24, 24}));
    QCOMPARE(sourceImageSize("moving-fashion"), int64_t(0));
  }

  // clipsOfFrames: every start, frames `stride` apart; the Dataset form round-trips.
  void clipsOfAFrameSequence() {
    auto frames = torch::arange(10, torch::kUInt8).view({10, 1, 1, 1}).expand({10, 3, 2, 2}).contiguous();
    Clips c = clipsOfFrames(frames, 3, 2, "seq");
    QCOMPARE(c.size(), int64_t(6));                        // starts 0..5, last frame 4 later
    QVERIFY(c.frames[1].select(1, 0).select(1, 0).select(1, 0).equal(torch::tensor({1, 3, 5}, torch::kUInt8)));
    Dataset d = clipsAsDataset(c);
    QCOMPARE(d.frames, int64_t(3));
    QCOMPARE(d.images.sizes(), torch::IntArrayRef({6, 9, 2, 2}));
    QVERIFY(unpackClips(d.images, 3).equal(c.frames));
    PRETEXT_VERIFY_THROWS_WITH(clipsOfFrames(frames, 6, 2, "seq"), "seq: 10 frames are too few for one clip of 6 frames 2 apart");
    PRETEXT_VERIFY_THROWS_WITH(unpackClips(d.images, 4), "T = 4");
  }

  // A Motion-JPEG AVI written here, read back: every frame, resized and centre-cropped, RGB.
  void videoFileRoundTrip() {
#ifndef PRETEXT_HAVE_OPENCV
    QSKIP("built without OpenCV");
#else
    QTemporaryDir dir;
    const std::string file = dir.filePath("clip.avi").toStdString();
    if (!writeTestVideo(file, 12, 40, 30)) QSKIP("this OpenCV cannot write Motion-JPEG AVI");
    auto frames = readVideoFrames(file, 16);
    QCOMPARE(frames.sizes(), torch::IntArrayRef({12, 3, 16, 16}));
    for (int i : {0, 5, 11}) {
      auto mean = frames[i].to(torch::kFloat).mean({1, 2});
      // RGB order (the file is BGR), within JPEG's error.
      QVERIFY2(std::abs(mean[0].item<double>() - (40 * i) % 256) < 8, qPrintable(QString::number(mean[0].item<double>())));
      QVERIFY(std::abs(mean[1].item<double>() - (255 - 20 * i)) < 8);
      QVERIFY(std::abs(mean[2].item<double>() - 128) < 8);
    }
    QCOMPARE(readVideoFrames(file, 16, 5).size(0), int64_t(5));  // maxFrames
    // As a data source: 90% of the frames (10) train, the rest (2) test; clips of 2, stride 1.
    auto s = loadData("video:" + file, DataOptions().imageSize(16).clipFrames(2));
    QCOMPARE(s.train.images.sizes(), torch::IntArrayRef({9, 6, 16, 16}));
    QCOMPARE(s.test.images.sizes(), torch::IntArrayRef({1, 6, 16, 16}));
    QCOMPARE(s.train.frames, int64_t(2));
    // Too short for the clip asked for: the error names the file and the settings.
    PRETEXT_VERIFY_THROWS_WITH(loadData("video:" + file, DataOptions().imageSize(16).clipFrames(5).clipStride(3)),
                               "data.clip_frames");
#endif
  }

  // The containers and codecs of the issue, where this OpenCV writes them (FFmpeg backend):
  // every frame back, and a file cut in half refused with its name (an MP4 cut before its index
  // does not open; a WebM decodes fewer frames than it lists).
  void otherContainers_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<int>("fourcc");
    QTest::newRow("mp4 (mp4v)") << "clip.mp4" << cv_fourcc("mp4v");
    QTest::newRow("webm (VP80)") << "clip.webm" << cv_fourcc("VP80");
    QTest::newRow("avi (XVID)") << "clip.avi" << cv_fourcc("XVID");
  }
  void otherContainers() {
#ifndef PRETEXT_HAVE_OPENCV
    QSKIP("built without OpenCV");
#else
    QFETCH(QString, name);
    QFETCH(int, fourcc);
    QTemporaryDir dir;
    const std::string file = dir.filePath(name).toStdString();
    if (!writeTestVideo(file, 30, 64, 48, fourcc) || std::filesystem::file_size(file) == 0)
      QSKIP("this OpenCV cannot write this container and codec");
    auto frames = readVideoFrames(file, 16);
    QVERIFY2(std::abs(frames.size(0) - 30) <= 1, qPrintable(QString::number(frames.size(0))));
    QVERIFY(std::abs(frames[10].to(torch::kFloat).mean({1, 2})[0].item<double>() - 400 % 256) < 12);
    const std::string cut = dir.filePath("cut-" + name).toStdString();
    std::filesystem::copy_file(file, cut);
    std::filesystem::resize_file(cut, std::filesystem::file_size(file) / 2);
    PRETEXT_VERIFY_THROWS_WITH(readVideoFrames(cut, 16), "video:" + cut + ": ");
#endif
  }

  // Broken files: each error names the file and says what is wrong.
  void badVideoFiles() {
#ifndef PRETEXT_HAVE_OPENCV
    PRETEXT_VERIFY_THROWS_WITH(readVideoFrames("/nowhere.mp4", 16), "without OpenCV");
#else
    QTemporaryDir dir;
    const std::string missing = dir.filePath("missing.mp4").toStdString();
    PRETEXT_VERIFY_THROWS_WITH(loadData("video:" + missing), "missing file " + missing);
    PRETEXT_VERIFY_THROWS_WITH(loadData("video:" + dir.path().toStdString()), "is a directory");
    PRETEXT_VERIFY_THROWS_WITH(loadData("video:"), "no file given");
    const std::string text = dir.filePath("notes.mp4").toStdString();
    writeText(text, "this is not a video\n");
    PRETEXT_VERIFY_THROWS_WITH(readVideoFrames(text, 16), "video:" + text + ": OpenCV cannot open");
    const std::string empty = dir.filePath("empty.avi").toStdString();
    writeBytes(empty, {});
    PRETEXT_VERIFY_THROWS_WITH(readVideoFrames(empty, 16), "video:" + empty + ": ");
    // A video cut short: its header still lists every frame.
    const std::string whole = dir.filePath("whole.avi").toStdString();
    if (!writeTestVideo(whole, 40, 64, 48)) QSKIP("this OpenCV cannot write Motion-JPEG AVI");
    const auto size = std::filesystem::file_size(whole);
    const std::string cut = dir.filePath("cut.avi").toStdString();
    std::filesystem::copy_file(whole, cut);
    std::filesystem::resize_file(cut, size / 2);
    PRETEXT_VERIFY_THROWS_WITH(readVideoFrames(cut, 16), "video:" + cut + ": truncated: its header lists 40 frames");
#endif
  }

  // The experiment's clip settings: validated, and written only for clip sources.
  void clipSettingsInTheExperiment() {
    nlohmann::json j = {{"method", {{"name", "video-colorization"}}},
                        {"data", {{"source", "moving-fashion"}, {"clip_frames", 5}, {"clip_stride", 2}}}};
    Experiment e = experimentFromJson(j);
    QCOMPARE(e.clipFrames, int64_t(5));
    QCOMPARE(experimentToJson(e)["data"]["clip_stride"].get<int64_t>(), int64_t(2));
    j["data"]["clip_frames"] = 0;
    PRETEXT_VERIFY_THROWS_WITH(experimentFromJson(j), "data.clip_frames = 0");
    nlohmann::json still = {{"method", {{"name", "simclr"}}}, {"data", {{"source", "fashion-mnist"}}}};
    QVERIFY(!experimentToJson(experimentFromJson(still))["data"].contains("clip_frames"));
  }
};

PRETEXT_TEST_AREA(TestDataVideo, "data_video")
#include "test_data_video.moc"
