#include "core/train/trainer.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <set>
#include <sstream>
#include <vector>

#include "core/augment/augment.h"
#include "core/data/prefetcher.h"
#include "core/data/sampler.h"
#include "core/dist/gradient_sync.h"
#include "core/dist/launch_env.h"
#include "core/dist/process_group.h"
#include "core/dist/step_group.h"
#include "core/eval/probes.h"
#include "core/interop/import_run.h"
#include "core/methods/registry.h"
#include "core/train/checkpoint.h"
#include "core/train/finite_check.h"
#include "core/train/optim.h"
#include "core/train/run_dir.h"
#include "core/util/device.h"
#include "core/util/error.h"
#include "core/util/seed.h"
#include "core/util/threads.h"

namespace pretext {

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string errorText(const std::exception& e) {
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

}  // namespace

double embeddingSpread(const StepEvent& e) {
  for (const auto& [name, value] : e.metrics)
    if (name == "emb_std") return embeddingSpread(value, e.embeddingDim);
  return -1;
}

bool usesAutocast(const Experiment& e, const c10::Device& device) {
  return e.precision == "bf16" || (e.precision == "auto" && device.is_cuda());
}

AutocastScope::AutocastScope(bool on, const c10::Device& device)
    : on_(on), cuda_(device.is_cuda()) {
  if (!on_) return;
  if (cuda_) {
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
}

AutocastScope::~AutocastScope() {
  if (!on_) return;
  if (cuda_)
    at::autocast::set_enabled(false);
  else
    at::autocast::set_cpu_enabled(false);
  at::autocast::clear_cache();
}

Session makeSession(const Experiment& e) {
  configureThreads(static_cast<int>(e.threads));
  Session s;
  s.experiment = e;
  s.device = resolveDevice(e.device);
  s.data = loadData(e.data, DataOptions().imageSize(e.imageSize).limit(e.dataLimit).seed(e.seed)
                                .clipFrames(e.clipFrames).clipStride(e.clipStride));
  if (s.data.train.size() == 0) throw Error("data.source = \"" + e.data + "\": no training images");
  torch::manual_seed(e.seed);
  s.method = makeExperimentMethod(e, s.data.train);
  s.method->to(s.device);
  // cuDNN times its convolution algorithms once per shape and keeps the fastest (the shapes of
  // a run do not change from step to step).
  if (s.device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
  return s;
}

std::shared_ptr<Method> makeExperimentMethod(const Experiment& e, const Dataset& train) {
  MethodSetup setup;
  setup.params = e.methodParams;
  setup.backbone = backboneOptionsOf(e, train.channels() / train.frames, train.height());
  setup.numClasses = train.labelled() ? train.numClasses() : 0;
  setup.channels = train.channels() / train.frames;
  setup.frames = train.frames;
  setup.imageSize = train.height();
  setup.trainImages = train.size();
  auto method = makeMethod(e.method, setup);
  // Not for a ViT: its one convolution is the patch embedding (1 or 3 input channels, stride =
  // kernel), and mae-fashion's step measured 0.87-0.88x in NHWC in two runs: no gain.
  if (e.channelsLast && setup.backbone.name() != "vit") useChannelsLast(*method);
  return method;
}

Session loadRunSession(const std::string& runDir) {
  const RunDirectory run = RunDirectory::open(runDir);
  if (!run.hasCheckpoint())
    throw Error(runDir + ": the run has no checkpoint.pt yet (it stopped before its first checkpoint)");
  Session s = makeSession(run.experiment());
  loadCheckpoint(run, *s.method, nullptr, s.device);
  return s;
}

int64_t plannedSteps(const Experiment& e, int64_t trainImages) {
  if (e.steps > 0) return e.steps;
  if (e.batchSize <= 0) return 0;
  return e.epochs * BatchSampler(trainImages, e.batchSize, e.seed).batchesPerEpoch();
}

Trainer::Trainer(Experiment experiment, TrainOptions options, TrainerEvents* events,
                 TrainControl* control)
    : experiment_(std::move(experiment)), options_(std::move(options)), events_(events),
      control_(control ? control : &ownControl_) {}

Trainer::~Trainer() = default;

std::string Trainer::run() {
  TrainerEvents silent;
  bool resuming = !options_.resumeDir.empty();
  std::unique_ptr<RunDirectory> run;
  if (resuming) {
    run = std::make_unique<RunDirectory>(RunDirectory::open(options_.resumeDir));
    experiment_ = run->experiment();
    // A run killed before its first checkpoint starts again from step 0 in its own folder.
  }
  // Distributed: the launcher's environment says where this process sits (one process: as
  // always). Rank 0 ("the lead") writes the run folder, the metrics, the checkpoints and the
  // log, and runs the online kNN and previews; every rank trains its shard of each global batch.
  const LaunchEnv launch = options_.distributedFromEnv ? readLaunchEnv() : LaunchEnv{};
  {
    const MethodInfo& info = MethodRegistry::instance().get(experiment_.method);
    if (!info.trainable)
      throw Error("method.name = \"" + experiment_.method + "\": " + info.title +
                  " cannot be trained (no training objective); to train from these weights, choose a "
                  "method and set model.init_from to the weights file");
    if (launch.distributed() && !info.dataParallel)
      throw Error("method.name = \"" + experiment_.method + "\": " + info.title + " runs an optimiser of its own "
                  "inside its step, which cannot be averaged over processes yet; train it on one process "
                  "(WORLD_SIZE is " + std::to_string(launch.worldSize) + ")");
  }
  std::shared_ptr<DistGroup> group;
  if (launch.distributed()) group = DistGroup::connect(launch, std::chrono::seconds(experiment_.distTimeout));
  // torchrun --max_restarts restarts the job with the same command line after a rank failed:
  // every rank then resumes the run that the previous attempt started, from its last checkpoint.
  std::string restartNote;
  if (group && !resuming) {
    const std::string previous = group->previousAttemptValue("run_dir");
    if (!previous.empty() && previous.rfind("error:", 0) != 0) {
      auto before = RunDirectory::open(previous);
      if (before.hasCheckpoint()) {
        run = std::make_unique<RunDirectory>(std::move(before));
        experiment_ = run->experiment();
        resuming = true;
        restartNote = "torchrun restart " + std::to_string(launch.restartCount) + ": resuming the run of attempt " +
                      std::to_string(launch.restartCount - 1);
      }
    }
  }
  const int64_t recordedWorld = experiment_.worldSize;
  experiment_.worldSize = launch.worldSize;
  const Experiment& e = experiment_;
  const bool lead = !group || group->rank() == 0;
  // The lead reports; the other ranks train in silence.
  TrainerEvents& events = events_ && lead ? *events_ : silent;
  std::vector<std::string> initNotes;
  try {
    session_ = std::make_unique<Session>(makeSession(e));
    // Before the run folder exists: weights that do not fit leave nothing behind.
    if (!(resuming && run->hasCheckpoint()) && !e.initFrom.empty())
      initNotes = initEncoderFrom(*session_->method, e, e.initFrom);
    if (!resuming && lead)
      run = std::make_unique<RunDirectory>(options_.runDir.empty()
                                               ? RunDirectory::create(options_.outDir, e)
                                               : RunDirectory::createAt(options_.runDir, e));
    // The run's folder for the other ranks, and for the next attempt after a restart.
    if (group && lead) group->storeSet("run_dir", run->path());
    if (!resuming && !lead) {
      const std::string dir = group->storeGet("run_dir");
      if (dir.rfind("error:", 0) == 0) throw Error("rank 0 could not start the run: " + dir.substr(6));
      run = std::make_unique<RunDirectory>(RunDirectory::open(dir));
    }
  } catch (const std::exception& ex) {
    if (group) {
      group->reportFailure(errorText(ex));
      if (lead && !resuming) group->storeSet("run_dir", "error:" + errorText(ex));
    }
    throw;
  }
  Session& s = *session_;

  auto log = [&](const std::string& line) {
    if (!lead) return;
    run->appendLog(line);
    events.onLog(line);
  };

  try {
    Method& method = *s.method;
    const AugmentOptions augment = augmentFromJson(e.augment, 0);
    Optimizer optimizer(method.trainableParameters(), e);
    BatchSampler sampler(s.data.train.size(), e.batchSize, e.seed);
    if (group) sampler.shard(group->rank(), group->worldSize());
    const int64_t perEpoch = sampler.batchesPerEpoch();
    if (perEpoch == 0)
      throw Error("schedule.batch_size = " + std::to_string(e.batchSize) + ": larger than the " +
                  std::to_string(s.data.train.size()) + " training images");
    const int64_t total = plannedSteps(e, s.data.train.size());
    const int64_t stopAt = options_.stepsOverride > 0 ? std::min(total, options_.stepsOverride) : total;
    const int64_t warmup = std::min<int64_t>(std::llround(e.warmupEpochs * perEpoch), total / 2);
    const bool autocast = usesAutocast(e, s.device);

    int64_t start = 0;
    EpochLossSoFar resumedEpochLoss;
    std::vector<std::string> resumeNotes;
    if (resuming) {
      if (run->hasCheckpoint())
        start = loadCheckpoint(*run, method, &optimizer, s.device, &resumedEpochLoss);
      else
        resumeNotes.push_back("no checkpoint yet (the run stopped before its first): starting again from step 0");
      if (lead) {
        if (run->hasCheckpoint()) writeCheckpointState(*run, method, start, start / perEpoch, start >= total);
        run->truncateMetrics(start);
        for (const auto& name : run->removeUnfinishedFiles())
          resumeNotes.push_back("removed " + name + ", left half-written by the interruption");
      }
    }
    std::unique_ptr<MetricsWriter> metrics;
    if (lead) metrics = std::make_unique<MetricsWriter>(*run, e.tensorboard);
    // Every rank starts from rank 0's weights and buffers; the gradients are averaged from here.
    std::unique_ptr<GradientSync> gradients;
    if (group) {
      broadcastModule(method, *group);
      gradients = std::make_unique<GradientSync>(method.trainableParameters(), group);
    }
    log("run " + run->path() + (resuming ? " resumed at step " + std::to_string(start) : ""));
    for (const auto& note : resumeNotes) log("note: " + note);
    if (!restartNote.empty()) log(restartNote);
    if (group) {
      std::ostringstream line;
      line << "distributed: " << launch.describe() << "; global batch " << e.batchSize << " = "
           << group->worldSize() << " processes x " << e.batchSize / group->worldSize()
           << "; batch norm " << (e.syncBatchNorm ? "synchronised over the global batch" : "per process")
           << "; gradients averaged in " << gradients->buckets() << " bucket(s), "
           << gradients->bytesPerStep() / 1024 << " KiB per step";
      log(line.str());
    }
    if (resuming && recordedWorld != launch.worldSize)
      log("note: the run trained on " + std::to_string(recordedWorld) + " process(es) and resumes on " +
          std::to_string(launch.worldSize) + ": the same parameters, global batch and batch order, but the "
          "augmentations draw differently from here on, so the losses will not match an uninterrupted run's");
    if (e.lrScaling != "none") {
      std::ostringstream line;
      line << "learning rate " << scaledLr(e) << " = optimizer.lr " << e.lr << " x "
           << (e.lrScaling == "linear" ? "" : "sqrt") << "(global batch " << e.batchSize << " / "
           << e.lrReferenceBatch << ") (optimizer.lr_scaling " << e.lrScaling << ")";
      log(line.str());
    }
    if (!(resuming && start > 0) && !e.initFrom.empty()) {
      log("encoder initialised from " + e.initFrom);
      for (const auto& n : initNotes) log("note: " + n);
    }
    log("device " + describeDevice(s.device) + (autocast ? ", bf16 autocast" : "") + ", method " +
        e.method + ", backbone " + e.backbone + " (" +
        std::to_string(method.encoder()->featureDim()) + "-d features), " +
        std::to_string(s.data.train.size()) + " training images, " + std::to_string(perEpoch) +
        " steps per epoch, " + std::to_string(total) + " steps");
    if (autocast && s.device.is_cpu() && cpuLacksNativeBf16())
      log("note: run.precision is bf16 but this CPU has no native bf16 (AVX512-BF16 or AMX): "
          "LibTorch emulates it, usually slower than fp32; set run.precision to auto for fp32");
    events.onStart({run->path(), describeDevice(s.device), start, total, perEpoch, s.data.train.size()});

    Prefetcher prefetcher(s.data.train, sampler, s.device, start, prefetchDepthFor(s.device));
    const Dataset knnTrain = headOf(s.data.trainLabelled, e.knnTrainLimit);
    const Dataset knnTest = headOf(s.data.test, e.knnTestLimit);
    const bool canKnn = e.knnEvery > 0 && knnTrain.labelled() && knnTest.labelled();

    // A distributed job's rows: the losses and metrics averaged over the ranks, img/s summed
    // (values[0] is the image count; the others are means).
    auto acrossRanks = [&](std::vector<double>& values) {
      if (!group) return;
      auto t = torch::tensor(values, torch::kDouble);
      group->allReduceSum(t);
      const double* r = t.data_ptr<double>();
      values[0] = r[0];
      for (size_t i = 1; i < values.size(); ++i) values[i] = r[i] / double(group->worldSize());
    };
    // Fault injection for the tests of failure and restart: PRETEXT_CRASH_AT=STEP:RANK makes
    // that rank of a distributed job's first attempt exit without a word when it reaches STEP.
    int64_t crashAt = -1, crashRank = 1;
    if (const char* c = std::getenv("PRETEXT_CRASH_AT"))
      if (std::sscanf(c, "%lld:%lld", reinterpret_cast<long long*>(&crashAt), reinterpret_cast<long long*>(&crashRank)) < 1)
        crashAt = -1;
    const auto t0 = Clock::now();
    // Two windows over the steps: metric rows every logEvery steps (the files), and step events
    // for the outside world, with the rows and, when eventInterval > 0, also every eventInterval
    // seconds (the window's live curves; on CPU the loss is read every step anyway).
    struct Window {
      torch::Tensor lossSum;
      std::vector<std::pair<std::string, torch::Tensor>> metricSums;
      int64_t steps = 0, images = 0;
      Clock::time_point since;
      void add(const StepResult& r, int64_t batchImages) {
        lossSum = lossSum.defined() ? lossSum + r.loss.detach() : r.loss.detach().to(torch::kDouble);
        if (metricSums.empty())
          for (auto& m : r.metrics) metricSums.emplace_back(m.first, m.second.detach().to(torch::kDouble));
        else
          for (size_t i = 0; i < metricSums.size() && i < r.metrics.size(); ++i)
            metricSums[i].second = metricSums[i].second + r.metrics[i].second.detach();
        ++steps;
        images += batchImages;
      }
      void reset(Clock::time_point now) {
        lossSum = torch::Tensor();
        metricSums.clear();
        steps = images = 0;
        since = now;
      }
    };
    Window rowWindow, eventWindow;
    rowWindow.since = eventWindow.since = t0;
    // The epoch's loss so far (a checkpoint in the middle of an epoch carries it over a resume).
    double epochLoss = resumedEpochLoss.sum;
    int64_t epochSteps = resumedEpochLoss.steps;
    // The losses of steps not yet read back (see TrainOptions::lossReadEvery): one read for
    // all of them, which names the first step whose loss is not finite.
    const int64_t lossReadEvery = options_.lossReadEvery > 0 ? options_.lossReadEvery
                                  : s.device.is_cuda()       ? 25
                                                             : 1;
    std::vector<torch::Tensor> unread;
    int64_t unreadFrom = 0;
    auto tEpoch = t0;
    int64_t done = start;
    int64_t lastSaved = start;
    bool stopped = false;

    // A NaN or an infinity stops the run, naming the step and the quantity, before it reaches
    // the weights or a checkpoint.
    auto stopNotFinite = [&](int64_t atStep, const std::string& what, const std::string& advice) {
      std::ostringstream msg;
      msg << "step " << atStep << ": " << what << "; the run stopped. ";
      if (run->hasCheckpoint())
        msg << "Its last good checkpoint (step " << lastSaved << ") is kept in " << run->file("checkpoint.pt")
            << ". ";
      msg << advice;
      throw Error(msg.str());
    };
    const std::string lowerLr = "Try a lower optimizer.lr (now " + std::to_string(e.lr) + ") or set optimizer.grad_clip.";
    auto readLosses = [&] {
      if (unread.empty()) return;
      const auto values = torch::stack(unread).to(torch::kCPU, torch::kDouble);
      const double* v = values.data_ptr<double>();
      for (size_t i = 0; i < unread.size(); ++i) {
        if (!std::isfinite(v[i])) {
          std::ostringstream what;
          what << "the loss is " << v[i];
          stopNotFinite(unreadFrom + static_cast<int64_t>(i) + 1, what.str(), lowerLr);
        }
        epochLoss += v[i];
        ++epochSteps;
      }
      unread.clear();
    };
    auto checkWeights = [&] {
      const std::string bad = firstNonFiniteTensor(method);
      if (!bad.empty())
        stopNotFinite(done, "the weights are not finite (" + bad + "), so no checkpoint was written", lowerLr);
    };
    // A metric that turns NaN or infinite is reported once (the loss may still be sound).
    std::set<std::string> nonFiniteMetrics;
    auto watchMetrics = [&](const StepEvent& se) {
      for (const auto& [name, value] : se.metrics)
        if (!std::isfinite(value) && nonFiniteMetrics.insert(name).second) {
          std::ostringstream line;
          line << "warning: step " << se.step << ": the metric " << name << " is " << value
               << " (reported once; the loss is finite and training goes on)";
          log(line.str());
        }
    };
    auto summarise = [&](Window& w, int64_t epoch, double lr, Clock::time_point now, bool reduce) {
      // images, loss, then the metrics
      std::vector<double> sums{double(w.images), w.lossSum.item<double>()};
      for (auto& m : w.metricSums) sums.push_back(m.second.item<double>());
      if (reduce) acrossRanks(sums);
      StepEvent se;
      se.step = done;
      se.totalSteps = total;
      se.epoch = epoch;
      se.epochFloat = double(done) / double(perEpoch);
      se.loss = sums[1] / double(w.steps);
      se.lr = lr;
      se.imgPerSec = sums[0] / std::max(1e-9, seconds(w.since, now));
      se.wallSeconds = seconds(t0, now);
      se.etaSeconds = se.wallSeconds / double(done - start) * double(stopAt - done);
      for (size_t i = 0; i < w.metricSums.size(); ++i)
        se.metrics.emplace_back(w.metricSums[i].first, sums[2 + i] / double(w.steps));
      se.embeddingDim = method.embeddingDim();
      w.reset(now);
      return se;
    };
    // Collapse monitoring: say it once when the embeddings shrink to a point, and when they recover.
    CollapseWatch collapse;
    auto watchCollapse = [&](const StepEvent& se) {
      const double spread = embeddingSpread(se);
      const auto change = collapse.update(se.step, spread);
      std::ostringstream line;
      line.precision(3);
      if (change == CollapseWatch::Change::Collapsed) {
        line << "warning: step " << se.step << ": the embeddings are collapsing (std of the "
             << "normalised embeddings " << spread / std::sqrt(double(se.embeddingDim))
             << ", healthy about " << 1 / std::sqrt(double(se.embeddingDim)) << " = 1/sqrt("
             << se.embeddingDim << ")); the features will carry little information";
        log(line.str());
      } else if (change == CollapseWatch::Change::Recovered) {
        line << "step " << se.step << ": the embeddings spread out again (std x sqrt(D) = " << spread << ")";
        log(line.str());
      }
    };
    auto onlineKnn = [&](int64_t epoch) {
      method.eval();
      auto encode = [&](const torch::Tensor& x) { return method.features(x); };
      auto trainF = extractFeatures(encode, knnTrain, s.device);
      auto testF = extractFeatures(encode, knnTest, s.device);
      method.train();
      auto r = knnClassify(trainF, knnTrain.labels, testF, knnTest.labels, knnTest.numClasses(),
                           KnnOptions().k(e.knnK).temperature(e.knnTemperature));
      metrics->eval(done, epoch, "knn", r.top1);
      events.onEvaluation({epoch, done, "knn", r.top1});
      std::ostringstream line;
      line << "epoch " << epoch + 1 << ": online kNN top-1 " << r.top1 << "% (" << knnTrain.size()
           << " train / " << knnTest.size() << " test images)";
      log(line.str());
    };

    method.attachTrainingSet(s.data.train);
    for (int64_t step = start; step < stopAt; ++step) {
      if (!control_->waitToProceed()) {
        stopped = true;
        break;
      }
      if (crashAt == step && group && group->rank() == crashRank && launch.restartCount == 0) {
        std::fprintf(stderr, "rank %lld: PRETEXT_CRASH_AT: exiting at step %lld\n",
                     static_cast<long long>(crashRank), static_cast<long long>(step));
        std::_Exit(3);
      }
      if (step % perEpoch == 0) {
        // Work on the whole training set before the epoch (DeepCluster's clustering); every rank
        // draws the same randomness for it.
        auto epochGen = at::detail::createCPUGenerator(mixSeed(e.seed, 0xE90C0000ull + uint64_t(step / perEpoch)));
        const std::string note = method.beginEpoch({&s.data.train, s.device, step / perEpoch, &epochGen});
        if (!note.empty()) log(note);
      }
      Batch batch = prefetcher.next();
      const int64_t epoch = step / perEpoch;
      const double lr = scheduledLr(scaledLr(e), step, total, warmup, e.lrSchedule == "cosine");
      optimizer.setLr(lr);
      // Each rank draws its own augmentations (one process: the stream it always drew).
      const uint64_t stepSeed = mixSeed(e.seed, static_cast<uint64_t>(step));
      auto gen = at::detail::createCPUGenerator(group ? mixSeed(stepSeed, 1000 + uint64_t(group->rank())) : stepSeed);
      // The draws that must not depend on the number of ranks (StepContext::shared).
      auto sharedGen = at::detail::createCPUGenerator(mixSeed(stepSeed, 0x5A4ED));
      StepContext ctx{step, epoch, double(step) / double(total), &gen, &augment, &sharedGen};
      method.train();
      optimizer.zeroGrad();
      StepResult result;
      {
        AutocastScope scope(autocast, s.device);
        StepGroupScope ranks(group.get(), e.syncBatchNorm);
        result = method.step(batch, ctx);
      }
      if (unread.empty()) unreadFrom = step;
      unread.push_back(result.loss.detach().reshape({}));
      // Every step on CPU: a NaN is caught before its backward pass touches the weights.
      if (static_cast<int64_t>(unread.size()) >= lossReadEvery) readLosses();
      result.loss.backward();
      if (gradients) gradients->finish();
      if (lossReadEvery == 1) {
        const std::string bad = firstNonFiniteGradient(method);
        if (!bad.empty())
          stopNotFinite(step + 1, "the gradient of " + bad + " is not finite, while the loss is",
                        "The loss's backward pass divides by zero somewhere (the norm of an all-zero vector, "
                        "a square root or logarithm at 0); the weights were not updated with it. " + lowerLr);
      }
      optimizer.step();
      method.afterStep(ctx);
      done = step + 1;

      rowWindow.add(result, batch.images.size(0));
      eventWindow.add(result, batch.images.size(0));

      const bool epochEnd = done % perEpoch == 0;
      const bool row = done % e.logEvery == 0 || done == stopAt || epochEnd;
      const auto now = Clock::now();
      if (row) {
        readLosses();  // an epoch's end is a row too
        const bool same = eventWindow.steps == rowWindow.steps;
        StepEvent se = summarise(rowWindow, epoch, lr, now, /*reduce=*/true);
        if (metrics) metrics->step(done, se.epochFloat, se.loss, lr, se.imgPerSec, se.wallSeconds, se.metrics);
        if (!same) se = summarise(eventWindow, epoch, lr, now, false);
        eventWindow.reset(now);
        watchCollapse(se);
        watchMetrics(se);
        events.onStep(se);
      } else if (!group && options_.eventInterval > 0 && seconds(eventWindow.since, now) >= options_.eventInterval) {
        events.onStep(summarise(eventWindow, epoch, lr, now, false));
      }
      if (epochEnd) {
        const auto now = Clock::now();
        std::vector<double> sums{double(epochSteps), epochLoss};
        acrossRanks(sums);  // the mean over ranks of each rank's epoch loss
        const double mean = sums[1] / double(std::max<int64_t>(1, epochSteps));
        if (metrics) metrics->epoch(epoch, done, mean, seconds(tEpoch, now));
        events.onEpoch({epoch, done, mean, seconds(tEpoch, now)});
        std::ostringstream line;
        line << "epoch " << epoch + 1 << " done: mean loss " << mean << ", " << seconds(tEpoch, now) << " s";
        log(line.str());
        epochLoss = 0;
        epochSteps = 0;
        tEpoch = now;
        if (lead && canKnn && (epoch + 1) % e.knnEvery == 0) onlineKnn(epoch);
        if (lead && events.wantsPreviews()) {
          torch::NoGradGuard ng;
          method.eval();
          auto pgen = at::detail::createCPUGenerator(mixSeed(e.seed, 7));
          auto images = s.data.test.images.slice(0, 0, method.previewImageCount()).to(s.device).to(torch::kFloat).div(255);
          events.onPreviews(done, method.previews(images, pgen, {}));
          method.train();
        }
      }
      if ((e.checkpointEvery > 0 && done % e.checkpointEvery == 0) ||
          (e.checkpointEvery == 0 && epochEnd)) {
        readLosses();
        checkWeights();
        if (lead) saveCheckpoint(*run, method, optimizer, done, done / perEpoch, done == total, {epochLoss, epochSteps});
        lastSaved = done;
      }
    }
    readLosses();
    if (lastSaved != done || !run->hasCheckpoint()) {
      checkWeights();
      if (lead) saveCheckpoint(*run, method, optimizer, done, done / perEpoch, done == total, {epochLoss, epochSteps});
      lastSaved = done;
    }
    // No rank leaves while another may still need it (the lead's last checkpoint is whole).
    if (group) group->barrier();
    const double wall = seconds(t0, Clock::now());
    std::ostringstream line;
    line << (stopped ? "stopped" : "finished") << " at step " << done << " of " << total << " after "
         << wall << " s";
    if (group && gradients) {
      std::ostringstream comm;
      comm.precision(3);
      comm << "communication: " << gradients->waitSeconds() << " s waiting for gradients after the backward "
           << "passes (" << 100.0 * gradients->waitSeconds() / std::max(1e-9, wall) << "% of the run); "
           << gradients->overlappedBuckets() << " bucket all-reduces started during the backward pass";
      log(comm.str());
    }
    log(line.str());
    events.onFinished({run->path(), done, wall, stopped || done < total});
    return run->path();
  } catch (const std::exception& ex) {
    std::string msg = errorText(ex);
    if (!group && lead && run->hasCheckpoint() && msg.find("last good checkpoint") == std::string::npos)
      msg += ". The run's last checkpoint is whole: once the cause is fixed, resume it with pretext-cli train "
             "--resume " + run->path();
    if (group) {
      group->reportFailure(msg);
      if (run->hasCheckpoint())
        msg += " The run's last checkpoint is whole: resume it with pretext-cli train --resume " + run->path() +
               " (on this many processes or any other; torchrun --max_restarts does it by itself)";
    }
    log("error: " + msg);
    events.onFailed(msg);
    throw Error(group && !lead ? "rank " + std::to_string(group->rank()) + ": " + msg : msg);
  }
}

}  // namespace pretext
