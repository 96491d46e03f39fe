// Encoders that flow between Pretext and PyTorch, checked by the real clients: Debian's PyTorch
// and torchvision (/usr/bin/python3 with python3-torch and python3-torchvision: scripts/setup.sh)
// load what `pretext-cli export` writes, with strict=True, and give the same features; a
// state_dict that PyTorch wrote imports, and Pretext's features equal PyTorch's; the embedding
// projector's files parse as TensorBoard's ProjectorConfig (with Google's protobuf library).
#include <torch/torch.h>

#include <QFileInfo>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#ifdef PRETEXT_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif

#include "core/eval/npy.h"
#include "core/eval/probes.h"
#include "core/interop/import_run.h"
#include "core/interop/torch_weights.h"
#include "core/methods/method.h"
#include "core/train/run_dir.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "test_main.h"
#include "test_support.h"

using namespace pretext;
namespace fs = std::filesystem;

namespace {

constexpr const char* kTorchPython = "/usr/bin/python3";

// The last line of a Python script's output, as JSON.
nlohmann::json lastJsonLine(const QString& printed) {
  const auto lines = printed.trimmed().split('\n');
  return nlohmann::json::parse(lines.last().toStdString());
}

}  // namespace

class TestInteropTorch : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string data_;
  std::string imagesNpy_;  // 16 test images, float [16,1,12,12] in [0,1]

  std::string trainRun(const std::string& name, const nlohmann::json& backbone) {
    auto j = test::tinyExperimentJson(data_, "simclr", 1);
    j["name"] = name;
    j["backbone"] = backbone;
    j["schedule"]["steps"] = 2;
    j["eval"]["knn_every"] = 0;
    TrainOptions o;
    o.outDir = dir_.filePath("runs").toStdString();
    return Trainer(experimentFromJson(j), o).run();
  }

  // Pretext's encoder features of the 16 images, as the run's method computes them.
  torch::Tensor pretextFeatures(const std::string& run) {
    Session s = loadRunSession(run);
    s.method->eval();
    torch::NoGradGuard ng;
    return s.method->encoder()->forward(s.data.test.images.narrow(0, 0, 16).to(torch::kFloat) / 255.0);
  }

  // Exports `run`, loads it in Python with `loader` (Python lines that make `model` from the
  // sidecar `side`), strictly, and returns the largest difference to Pretext's features.
  double pythonDifference(const std::string& run, const QString& loader) {
    const std::string weights = run + "/export/encoder.pt";
    int code = 0;
    const QString cli = test::runProgram(PRETEXT_CLI, {"export", QString::fromStdString(run)}, &code);
    if (code != 0) return QTest::qFail(qPrintable(cli), __FILE__, __LINE__), 1e9;
    writeNpy(run + "/expected.npy", pretextFeatures(run).contiguous());
    const QString script = QString(R"(
import json, sys, numpy as np, torch, torchvision
sys.path.insert(0, '%1')
import pretext_models
side = json.load(open('%2/export/encoder.json'))
state = torch.load('%2/export/encoder.pt')
assert type(state) is dict and all(torch.is_tensor(v) for v in state.values()), type(state)
%3
model.load_state_dict(state, strict=True)
images = torch.from_numpy(np.load('%4'))
with torch.no_grad():
    mine = model.eval()(pretext_models.normalize(images)).numpy()
ref = np.load('%2/expected.npy')
assert mine.shape == ref.shape, (mine.shape, ref.shape)
print(json.dumps({'max_diff': float(np.abs(mine - ref).max()), 'scale': float(np.abs(ref).max())}))
)")
                               .arg(PRETEXT_SOURCE_DIR "/python", QString::fromStdString(run), loader,
                                    QString::fromStdString(imagesNpy_));
    const QString printed = test::runProgram(kTorchPython, {"-c", script}, &code);
    if (code != 0)
      return QTest::qFail(qPrintable(printed + "\n(the check needs python3-torch and "
                                               "python3-torchvision: scripts/setup.sh)"),
                          __FILE__, __LINE__),
             1e9;
    const auto j = lastJsonLine(printed);
    if (j["scale"].get<double>() < 1e-3)  // all zero: nothing would have been compared
      return QTest::qFail("the features are all zero", __FILE__, __LINE__), 1e9;
    return j["max_diff"].get<double>();
  }

 private slots:
  void initTestCase() {
    data_ = dir_.filePath("mnist").toStdString();
    fs::create_directories(data_);
    test::writeTinyMnist(data_);
    Session s = makeSession(experimentFromJson(test::tinyExperimentJson(data_, "simclr", 1)));
    imagesNpy_ = dir_.filePath("images.npy").toStdString();
    writeNpy(imagesNpy_, (s.data.test.images.narrow(0, 0, 16).to(torch::kFloat) / 255.0).contiguous());
  }

  void namesMapToTorchvisionAndBack() {
    QCOMPARE(exportedTensorName("stem.0.weight", "resnet18"), std::string("conv1.weight"));
    QCOMPARE(exportedTensorName("stem.1.running_var", "resnet34"), std::string("bn1.running_var"));
    QCOMPARE(exportedTensorName("layer2.0.shortcut.1.bias", "resnet18"),
             std::string("layer2.0.downsample.1.bias"));
    QCOMPARE(exportedTensorName("layer1.0.conv1.weight", "resnet18"), std::string("layer1.0.conv1.weight"));
    QCOMPARE(exportedTensorName("stage1.0.weight", "convnet"), std::string("stage1.0.weight"));
    for (const char* n : {"conv1.weight", "bn1.bias", "layer3.0.downsample.0.weight", "layer4.1.bn2.weight"})
      QCOMPARE(exportedTensorName(pretextTensorName(n, "resnet34"), "resnet34"), std::string(n));
  }

  // ResNet-18 at torchvision's width: torchvision's own resnet18 with the small stem loads it.
  void torchvisionLoadsTheExportedResNet() {
    const std::string run = trainRun("r18", {{"name", "resnet18"}, {"width", 64}});
    const double diff = pythonDifference(run, R"(
model = torchvision.models.resnet18()
model.conv1 = torch.nn.Conv2d(1, 64, 3, 1, 1, bias=False)
model.maxpool = torch.nn.Identity()
model.fc = torch.nn.Identity())");
    QVERIFY2(diff < 1e-4, qPrintable(QString("max |torchvision - pretext| = %1").arg(diff)));
    const auto side = nlohmann::json::parse(std::ifstream(run + "/export/encoder.json"));
    QCOMPARE(side["architecture"]["name"].get<std::string>(), std::string("resnet18"));
    QCOMPARE(side["input"]["channels"].get<int>(), 1);
    QCOMPARE(side["feature_dim"].get<int>(), 512);
    QVERIFY(side["python"].get<std::string>().find("torchvision.models.resnet18()") != std::string::npos);
  }

  void pythonModuleLoadsTheConvNetAndTheViT() {
    const QString build = "model = pretext_models.build(side)";
    const std::string convnet = trainRun("convnet", {{"name", "convnet"}, {"width", 4}});
    double diff = pythonDifference(convnet, build);
    QVERIFY2(diff < 1e-4, qPrintable(QString("convnet: %1").arg(diff)));
    const std::string vit = trainRun(
        "vit", {{"name", "vit"}, {"width", 16}, {"patch_size", 4}, {"depth", 2}, {"heads", 2}});
    diff = pythonDifference(vit, build);
    QVERIFY2(diff < 1e-4, qPrintable(QString("vit: %1").arg(diff)));
    const std::string mlp = trainRun("mlp", {{"name", "mlp"}, {"width", 16}});
    diff = pythonDifference(mlp, build);
    QVERIFY2(diff < 1e-4, qPrintable(QString("mlp: %1").arg(diff)));
    const std::string resnet = trainRun("r18-narrow", {{"name", "resnet18"}, {"width", 8}});
    diff = pythonDifference(resnet, build);
    QVERIFY2(diff < 1e-4, qPrintable(QString("resnet18 width 8: %1").arg(diff)));
  }

  // A torchvision ResNet-18 that PyTorch made and saved (random weights, random BN statistics)
  // imports, and Pretext's features of the same images equal PyTorch's: as saved by
  // torch.save(model.state_dict()) (an OrderedDict with its _metadata, the classifier fc
  // included), and inside a Lightning-style checkpoint (a backbone. prefix, a projector beside
  // it, hyper-parameters as a Python object).
  void aStateDictFromPyTorchImports() {
    const QString plain = dir_.filePath("tv-plain.pt"), lightning = dir_.filePath("tv-lightning.pt");
    const QString script = QString(R"(
import argparse, json, numpy as np, torch, torchvision
torch.manual_seed(0)
model = torchvision.models.resnet18()
model.conv1 = torch.nn.Conv2d(1, 64, 3, 1, 1, bias=False)
model.maxpool = torch.nn.Identity()
for m in model.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.1, 0.1); m.running_var.uniform_(0.5, 1.5); m.weight.data.uniform_(0.5, 1.5)
torch.save(model.state_dict(), '%1')
state = {'backbone.' + k: v for k, v in model.state_dict().items() if not k.startswith('fc.')}
state['projector.0.weight'] = torch.zeros(8, 512)
torch.save({'epoch': 3, 'state_dict': state, 'hyper_parameters': argparse.Namespace(lr=0.1)}, '%2')
model.fc = torch.nn.Identity()
with torch.no_grad():
    f = model.eval()((torch.from_numpy(np.load('%3')) - 0.5) / 0.5).numpy()
np.save('%1.features.npy', f)
print(json.dumps({'dim': f.shape[1]}))
)")
                               .arg(plain, lightning, QString::fromStdString(imagesNpy_));
    int code = 0;
    const QString printed = test::runProgram(kTorchPython, {"-c", script}, &code);
    QVERIFY2(code == 0, qPrintable(printed));
    const QString compare = QString(R"(
import json, numpy as np
print(json.dumps(np.load('%1.features.npy').astype(float).tolist()))
)")
                                .arg(plain);
    const auto theirs = lastJsonLine(test::runProgram(kTorchPython, {"-c", compare}, &code));
    for (const auto& [file, said] : {std::pair{plain, QString("fc.*")}, std::pair{lightning, QString("backbone.")}}) {
      const QString runs = dir_.filePath("imported-" + QFileInfo(file).baseName());
      const QString cli = test::runProgram(
          PRETEXT_CLI, {"import", file, "--arch", "resnet18", "--data", QString::fromStdString("mnist:" + data_), "--out", runs},
          &code);
      QVERIFY2(code == 0, qPrintable(cli));
      QVERIFY2(cli.contains(said), qPrintable(cli));
      std::string run;
      for (const auto& e : fs::directory_iterator(runs.toStdString())) run = e.path().string();
      const auto mine = pretextFeatures(run);
      QCOMPARE(int64_t(theirs.size()), mine.size(0));
      double diff = 0;
      for (int64_t i = 0; i < mine.size(0); ++i)
        for (int64_t d = 0; d < mine.size(1); ++d)
          diff = std::max(diff, std::abs(theirs[i][d].get<double>() - mine[i][d].item<double>()));
      QVERIFY2(diff < 1e-4, qPrintable(QString("%1: max |pytorch - pretext| = %2").arg(file).arg(diff)));
    }
  }

  // torchvision's ResNet-18 as it comes (3 channels, the ImageNet stem: 7x7 stride-2 conv1 and
  // max-pool), on colour images: the architecture and the stem are read off the keys.
  void torchvisionsImageNetResNetImports() {
    const std::string cifar = dir_.filePath("cifar").toStdString();
    fs::create_directories(cifar);
    unsigned state = 7;
    auto records = [&](int n) {
      std::vector<uint8_t> b;
      for (int i = 0; i < n; ++i) {
        b.push_back(static_cast<uint8_t>(i % 10));
        for (int k = 0; k < 3 * 32 * 32; ++k) b.push_back(static_cast<uint8_t>((state = state * 1103515245u + 12345u) >> 24));
      }
      return b;
    };
    for (int k = 1; k <= 5; ++k) test::writeBytes(cifar + "/data_batch_" + std::to_string(k) + ".bin", records(4));
    test::writeBytes(cifar + "/test_batch.bin", records(16));
    auto e = test::tinyExperimentJson(cifar, "simclr", 1);
    e["data"]["source"] = "cifar10:" + cifar;
    Session s = makeSession(experimentFromJson(e));
    const std::string images = dir_.filePath("cifar-images.npy").toStdString();
    writeNpy(images, (s.data.test.images.to(torch::kFloat) / 255.0).contiguous());
    const QString file = dir_.filePath("tv-imagenet.pt");
    const QString script = QString(R"(
import json, numpy as np, torch, torchvision
torch.manual_seed(1)
model = torchvision.models.resnet18()
for m in model.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.1, 0.1); m.running_var.uniform_(0.5, 1.5)
torch.save(model.state_dict(), '%1')
model.fc = torch.nn.Identity()
with torch.no_grad():
    f = model.eval()((torch.from_numpy(np.load('%2')) - 0.5) / 0.5)
print(json.dumps(f.double().tolist()))
)")
                               .arg(file, QString::fromStdString(images));
    int code = 0;
    const QString printed = test::runProgram(kTorchPython, {"-c", script}, &code);
    QVERIFY2(code == 0, qPrintable(printed));
    const auto theirs = lastJsonLine(printed);
    const QString runs = dir_.filePath("imported-imagenet");
    const QString cli = test::runProgram(
        PRETEXT_CLI, {"import", file, "--data", QString::fromStdString("cifar10:" + cifar), "--out", runs}, &code);
    QVERIFY2(code == 0, qPrintable(cli));
    std::string run;
    for (const auto& entry : fs::directory_iterator(runs.toStdString())) run = entry.path().string();
    const auto experiment = RunDirectory::open(run).experiment();
    QCOMPARE(experiment.backbone, std::string("resnet18"));
    QCOMPARE(experiment.stem, std::string("imagenet"));
    Session imported = loadRunSession(run);
    imported.method->eval();
    torch::NoGradGuard ng;
    const auto mine = imported.method->encoder()->forward(imported.data.test.images.to(torch::kFloat) / 255.0);
    double diff = 0;
    for (int64_t i = 0; i < mine.size(0); ++i)
      for (int64_t d = 0; d < mine.size(1); ++d)
        diff = std::max(diff, std::abs(theirs[i][d].get<double>() - mine[i][d].item<double>()));
    QVERIFY2(diff < 1e-4, qPrintable(QString("max |torchvision - pretext| = %1").arg(diff)));
  }

  // export -> import -> the same kNN accuracy; and model.init_from starts a method from it.
  void exportImportRoundTripKeepsTheKnn() {
    const std::string run = trainRun("round", {{"name", "convnet"}, {"width", 4}});
    int code = 0;
    const QString weights = dir_.filePath("round.pt");
    QString out = test::runProgram(PRETEXT_CLI, {"export", QString::fromStdString(run), "--out", weights}, &code);
    QVERIFY2(code == 0, qPrintable(out));
    const QString runs = dir_.filePath("round-runs");
    out = test::runProgram(PRETEXT_CLI, {"import", weights, "--out", runs}, &code);  // the sidecar says the rest
    QVERIFY2(code == 0, qPrintable(out));
    std::string imported;
    for (const auto& e : fs::directory_iterator(runs.toStdString())) imported = e.path().string();
    auto knnOf = [&](const std::string& r) {
      const QString o = test::runProgram(PRETEXT_CLI, {"eval", QString::fromStdString(r), "--knn", "--k", "5", "--json"}, &code);
      return lastJsonLine(o)["knn_top1"].get<double>();
    };
    QCOMPARE(knnOf(imported), knnOf(run));
    QVERIFY(torch::allclose(pretextFeatures(imported), pretextFeatures(run), 1e-5, 1e-6));

    auto j = test::tinyExperimentJson(data_, "byol", 1);
    j["model"]["init_from"] = weights.toStdString();
    j["schedule"]["steps"] = 1;
    Session s = makeSession(experimentFromJson(j));
    initEncoderFrom(*s.method, experimentFromJson(j), weights.toStdString());
    s.method->eval();
    {
      torch::NoGradGuard ng;  // (the training below needs gradients)
      const auto started =
          s.method->encoder()->forward(s.data.test.images.narrow(0, 0, 16).to(torch::kFloat) / 255.0);
      QVERIFY(torch::allclose(started, pretextFeatures(run), 1e-5, 1e-6));
    }
    TrainOptions o;
    o.outDir = dir_.filePath("init-runs").toStdString();
    const std::string trained = Trainer(experimentFromJson(j), o).run();
    std::ifstream log(trained + "/log.txt");
    const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    QVERIFY2(text.find("encoder initialised from " + weights.toStdString()) != std::string::npos, text.c_str());
  }

  void badFilesAreRefusedAndNothingIsWritten() {
    const std::string run = trainRun("bad", {{"name", "convnet"}, {"width", 4}});
    const std::string good = dir_.filePath("good.pt").toStdString();
    int code = 0;
    test::runProgram(PRETEXT_CLI, {"export", QString::fromStdString(run), "--out", QString::fromStdString(good)}, &code);
    QCOMPARE(code, 0);
    const std::string runs = dir_.filePath("bad-runs").toStdString();
    auto refused = [&](const std::string& file, const std::vector<QString>& words, QStringList extra = {}) {
      const QString out = test::runProgram(
          PRETEXT_CLI, QStringList{"import", QString::fromStdString(file), "--out", QString::fromStdString(runs)} + extra, &code);
      QVERIFY2(code != 0, qPrintable(out));
      QVERIFY2(out.contains(QString::fromStdString(file)), qPrintable(out));
      for (const auto& w : words) QVERIFY2(out.contains(w), qPrintable(out + " lacks " + w));
      QVERIFY2(!fs::exists(runs) || fs::is_empty(runs), "a refused import left a run folder");
    };
    // Truncated: the first half of a good file.
    std::ifstream in(good, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string cut = dir_.filePath("cut.pt").toStdString();
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    refused(cut, {"truncated"});
    const std::string empty = dir_.filePath("empty.pt").toStdString();
    std::ofstream(empty).close();
    refused(empty, {"empty"});
    const std::string text = dir_.filePath("text.pt").toStdString();
    std::ofstream(text) << "hello";
    refused(text, {"not a PyTorch file"});
    // Pickles that are not state_dicts, and a state_dict of the wrong shapes, written by PyTorch.
    const QString script = QString(R"(
import torch
torch.save([1, 2, 3], '%1/list.pt')
torch.save(torch.zeros(3), '%1/tensor.pt')
torch.save({'epoch': 1, 'lr': 0.1}, '%1/nothing.pt')
s = torch.load('%2')
s['stage3.0.weight'] = torch.zeros(16, 8, 5, 5)
s['extra.weight'] = torch.zeros(2)
torch.save(s, '%1/wrong.pt')
)")
                               .arg(dir_.path(), QString::fromStdString(good));
    const QString printed = test::runProgram(kTorchPython, {"-c", script}, &code);
    QVERIFY2(code == 0, qPrintable(printed));
    const std::string d = dir_.path().toStdString();
    refused(d + "/list.pt", {"a list of 3 items", "state_dict"});
    refused(d + "/tensor.pt", {"a single tensor"});
    refused(d + "/nothing.pt", {"epoch", "lr"});
    refused(d + "/wrong.pt", {"stage3.0.weight: file [16,8,5,5], encoder [16,8,3,3]", "unexpected keys: extra.weight"},
            {"--arch", "convnet"});
    refused(good, {"conv1.weight"}, {"--arch", "resnet18"});  // not a ResNet's keys
    // A weights file that cannot be written: the folder is a file.
    const QString blocked = test::runProgram(
        PRETEXT_CLI, {"export", QString::fromStdString(run), "--out", QString::fromStdString(good + "/x.pt")}, &code);
    QVERIFY(code != 0);
    QVERIFY2(blocked.contains(QString::fromStdString(good)), qPrintable(blocked));
  }

  void projectorFilesParseAsTensorBoards() {
    const std::string run = trainRun("proj", {{"name", "convnet"}, {"width", 4}});
    const QString dir = dir_.filePath("projector");
    int code = 0;
    const QString out = test::runProgram(
        PRETEXT_CLI, {"export", QString::fromStdString(run), "--projector", dir, "--projector-limit", "30"}, &code);
    QVERIFY2(code == 0, qPrintable(out));
    QVERIFY(!fs::exists(run + "/export/encoder.pt"));  // --projector alone: no weights
    const QString script = QString(R"(
import json, numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
F = descriptor_pb2.FieldDescriptorProto
fdp = descriptor_pb2.FileDescriptorProto(name='projector_check.proto', package='tensorboard', syntax='proto3')
sprite = fdp.message_type.add(name='SpriteMetadata')
sprite.field.add(name='image_path', number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
sprite.field.add(name='single_image_dim', number=2, type=F.TYPE_UINT32, label=F.LABEL_REPEATED)
info = fdp.message_type.add(name='EmbeddingInfo')
info.field.add(name='tensor_name', number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
info.field.add(name='metadata_path', number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
info.field.add(name='bookmarks_path', number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
info.field.add(name='tensor_shape', number=4, type=F.TYPE_UINT32, label=F.LABEL_REPEATED)
info.field.add(name='sprite', number=5, type=F.TYPE_MESSAGE, type_name='.tensorboard.SpriteMetadata', label=F.LABEL_OPTIONAL)
info.field.add(name='tensor_path', number=8, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
config = fdp.message_type.add(name='ProjectorConfig')
config.field.add(name='model_checkpoint_path', number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
config.field.add(name='embeddings', number=2, type=F.TYPE_MESSAGE, type_name='.tensorboard.EmbeddingInfo', label=F.LABEL_REPEATED)
pool = descriptor_pool.DescriptorPool()
pool.Add(fdp)
Config = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName('tensorboard.ProjectorConfig'))
c = text_format.Parse(open('%1/projector_config.pbtxt').read(), Config())
e = c.embeddings[0]
t = np.loadtxt('%1/' + e.tensor_path, delimiter='\t', ndmin=2)
meta = open('%1/' + e.metadata_path).read().splitlines()
print(json.dumps({'rows': t.shape[0], 'cols': t.shape[1], 'meta': meta[:2], 'meta_rows': len(meta),
                  'sprite': e.sprite.image_path, 'dims': list(e.sprite.single_image_dim)}))
)")
                               .arg(dir);
    const QString printed = test::runProgram(kTorchPython, {"-c", script}, &code);
    QVERIFY2(code == 0, qPrintable(printed));
    const auto j = lastJsonLine(printed);
    QCOMPARE(j["rows"].get<int>(), 30);
    QCOMPARE(j["cols"].get<int>(), 32);  // the convnet of width 4: 8 x 4 features
    QCOMPARE(j["meta_rows"].get<int>(), 31);  // a header and one row per point
    QCOMPARE(j["meta"][0].get<std::string>(), std::string("index\tlabel\tclass"));
#ifdef PRETEXT_HAVE_OPENCV
    QCOMPARE(j["sprite"].get<std::string>(), std::string("sprite.png"));
    QCOMPARE(j["dims"][0].get<int>(), 12);
    const cv::Mat sheet = cv::imread((dir + "/sprite.png").toStdString());
    QCOMPARE(sheet.cols, 6 * 12);  // ceil(sqrt(30)) = 6 thumbnails a row
    QCOMPARE(sheet.rows, 6 * 12);
#endif
  }
};

PRETEXT_TEST_AREA(TestInteropTorch, "interop_torch")
#include "test_interop_torch.moc"
