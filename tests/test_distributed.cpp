// Data-parallel training on c10d (Gloo over loopback): the launcher's environment, the sharded
// sampler, the differentiable collectives and synchronised batch norm against one process on the
// whole batch (two ranks as two threads of this process), and whole runs of pretext-cli as two
// processes: the same parameters as one process after K steps, a launch through the real
// torchrun, and a killed rank named by the survivor, the run resumable.
#include "test_main.h"
#include <torch/torch.h>

#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QProcess>
#include <QTemporaryDir>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "core/data/sampler.h"
#include "core/dist/gradient_sync.h"
#include "core/dist/launch_env.h"
#include "core/dist/process_group.h"
#include "core/dist/step_group.h"
#include "core/methods/moco.h"
#include "core/models/backbone.h"
#include "core/models/batch_norm.h"
#include "core/train/run_dir.h"
#include "core/train/trainer.h"
#include "core/util/error.h"
#include "test_support.h"

using namespace pretext;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A TCP port nobody listens on now (the kernel's pick for port 0).
int freePort() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(s);
  return ntohs(a.sin_port);
}

LaunchEnv envOf(int64_t rank, int64_t world, int port) {
  LaunchEnv e;
  e.launcher = "env";
  e.rank = rank;
  e.worldSize = world;
  e.localRank = rank;
  e.masterAddr = "127.0.0.1";
  e.masterPort = port;
  return e;
}

// Runs body(group) as `world` ranks, one thread each, and rethrows the first error.
void asRanks(int64_t world, const std::function<void(DistGroup&)>& body) {
  const int port = freePort();
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(world);
  for (int64_t r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        at::set_num_threads(1);
        auto g = DistGroup::connect(envOf(r, world, port), std::chrono::seconds(60));
        body(*g);
        g->barrier();
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

std::function<std::string(const std::string&)> vars(std::map<std::string, std::string> m) {
  return [m](const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? std::string() : it->second;
  };
}

double maxDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

QString cli() { return QString(PRETEXT_CLI); }

// An experiment small enough for two ranks on two cores: no augmentation (each rank draws its
// own, which would differ from one process's draws), SGD (Adam's update amplifies the rounding
// of near-zero gradients), batch norm everywhere.
json tinyExperiment(const std::string& method, int64_t steps) {
  json j = {{"name", method + "-dist"},
            {"data", {{"source", "fashion-mnist"}, {"limit", 256}}},
            {"method", {{"name", method}, {"params", json::object()}}},
            {"backbone", {{"name", "convnet"}, {"width", 8}}},
            {"augment", {{"preset", "none"}}},
            {"optimizer", {{"name", "sgd"}, {"lr", 0.01}, {"momentum", 0.9}, {"weight_decay", 0}}},
            {"schedule", {{"steps", steps}, {"batch_size", 32}, {"warmup_epochs", 0}}},
            {"eval", {{"knn_every", 0}}},
            {"run", {{"threads", 1}, {"log_every", 1}, {"tensorboard", false}, {"checkpoint_every", 1},
                     {"dist_timeout", 60}}}};
  if (method == "moco") j["method"]["params"] = {{"queue_size", 256}};
  return j;
}

std::string writeExperiment(const QTemporaryDir& dir, const json& j, const std::string& name) {
  const std::string path = dir.filePath(QString::fromStdString(name)).toStdString();
  std::ofstream(path) << j.dump(2);
  return path;
}

QStringList trainArgs(const std::string& file, const std::string& out) {
  return {"train", QString::fromStdString(file), "--out", QString::fromStdString(out), "--quiet"};
}

// Starts `pretext-cli train FILE --out OUT` as ranks 0 and 1 of a two-process job (the
// variables torchrun sets, set by hand).
std::array<QProcess*, 2> startTwoRanks(QObject* parent, const std::string& file, const std::string& out) {
  const int port = freePort();
  std::array<QProcess*, 2> ranks{};
  for (int rank = 0; rank < 2; ++rank) {
    auto* p = new QProcess(parent);
    auto env = QProcessEnvironment::systemEnvironment();
    env.insert("RANK", QString::number(rank));
    env.insert("WORLD_SIZE", "2");
    env.insert("LOCAL_RANK", QString::number(rank));
    env.insert("MASTER_ADDR", "127.0.0.1");
    env.insert("MASTER_PORT", QString::number(port));
    env.insert("OMP_NUM_THREADS", "1");
    p->setProcessEnvironment(env);
    p->setProcessChannelMode(QProcess::MergedChannels);
    p->start(cli(), trainArgs(file, out));
    ranks[rank] = p;
  }
  return ranks;
}

// Waits for both ranks; true when both exited with 0. `outputs` gets what each printed.
bool finishTwoRanks(const std::array<QProcess*, 2>& ranks, std::array<QString, 2>& outputs) {
  bool ok = true;
  for (int r = 0; r < 2; ++r) {
    ok = ranks[r]->waitForFinished(180000) && ok;
    outputs[r] = QString::fromUtf8(ranks[r]->readAll());
    ok = ok && ranks[r]->exitStatus() == QProcess::NormalExit && ranks[r]->exitCode() == 0;
  }
  return ok;
}

// How far two runs of the same experiment ended apart, relative to how far the first moved its
// parameters from their (seeded, identical) initialisation: |b - a| / |a - init| over every
// trained parameter.
double relativeDivergence(const std::string& runA, const std::string& runB) {
  auto a = loadRunSession(runA), b = loadRunSession(runB);
  Session init = makeSession(a.experiment);
  auto pa = a.method->named_parameters(), pb = b.method->named_parameters(), p0 = init.method->named_parameters();
  double apart = 0, moved = 0;
  for (const auto& item : pa) {
    if (!item.value().requires_grad()) continue;
    apart += (pb[item.key()] - item.value()).pow(2).sum().item<double>();
    moved += (item.value() - p0[item.key()]).pow(2).sum().item<double>();
  }
  return std::sqrt(apart / std::max(1e-30, moved));
}

std::string onlyRunIn(const std::string& out) {
  std::vector<std::string> runs;
  for (auto& e : fs::directory_iterator(out))
    if (e.is_directory()) runs.push_back(e.path().string());
  return runs.size() == 1 ? runs[0] : "";
}

}  // namespace

class TestDistributed : public QObject {
  Q_OBJECT

 private slots:
  void launchEnvironment() {
    // One process: no variables.
    auto single = readLaunchEnv(vars({}));
    QCOMPARE(single.worldSize, int64_t(1));
    QVERIFY(!single.distributed());
    // torchrun under its elastic agent: the agent serves the store, the prefix is the attempt's.
    auto t = readLaunchEnv(vars({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.0.0.7"},
                                 {"MASTER_PORT", "29400"}, {"TORCHELASTIC_RUN_ID", "none"},
                                 {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"TORCHELASTIC_RESTART_COUNT", "2"}}));
    QCOMPARE(t.launcher, std::string("torchrun"));
    QCOMPARE(t.rank, int64_t(3));
    QCOMPARE(t.localRank, int64_t(1));
    QVERIFY(t.agentServesStore);
    QCOMPARE(t.storePrefix, std::string("/worker/attempt_2"));
    QCOMPARE(t.restartCount, int64_t(2));
    QCOMPARE(t.masterPort, 29400);
    // Slurm: the first host of the step's node list serves the store; the port comes from the job.
    auto s = readLaunchEnv(vars({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
                                 {"SLURM_STEP_NODELIST", "gpu[007-010,12],login1"}, {"SLURM_JOB_ID", "123456"}}));
    QCOMPARE(s.launcher, std::string("slurm"));
    QCOMPARE(s.rank, int64_t(5));
    QCOMPARE(s.worldSize, int64_t(8));
    QCOMPARE(s.masterAddr, std::string("gpu007"));
    QCOMPARE(s.masterPort, 20000 + 123456 % 20000);
    QCOMPARE(firstSlurmHost("a,b"), std::string("a"));
    QCOMPARE(firstSlurmHost("node9"), std::string("node9"));
    QCOMPARE(firstSlurmHost("n[3,5]-ib"), std::string("n3-ib"));
    // Contradictions name the variable.
    PRETEXT_VERIFY_THROWS_WITH(readLaunchEnv(vars({{"RANK", "0"}})), "RANK = 0 is set but WORLD_SIZE");
    PRETEXT_VERIFY_THROWS_WITH(readLaunchEnv(vars({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"},
                                                   {"MASTER_PORT", "1"}})),
                               "RANK = \"2\"");
    PRETEXT_VERIFY_THROWS_WITH(readLaunchEnv(vars({{"RANK", "0"}, {"WORLD_SIZE", "2"}})), "MASTER_ADDR and MASTER_PORT");
    PRETEXT_VERIFY_THROWS_WITH(readLaunchEnv(vars({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"},
                                                   {"MASTER_PORT", "http"}})),
                               "MASTER_PORT = \"http\"");
  }

  void samplerShardsTheGlobalBatch() {
    BatchSampler whole(100, 8, 3);
    BatchSampler r0(100, 8, 3), r1(100, 8, 3);
    r0.shard(0, 2);
    r1.shard(1, 2);
    for (int64_t b : {0, 5, 11}) {
      auto joined = torch::cat({r0.indices(2, b), r1.indices(2, b)});
      QVERIFY(torch::equal(joined, whole.indices(2, b)));
    }
    BatchSampler odd(100, 10, 3);
    PRETEXT_VERIFY_THROWS_WITH(odd.shard(0, 4), "schedule.batch_size = 10 does not split over 4 processes");
  }

  // The differentiable all-gather: the gradient each rank gets for its rows equals the
  // single-process gradient of the loss of the whole batch (x W, which the averaging undoes).
  void gatherGradientMatchesOneProcess() {
    torch::manual_seed(1);
    auto full = torch::randn({8, 5}, torch::kDouble);
    auto loss = [](const torch::Tensor& z) {  // couples every row with every other row
      auto s = torch::matmul(z, z.t());
      return torch::logsumexp(s, 1).sum() + z.pow(3).sum();
    };
    auto x = full.clone().requires_grad_(true);
    loss(x).backward();
    const auto expected = x.grad().clone();
    std::vector<torch::Tensor> grads(2);
    asRanks(2, [&](DistGroup& g) {
      auto mine = full.narrow(0, g.rank() * 4, 4).clone().requires_grad_(true);
      StepGroupScope scope(&g, true);
      auto gathered = gatherAcrossRanks(mine);
      TORCH_CHECK(gathered.size(0) == 8, "the gather returned ", gathered.size(0), " rows");
      loss(gathered).backward();
      grads[g.rank()] = mine.grad() / double(g.worldSize());
    });
    QVERIFY2(maxDiff(torch::cat(grads), expected) < 1e-9, "the gathered gradient differs from one process's");
  }

  // MoCo's shuffle BN across ranks: each rank gets the keys of its own views, in order, though
  // they were encoded in sub-batches mixed from both ranks.
  void mocoShuffleBnKeysComeBackInOrder() {
    torch::manual_seed(3);
    const auto full = torch::randn({16, 3}, torch::kDouble);
    auto rowwise = [](const torch::Tensor& x) { return x * 2 + 1; };
    auto centred = [](const torch::Tensor& x) { return x - x.mean(0, true); };  // a batch statistic, as BN
    QCOMPARE(maxDiff(mocoShuffledKeys(centred, full, 5), centred(full)), 0.0);  // one process: no shuffle
    std::vector<torch::Tensor> byRow(2), byBatch(2);
    asRanks(2, [&](DistGroup& g) {
      const auto mine = full.narrow(0, g.rank() * 8, 8);
      StepGroupScope scope(&g, false);
      byRow[g.rank()] = mocoShuffledKeys(rowwise, mine, 5);
      byBatch[g.rank()] = mocoShuffledKeys(centred, mine, 5);
    });
    QCOMPARE(maxDiff(torch::cat(byRow), rowwise(full)), 0.0);  // every key back at its own row
    // view - key is the mean of the sub-batch the view was encoded in: two values, eight rows each,
    // and rank 0's views were spread over both sub-batches.
    const auto means = full - torch::cat(byBatch);
    int first = 0, firstOfRank0 = 0;
    int64_t other = -1;
    for (int64_t i = 0; i < 16; ++i) {
      if (maxDiff(means[i], means[0]) < 1e-12) {
        ++first;
        firstOfRank0 += i < 8;
      } else {
        if (other < 0) other = i;
        QVERIFY(maxDiff(means[i], means[other]) < 1e-12);
      }
    }
    QCOMPARE(first, 8);
    QVERIFY2(firstOfRank0 > 0 && firstOfRank0 < 8, "the shuffle kept rank 0's views together");
    const auto own = torch::cat({centred(full.narrow(0, 0, 8)), centred(full.narrow(0, 8, 8))});
    QVERIFY(maxDiff(torch::cat(byBatch), own) > 1e-3);
  }

  // Synchronised batch norm over two ranks of 6 = PyTorch's batch norm over the 12: outputs,
  // input and weight gradients, running statistics.
  void syncBatchNormMatchesTheWholeBatch() {
    torch::manual_seed(2);
    auto full = torch::randn({12, 3, 4, 4}) * 2 + 1;
    auto upstream = torch::randn({12, 3, 4, 4});
    SyncableBatchNorm2d ref(3);
    ref->weight.data().uniform_(0.5, 1.5);
    auto x = full.clone().requires_grad_(true);
    auto y = ref->forward(x);
    (y * upstream).sum().backward();
    std::vector<torch::Tensor> outs(2), inGrads(2), weightGrads(2), means(2);
    asRanks(2, [&](DistGroup& g) {
      SyncableBatchNorm2d bn(3);
      {
        torch::NoGradGuard ng;
        bn->weight.copy_(ref->weight);
      }
      const int64_t r = g.rank();
      auto mine = full.narrow(0, r * 6, 6).clone().requires_grad_(true);
      torch::Tensor out;
      {
        StepGroupScope scope(&g, true);
        out = bn->forward(mine);
      }
      (out * upstream.narrow(0, r * 6, 6)).sum().backward();
      outs[r] = out.detach();
      inGrads[r] = mine.grad();
      weightGrads[r] = bn->weight.grad().clone();
      means[r] = bn->running_mean.clone();
      TORCH_CHECK(torch::allclose(bn->running_var, ref->running_var, 1e-5, 1e-6), "running_var differs");
    });
    QVERIFY(maxDiff(torch::cat(outs), y) < 1e-5);
    QVERIFY(maxDiff(torch::cat(inGrads), x.grad()) < 1e-5);
    // Each rank's weight gradient is its share; their sum (the all-reduce) is the whole batch's.
    QVERIFY(maxDiff(weightGrads[0] + weightGrads[1], ref->weight.grad()) < 1e-4);
    QVERIFY(maxDiff(means[0], ref->running_mean) < 1e-6 && maxDiff(means[1], ref->running_mean) < 1e-6);
  }

  // An encoder with batch norm (channels-last, as the trainer runs it): two ranks of half the
  // batch, batch norm synchronised and gradients averaged, get one process's gradient.
  void encoderGradientMatchesOneProcess() {
    auto gen = at::detail::createCPUGenerator(3);
    auto images = torch::rand({16, 1, 28, 28}, gen);
    auto build = [] {
      auto net = makeBackbone(BackboneOptions().name("convnet").width(8).inChannels(1).imageSize(28));
      auto g = at::detail::createCPUGenerator(4);
      torch::NoGradGuard ng;
      for (auto& p : net->parameters()) p.copy_(torch::randn(p.sizes(), g) * 0.3);
      useChannelsLast(*net);
      return net;
    };
    auto one = build();
    one->forward(images.contiguous(at::MemoryFormat::ChannelsLast)).pow(2).mean().backward();
    std::vector<torch::Tensor> expected;
    for (auto& p : one->parameters()) expected.push_back(p.grad().reshape({-1}));
    std::vector<torch::Tensor> got(2);
    asRanks(2, [&](DistGroup& g) {
      auto net = build();
      auto group = std::shared_ptr<DistGroup>(&g, [](DistGroup*) {});
      GradientSync sync(net->parameters(), group);
      auto mine = images.narrow(0, g.rank() * 8, 8).contiguous(at::MemoryFormat::ChannelsLast);
      torch::Tensor loss;
      {
        StepGroupScope scope(&g, true);
        loss = net->forward(mine).pow(2).mean();
      }
      loss.backward();
      sync.finish();
      std::vector<torch::Tensor> flat;
      for (auto& p : net->parameters()) flat.push_back(p.grad().reshape({-1}));
      got[g.rank()] = torch::cat(flat);
    });
    const auto want = torch::cat(expected);
    QVERIFY(torch::equal(got[0], got[1]));
    const double rel = maxDiff(got[0], want) / want.abs().max().item<double>();
    QVERIFY2(rel < 1e-5, qPrintable(QString("relative gradient difference %1").arg(rel)));
  }

  // The bucketed gradient all-reduce: after finish() every rank holds the mean of the ranks'
  // gradients, parameters without a gradient get zeros, and buckets start during backward.
  void gradientSyncAveragesAcrossRanks() {
    // The same weights on every rank, drawn from a generator of their own (the ranks are threads).
    auto makeNet = [] {
      torch::nn::Sequential net(torch::nn::Linear(6, 16), torch::nn::ReLU(), torch::nn::Linear(16, 3));
      auto gen = at::detail::createCPUGenerator(5);
      torch::NoGradGuard ng;
      for (auto& p : net->parameters()) p.copy_(torch::randn(p.sizes(), gen));
      return net;
    };
    std::vector<torch::Tensor> results(2);
    int64_t buckets = 0, overlapped = 0;
    asRanks(2, [&](DistGroup& g) {
      auto net = makeNet();
      auto unused = torch::zeros({4}, torch::requires_grad());
      // The unused parameter comes last in the backward order (first in registration order), so
      // the other buckets can start while the backward pass runs.
      std::vector<torch::Tensor> params{unused};
      for (auto& p : net->parameters()) params.push_back(p);
      auto group = std::shared_ptr<DistGroup>(&g, [](DistGroup*) {});
      GradientSync sync(params, group, /*bucketBytes=*/64 * 4);  // several buckets
      auto gen = at::detail::createCPUGenerator(10 + g.rank());
      for (int step = 0; step < 2; ++step) {
        for (auto& p : params) p.mutable_grad() = torch::Tensor();
        net->forward(torch::randn({5, 6}, gen)).pow(2).mean().backward();
        sync.finish();
      }
      TORCH_CHECK(torch::equal(unused.grad(), torch::zeros({4})), "a parameter without gradient got one");
      if (g.rank() == 0) buckets = sync.buckets(), overlapped = sync.overlappedBuckets();
      std::vector<torch::Tensor> flat;
      for (auto& p : net->parameters()) flat.push_back(p.grad().reshape({-1}));
      results[g.rank()] = torch::cat(flat);
    });
    QVERIFY(buckets > 1);
    QVERIFY(overlapped > 0);
    QVERIFY(torch::equal(results[0], results[1]));
    // ... and that mean is the average of the two ranks' own gradients.
    std::vector<torch::Tensor> own;
    for (int r = 0; r < 2; ++r) {
      auto net = makeNet();
      auto gen = at::detail::createCPUGenerator(10 + r);
      torch::randn({5, 6}, gen);  // the first step's batch
      net->forward(torch::randn({5, 6}, gen)).pow(2).mean().backward();
      std::vector<torch::Tensor> flat;
      for (auto& p : net->parameters()) flat.push_back(p.grad().reshape({-1}));
      own.push_back(torch::cat(flat));
    }
    QVERIFY(maxDiff(results[0], (own[0] + own[1]) / 2) < 1e-6);
  }

  // Two processes with half the batch each reach the parameters that one process reaches with
  // the whole batch, for the methods whose loss spans the batch (SimCLR's negatives, Barlow
  // Twins' cross-correlation, MoCo's queue) and BYOL's target network, batch norm synchronised.
  void twoProcessesMatchOne_data() {
    QTest::addColumn<QString>("method");
    for (const char* m : {"simclr", "barlow", "moco", "byol", "drlim", "npid", "pirl"}) QTest::newRow(m) << m;
  }
  void twoProcessesMatchOne() {
    QFETCH(QString, method);
    QTemporaryDir tmp;
    const std::string m = method.toStdString();
    // One step compares the gradients; two also the state a step leaves (momentum, the EMA
    // target, the queue), where rounding grows faster.
    const int64_t steps = method == "moco" || method == "byol" || method == "npid" || method == "pirl" ? 2 : 1;
    const auto file = writeExperiment(tmp, tinyExperiment(m, steps), "e.json");
    const std::string one = tmp.filePath("one").toStdString(), two = tmp.filePath("two").toStdString();
    int code = 0;
    const QString single = test::runProgram(cli(), trainArgs(file, one), &code);
    QVERIFY2(code == 0, qPrintable(single));
    std::array<QString, 2> outputs;
    QVERIFY2(finishTwoRanks(startTwoRanks(this, file, two), outputs), qPrintable(outputs[0] + outputs[1]));
    QVERIFY2(outputs[0].contains("global batch 32 = 2 processes x 16"), qPrintable(outputs[0]));
    const std::string runOne = onlyRunIn(one), runTwo = onlyRunIn(two);
    QVERIFY2(!runTwo.empty(), "the two ranks wrote more or less than one run folder");
    const auto experiment = RunDirectory::open(runTwo).experiment();
    QCOMPARE(experiment.worldSize, int64_t(2));
    // Float rounding differs between one process and two (sums in other orders), and the
    // gradients of these tiny runs (no augmentation: the two views are the same image) are
    // sensitive to it: one process on 2 threads instead of 1 already ends 1e-4 to 1e-2 of the
    // distance travelled away. So the parameters are compared by how far each run moved them,
    // |two - one| / |one - init|, against that floor measured here; a real mismatch (per-process
    // batch norm, a gradient 1/W too small, negatives missing their cross-rank terms) is 0.3
    // and more.
    const double rel = relativeDivergence(runOne, runTwo);
    auto j2 = tinyExperiment(m, steps);
    j2["run"]["threads"] = 2;
    const auto twoThreads = writeExperiment(tmp, j2, "threads.json");
    const std::string floorDir = tmp.filePath("floor").toStdString();
    test::runProgram(cli(), trainArgs(twoThreads, floorDir), &code);
    QCOMPARE(code, 0);
    const double floor = relativeDivergence(runOne, onlyRunIn(floorDir));
    qInfo("%s, %lld step(s): two processes end %.2g apart from one; one process on 2 threads %.2g", m.c_str(),
          static_cast<long long>(steps), rel, floor);
    QVERIFY2(rel < 3 * floor + 1e-4,
             qPrintable(QString("%1: two processes ended %2 apart, more than rounding explains (%3)").arg(method).arg(rel).arg(floor)));
    // NPID's and PIRL's memory bank: rank 0's copy holds the rows of both ranks' images, as one
    // process's does (2 steps x 32 images = 64 rows moved), not only its own shard's 32.
    if (method == "npid" || method == "pirl") {
      auto a = loadRunSession(runOne), b = loadRunSession(runTwo);
      Session init = makeSession(a.experiment);
      auto bankOne = a.method->named_buffers()["memory_bank"], bankTwo = b.method->named_buffers()["memory_bank"];
      auto moved = (bankTwo - init.method->named_buffers()["memory_bank"]).abs().amax(1).gt(1e-6).sum().item<int64_t>();
      QCOMPARE(moved, int64_t(64));
      QVERIFY2(maxDiff(bankOne, bankTwo) < 1e-3, qPrintable(QString::number(maxDiff(bankOne, bankTwo))));
    }
    // The same run with batch norm per process is measurably different: the check can fail.
    if (method == "byol") {
      auto j = tinyExperiment(m, steps);
      j["run"]["sync_batch_norm"] = false;
      const auto unsynced = writeExperiment(tmp, j, "unsynced.json");
      const std::string three = tmp.filePath("three").toStdString();
      QVERIFY2(finishTwoRanks(startTwoRanks(this, unsynced, three), outputs), qPrintable(outputs[0] + outputs[1]));
      const double apart = relativeDivergence(runOne, onlyRunIn(three));
      qInfo("%s with batch norm per process: %.2g apart", m.c_str(), apart);
      QVERIFY2(apart > 0.1 && apart > 10 * (3 * floor + 1e-4),
               qPrintable(QString("batch norm per process: only %1 apart").arg(apart)));
    }
    // The metrics stream was written once, by rank 0: one row per step.
    std::ifstream csv(runTwo + "/metrics.csv");
    int lines = 0;
    for (std::string l; std::getline(csv, l);) ++lines;
    QCOMPARE(lines, int(steps) + 1);
  }

  // The real launcher: torchrun --no_python starts two ranks of pretext-cli on this machine.
  void torchrunLaunchesTwoRanks() {
    QTemporaryDir tmp;
    auto j = tinyExperiment("simclr", 4);
    j["run"]["log_every"] = 2;
    const auto file = writeExperiment(tmp, j, "e.json");
    const QString out = tmp.filePath("runs");
    int code = 0;
    const QString text = test::runProgram(
        "/usr/bin/python3",
        // --redirects 2 --tee 2: Debian 12's torchrun (1.13 on Python 3.11) fails on its own
        // default of 0 for both (its Std flag lookup finds no member for 0 under Python 3.11).
        {"-m", "torch.distributed.run", "--no_python", "--redirects", "2", "--tee", "2", "--nproc_per_node", "2", "--master_port",
         QString::number(freePort()), cli(), "train", QString::fromStdString(file), "--out", out, "--quiet"},
        &code);
    QVERIFY2(code == 0, qPrintable(text));
    QVERIFY2(text.contains("torchrun"), qPrintable(text));
    const std::string run = onlyRunIn(out.toStdString());
    QVERIFY(!run.empty());
    QCOMPARE(RunDirectory::open(run).experiment().worldSize, int64_t(2));
    QVERIFY(fs::exists(run + "/checkpoint.pt"));
  }

  // torchrun --max_restarts: rank 1 of the first attempt dies at step 7; the agent restarts the
  // job and the second attempt resumes the run the first one started (one folder, no step twice).
  void torchrunRestartResumesTheRun() {
    QTemporaryDir tmp;
    auto j = tinyExperiment("simclr", 12);
    j["run"]["checkpoint_every"] = 2;
    j["run"]["dist_timeout"] = 20;
    const auto file = writeExperiment(tmp, j, "e.json");
    const QString out = tmp.filePath("runs");
    qputenv("PRETEXT_CRASH_AT", "7:1");
    int code = 0;
    const QString text = test::runProgram(
        "/usr/bin/python3",
        {"-m", "torch.distributed.run", "--no_python", "--redirects", "2", "--tee", "2", "--nproc_per_node", "2",
         "--max_restarts", "1", "--master_port", QString::number(freePort()), cli(), "train",
         QString::fromStdString(file), "--out", out},
        &code);
    qunsetenv("PRETEXT_CRASH_AT");
    QVERIFY2(code == 0, qPrintable(text));
    QVERIFY2(text.contains("exiting at step 7"), qPrintable(text));
    QVERIFY2(text.contains("torchrun restart 1: resuming the run of attempt"), qPrintable(text));
    const std::string run = onlyRunIn(out.toStdString());  // one folder for both attempts
    QVERIFY(!run.empty());
    const auto state = RunDirectory::open(run).state();
    QCOMPARE(state.value("step", int64_t(0)), int64_t(12));
    QVERIFY(state.value("finished", false));
    std::ifstream csv(run + "/metrics.csv");
    std::string line;
    std::getline(csv, line);  // header
    int64_t previous = 0;
    while (std::getline(csv, line)) {
      const int64_t step = std::stoll(line.substr(0, line.find(',')));
      QVERIFY2(step == previous + 1, line.c_str());  // every step once, in order
      previous = step;
    }
    QCOMPARE(previous, int64_t(12));
  }

  // kill -9 of rank 1: rank 0 stops within the timeout and names it; the run, whose last
  // checkpoint is whole, resumes on one process and finishes.
  void deadRankIsNamedAndTheRunResumes() {
    QTemporaryDir tmp;
    auto j = tinyExperiment("simclr", 400);
    j["run"]["dist_timeout"] = 30;
    const auto file = writeExperiment(tmp, j, "e.json");
    const std::string out = tmp.filePath("runs").toStdString();
    const auto [r0, r1] = startTwoRanks(this, file, out);
    // Wait for the first checkpoints, then kill rank 1 without warning.
    const auto t0 = std::chrono::steady_clock::now();
    std::string run;
    while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120)) {
      if (fs::exists(out) && !(run = onlyRunIn(out)).empty() && fs::exists(run + "/state.json")) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    QVERIFY2(!run.empty() && fs::exists(run + "/state.json"), "no checkpoint appeared");
    ::kill(static_cast<pid_t>(r1->processId()), SIGKILL);
    const auto killed = std::chrono::steady_clock::now();
    QVERIFY(r0->waitForFinished(60000));
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
    const QString text = QString::fromUtf8(r0->readAll());
    QVERIFY2(r0->exitCode() != 0, qPrintable(text));
    QVERIFY2(text.contains("rank 1"), qPrintable(text));
    QVERIFY2(took < 40, qPrintable(QString("rank 0 took %1 s to stop").arg(took)));
    r1->waitForFinished(5000);
    // The run resumes on one process from its last whole checkpoint.
    int code = 0;
    const QString resumed =
        test::runProgram(cli(), {"train", "--resume", QString::fromStdString(run), "--quiet"}, &code);
    QVERIFY2(code == 0, qPrintable(resumed));
    QVERIFY2(resumed.contains("resumes on 1"), qPrintable(resumed));
  }
};

PRETEXT_TEST_AREA(TestDistributed, "distributed")
#include "test_distributed.moc"
