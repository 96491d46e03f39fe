// Results that flow out to the Python world, checked by the real client: NumPy's numpy.load
// reads what `pretext-cli features` writes (Debian's /usr/bin/python3 with python3-numpy,
// which scripts/setup.sh installs).
#include "test_main.h"
#include <torch/torch.h>

#include <QProcess>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "core/eval/npy.h"
#include "core/eval/probes.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "test_support.h"

using namespace pretext;
namespace fs = std::filesystem;

namespace {

constexpr const char* kPython = "/usr/bin/python3";

QString runProgram(const QString& program, const QStringList& args, int* code) {
  QProcess p;
  p.start(program, args);
  p.waitForFinished(300000);
  *code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
  return QString::fromUtf8(p.readAllStandardOutput()) + QString::fromUtf8(p.readAllStandardError());
}

}  // namespace

class TestInterop : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string run_;

 private slots:
  void initTestCase() {
    const std::string data = dir_.filePath("mnist").toStdString();
    fs::create_directories(data);
    test::writeTinyMnist(data);
    TrainOptions o;
    o.outDir = dir_.filePath("runs").toStdString();
    run_ = Trainer(experimentFromJson(test::tinyExperimentJson(data, "rotation", 1)), o).run();
  }

  void npyHeaderIsAlignedAndNamesTheArray() {
    for (const auto& t : {torch::zeros({7, 3}), torch::zeros({5}, torch::kLong), torch::zeros({2, 3, 4}, torch::kDouble),
                          torch::zeros({}, torch::kInt)}) {
      const std::string h = npyHeader(t);
      QCOMPARE(h.size() % 64, size_t(0));
      QCOMPARE(h.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
      QCOMPARE(h.back(), '\n');
    }
    QVERIFY(npyHeader(torch::zeros({7, 3})).find("'descr': '<f4', 'fortran_order': False, 'shape': (7, 3), }") !=
            std::string::npos);
    QVERIFY(npyHeader(torch::zeros({5}, torch::kLong)).find("'shape': (5,), }") != std::string::npos);
    PRETEXT_VERIFY_THROWS_WITH(writeNpy(dir_.filePath("u8.npy").toStdString(), torch::zeros({2}, torch::kByte)),
                               "float32, float64, int32 and int64");
    const std::string unwritable = dir_.filePath("no/such/folder/x.npy").toStdString();
    PRETEXT_VERIFY_THROWS_WITH(writeNpy(unwritable, torch::zeros({2})), unwritable);
    QVERIFY(!fs::exists(unwritable + ".tmp"));
  }

  void numpyLoadsTheFeatures() {
    int code = 0;
    const QString numpy = runProgram(kPython, {"-c", "import numpy; print(numpy.__version__)"}, &code);
    if (code != 0)
      QFAIL(qPrintable("numpy.load is the client this test checks with, and " + QString(kPython) +
                       " has no numpy: install python3-numpy (scripts/setup.sh does). " + numpy));
    const QString out = dir_.filePath("features");
    const QString cli = runProgram(PRETEXT_CLI, {"features", QString::fromStdString(run_), "--out", out}, &code);
    QVERIFY2(code == 0, qPrintable(cli));
    QVERIFY(cli.contains("numpy.load"));

    // What Pretext computes in-process for the same split.
    Session s = loadRunSession(run_);
    s.method->eval();
    const auto mine = extractFeatures([&](const torch::Tensor& x) { return s.method->features(x); },
                                      s.data.test, s.device);

    const QString script = QString(R"(
import json, numpy as np
f = np.load('%1/features.npy'); l = np.load('%1/labels.npy'); i = np.load('%1/index.npy')
print(json.dumps({'shape': list(f.shape), 'dtype': str(f.dtype), 'labels_dtype': str(l.dtype),
                  'index': i.tolist(), 'labels': l.tolist(), 'rows': f[:3].astype(float).tolist(),
                  'sum': float(f.astype(np.float64).sum())}))
)").arg(out);
    const QString printed = runProgram(kPython, {"-c", script}, &code);
    QVERIFY2(code == 0, qPrintable(printed));
    const auto j = nlohmann::json::parse(printed.toStdString());
    QCOMPARE(j["shape"][0].get<int64_t>(), mine.size(0));
    QCOMPARE(j["shape"][1].get<int64_t>(), mine.size(1));
    QCOMPARE(j["dtype"].get<std::string>(), std::string("float32"));
    QCOMPARE(j["labels_dtype"].get<std::string>(), std::string("int64"));
    QCOMPARE(j["index"].size(), size_t(mine.size(0)));
    QCOMPARE(j["index"][5].get<int64_t>(), int64_t(5));
    for (int64_t n = 0; n < mine.size(0); ++n)
      QCOMPARE(j["labels"][n].get<int64_t>(), s.data.test.labels[n].item<int64_t>());
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t c = 0; c < mine.size(1); ++c)
        QVERIFY(std::abs(j["rows"][r][c].get<double>() - mine[r][c].item<double>()) < 1e-5);
    QVERIFY(std::abs(j["sum"].get<double>() - mine.to(torch::kDouble).sum().item<double>()) < 1e-3);
  }

  void featuresRefusesWhatItCannotDo() {
    int code = 0;
    const QString r = runProgram(PRETEXT_CLI, {"features", QString::fromStdString(run_), "--split", "val",
                                               "--out", dir_.filePath("x")}, &code);
    QVERIFY(code != 0);
    QVERIFY2(r.contains("val"), qPrintable(r));
    const QString missing = runProgram(PRETEXT_CLI, {"features", dir_.filePath("nope"), "--out", dir_.filePath("y")}, &code);
    QVERIFY(code != 0);
    QVERIFY2(missing.contains("nope"), qPrintable(missing));
  }
};

PRETEXT_TEST_AREA(TestInterop, "interop")
#include "test_interop.moc"
