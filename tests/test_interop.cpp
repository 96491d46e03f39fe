// Results that flow out to the Python world, checked by the real clients: NumPy's numpy.load
// reads what `pretext-cli features` writes, and Google's protobuf library (with python3-crc32c
// for the record checksums) reads every record of a run's TensorBoard event file (Debian's
// /usr/bin/python3 with python3-numpy, python3-protobuf and python3-crc32c: scripts/setup.sh).
#include <torch/torch.h>

#include <QProcess>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/eval/npy.h"
#include "core/eval/probes.h"
#include "core/train/tensorboard.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "test_main.h"
#include "test_support.h"

using namespace pretext;
namespace fs = std::filesystem;

namespace {

constexpr const char* kPython = "/usr/bin/python3";

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
    for (const auto& t : {torch::zeros({7, 3}), torch::zeros({5}, torch::kLong),
                          torch::zeros({2, 3, 4}, torch::kDouble), torch::zeros({}, torch::kInt)}) {
      const std::string h = npyHeader(t);
      QCOMPARE(h.size() % 64, size_t(0));
      QCOMPARE(h.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
      QCOMPARE(h.back(), '\n');
    }
    QVERIFY(npyHeader(torch::zeros({7, 3}))
                .find("'descr': '<f4', 'fortran_order': False, 'shape': (7, 3), }") !=
            std::string::npos);
    QVERIFY(npyHeader(torch::zeros({5}, torch::kLong)).find("'shape': (5,), }") !=
            std::string::npos);
    PRETEXT_VERIFY_THROWS_WITH(
        writeNpy(dir_.filePath("u8.npy").toStdString(), torch::zeros({2}, torch::kByte)),
        "float32, float64, int32 and int64");
    const std::string unwritable = dir_.filePath("no/such/folder/x.npy").toStdString();
    PRETEXT_VERIFY_THROWS_WITH(writeNpy(unwritable, torch::zeros({2})), unwritable);
    QVERIFY(!fs::exists(unwritable + ".tmp"));
  }

  void numpyLoadsTheFeatures() {
    int code = 0;
    const QString numpy =
        test::runProgram(kPython, {"-c", "import numpy; print(numpy.__version__)"}, &code);
    if (code != 0)
      QFAIL(qPrintable("numpy.load is the client this test checks with, and " + QString(kPython) +
                       " has no numpy: install python3-numpy (scripts/setup.sh does). " + numpy));
    const QString out = dir_.filePath("features");
    const QString cli =
        test::runProgram(PRETEXT_CLI, {"features", QString::fromStdString(run_), "--out", out}, &code);
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
)")
                               .arg(out);
    const QString printed = test::runProgram(kPython, {"-c", script}, &code);
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

  void crc32cMatchesItsCheckValue() {
    QCOMPARE(crc32c("123456789", 9), 0xE3069283u);  // the CRC-32C catalogue's check value
    QCOMPARE(crc32c("", 0), 0u);
  }

  // The run trained in initTestCase wrote RUN/tb/events.out.tfevents.*: every record's two
  // checksums hold, protobuf parses every Event, and the scalars are metrics.csv's.
  void tensorboardReadsTheScalars() {
    std::string events;
    for (const auto& entry : fs::directory_iterator(run_ + "/tb"))
      if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0)
        events = entry.path().string();
    QVERIFY2(!events.empty(), "no event file in RUN/tb");
    const QString script = QString(R"(
import json, struct, crc32c
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
F = descriptor_pb2.FieldDescriptorProto
fdp = descriptor_pb2.FileDescriptorProto(name='event_check.proto', package='check', syntax='proto3')
event = fdp.message_type.add(name='Event')
event.field.add(name='wall_time', number=1, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
event.field.add(name='step', number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
event.field.add(name='file_version', number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
event.field.add(name='summary', number=5, type=F.TYPE_MESSAGE, type_name='.check.Summary', label=F.LABEL_OPTIONAL)
summary = fdp.message_type.add(name='Summary')
summary.field.add(name='value', number=1, type=F.TYPE_MESSAGE, type_name='.check.Summary.Value', label=F.LABEL_REPEATED)
value = summary.nested_type.add(name='Value')
value.field.add(name='tag', number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
value.field.add(name='simple_value', number=2, type=F.TYPE_FLOAT, label=F.LABEL_OPTIONAL)
pool = descriptor_pool.DescriptorPool()
pool.Add(fdp)
Event = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName('check.Event'))
mask = lambda c: (((c >> 15) | (c << 17)) + 0xa282ead8) & 0xffffffff
data = open('%1', 'rb').read()
out = {'version': '', 'records': 0, 'scalars': []}
pos = 0
while pos < len(data):
    header = data[pos:pos + 8]
    (n,) = struct.unpack('<Q', header)
    assert struct.unpack('<I', data[pos + 8:pos + 12])[0] == mask(crc32c.crc32c(header)), 'length CRC'
    body = data[pos + 12:pos + 12 + n]
    assert struct.unpack('<I', data[pos + 12 + n:pos + 16 + n])[0] == mask(crc32c.crc32c(body)), 'data CRC'
    pos += 16 + n
    e = Event()
    e.ParseFromString(body)
    assert e.wall_time > 1.6e9
    out['records'] += 1
    out['version'] = out['version'] or e.file_version
    out['scalars'] += [[e.step, v.tag, v.simple_value] for v in e.summary.value]
print(json.dumps(out))
)")
                               .arg(QString::fromStdString(events));
    int code = 0;
    const QString printed = test::runProgram(kPython, {"-c", script}, &code);
    QVERIFY2(
        code == 0,
        qPrintable(printed + "\n(install python3-protobuf and python3-crc32c: scripts/setup.sh)"));
    const auto j = nlohmann::json::parse(printed.toStdString());
    QCOMPARE(j["version"].get<std::string>(), std::string("brain.Event:2"));
    // metrics.csv: step,epoch,loss,...: every row's loss is the event file's, to float precision.
    std::ifstream csv(run_ + "/metrics.csv");
    std::string line;
    std::getline(csv, line);
    std::map<int64_t, double> losses;
    while (std::getline(csv, line)) {
      std::stringstream row(line);
      std::string step, epoch, loss;
      std::getline(row, step, ',');
      std::getline(row, epoch, ',');
      std::getline(row, loss, ',');
      losses[std::stoll(step)] = std::stod(loss);
    }
    QVERIFY(!losses.empty());
    std::map<int64_t, double> logged;
    bool knn = false, metric = false;
    for (const auto& s : j["scalars"]) {
      const std::string tag = s[1];
      if (tag == "loss") logged[s[0].get<int64_t>()] = s[2].get<double>();
      knn = knn || tag == "knn_top1";
      metric = metric || tag == "rotation_acc";
    }
    QCOMPARE(logged.size(), losses.size());
    for (const auto& [step, loss] : losses)
      QVERIFY2(std::abs(logged[step] - loss) <= 1e-6 * std::max(1.0, std::abs(loss)),
               qPrintable(QString("step %1: %2 vs %3").arg(step).arg(logged[step]).arg(loss)));
    QVERIFY(knn);     // the online kNN evaluation
    QVERIFY(metric);  // the method's own metric
  }

  void tensorboardCanBeTurnedOff() {
    auto j = test::tinyExperimentJson(dir_.filePath("mnist").toStdString(), "rotation", 1);
    j["run"]["tensorboard"] = false;
    j["schedule"]["steps"] = 2;
    TrainOptions o;
    o.outDir = dir_.filePath("quiet-runs").toStdString();
    const std::string run = Trainer(experimentFromJson(j), o).run();
    QVERIFY(fs::exists(run + "/metrics.csv"));
    QVERIFY(!fs::exists(run + "/tb"));
  }

  void featuresRefusesWhatItCannotDo() {
    int code = 0;
    const QString r = test::runProgram(
        PRETEXT_CLI,
        {"features", QString::fromStdString(run_), "--split", "val", "--out", dir_.filePath("x")},
        &code);
    QVERIFY(code != 0);
    QVERIFY2(r.contains("val"), qPrintable(r));
    const QString missing = test::runProgram(
        PRETEXT_CLI, {"features", dir_.filePath("nope"), "--out", dir_.filePath("y")}, &code);
    QVERIFY(code != 0);
    QVERIFY2(missing.contains("nope"), qPrintable(missing));
  }
};

PRETEXT_TEST_AREA(TestInterop, "interop")
#include "test_interop.moc"
