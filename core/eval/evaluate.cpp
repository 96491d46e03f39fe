#include "core/eval/evaluate.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <mutex>

#include "core/train/trainer.h"
#include "core/util/error.h"

namespace pretext {

namespace {

// Keeps the global CPU generator's state across a scope: building a model or fine-tuning draws
// from it, and an evaluation made while training is paused must not change the training run.
class CpuRngGuard {
 public:
  CpuRngGuard() : gen_(at::detail::getDefaultCPUGenerator()) {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    state_ = gen_.get_state();
  }
  ~CpuRngGuard() {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    gen_.set_state(state_);
  }

 private:
  at::Generator gen_;
  at::Tensor state_;
};

// Restores the method's train/eval mode on the way out.
struct ModeGuard {
  Method& m;
  bool was;
  explicit ModeGuard(Method& method) : m(method), was(method.is_training()) {}
  ~ModeGuard() { m.train(was); }
};

// A fresh encoder of the session's architecture: untrained (seeded), or a copy of the trained
// one (fine-tuning modifies its encoder in place).
std::shared_ptr<Encoder> makeEncoder(const Session& s, bool copyWeights) {
  const auto& e = s.experiment;
  torch::manual_seed(e.seed);
  // The method's own encoder, built fresh: some methods wrap the backbone (colorization converts
  // RGB to the L channel itself), and the random-init baseline must see what the method sees.
  // For a plain backbone this draws the same weights as makeBackbone (the encoder is built first).
  auto enc = makeExperimentMethod(e, s.data.train)->encoder();
  enc->to(s.device);
  if (copyWeights) {
    torch::NoGradGuard noGrad;
    auto src = s.method->encoder();
    auto dstParams = enc->named_parameters();
    for (const auto& p : src->named_parameters()) dstParams[p.key()].copy_(p.value());
    auto dstBuffers = enc->named_buffers();
    for (const auto& b : src->named_buffers()) dstBuffers[b.key()].copy_(b.value());
  }
  return enc;
}

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", fraction * 100);
  return buf;
}

}  // namespace

std::string describeEvalSettings(const EvalRequest& r) {
  char buf[160];
  if (r.protocol == "knn") {
    std::snprintf(buf, sizeof buf, "k=%lld T=%g", static_cast<long long>(r.knn.k()),
                  r.knn.temperature());
  } else if (r.protocol == "linear") {
    std::snprintf(buf, sizeof buf, "L-BFGS wd=%g", r.linear.weightDecay());
  } else if (r.protocol == "finetune") {
    const std::string labels =
        r.finetune.perClass() > 0 ? std::to_string(r.finetune.perClass()) + " labels/class"
                                  : percent(r.finetune.fraction()) + " labels";
    const std::string length = r.finetune.steps() > 0
                                   ? std::to_string(r.finetune.steps()) + " steps"
                                   : std::to_string(r.finetune.epochs()) + " ep";
    std::snprintf(buf, sizeof buf, "%s, %lld frozen, %s", labels.c_str(),
                  static_cast<long long>(r.finetune.freezeStages()), length.c_str());
  } else {
    return r.protocol;
  }
  return buf;
}

EvalRecord evaluateSession(Session& s, const EvalRequest& req, const EvalProgress& progress) {
  if (req.protocol != "knn" && req.protocol != "linear" && req.protocol != "finetune")
    throw Error("evaluation protocol '" + req.protocol + "': expected knn, linear or finetune");
  const Dataset train = headOf(s.data.trainLabelled, req.trainLimit);
  const Dataset test = headOf(s.data.test, req.testLimit);
  if (!train.labelled() || !test.labelled())
    throw Error("the data (" + s.experiment.data +
                ") has no labels: kNN, linear probe and fine-tuning need a labelled data set (a transfer "
                "probe on another source: pretext-cli eval RUN --data fashion-mnist)");
  const auto started = std::chrono::steady_clock::now();
  auto say = [&](const std::string& stage, double f) {
    if (progress) progress(stage, f);
  };

  CpuRngGuard rng;
  ModeGuard mode(*s.method);
  s.method->eval();
  torch::NoGradGuard noGrad;

  EvalRecord rec;
  rec.method = s.experiment.method;
  rec.data = s.experiment.data;
  rec.protocol = req.protocol;
  rec.randomInit = req.randomInit;
  rec.settings = describeEvalSettings(req);
  rec.trainImages = train.size();
  rec.testImages = test.size();
  rec.classNames = test.classNames;
  const int64_t classes = test.numClasses();

  ProbeResult result;
  if (req.protocol == "finetune") {
    auto enc = makeEncoder(s, !req.randomInit);
    rec.trainImages = finetuneSubset(train.labels, classes, req.finetune).size(0);
    rec.labelsPerClass = req.finetune.perClass();
    say("fine-tuning", 0);
    torch::AutoGradMode grad(true);  // fineTune trains: undo the NoGradGuard above
    const bool byEpoch = req.finetune.steps() == 0;
    const int64_t stepsPerEpoch =
        std::max<int64_t>(1, rec.trainImages / std::min(req.finetune.batchSize(), rec.trainImages));
    result = fineTune(*enc, train, test, s.device, req.finetune,
                      [&](int64_t done, int64_t total, double loss) {
                        char buf[96];
                        if (byEpoch)
                          std::snprintf(buf, sizeof buf, "fine-tuning: epoch %lld/%lld, loss %.3f",
                                        static_cast<long long>(done / stepsPerEpoch),
                                        static_cast<long long>(total / stepsPerEpoch), loss);
                        else
                          std::snprintf(buf, sizeof buf, "fine-tuning: step %lld/%lld, loss %.3f",
                                        static_cast<long long>(done),
                                        static_cast<long long>(total), loss);
                        say(buf, double(done) / double(std::max<int64_t>(1, total)));
                      });
  } else {
    // The random-init baseline: the same method built fresh (seeded), its features() the same
    // function of the image as the trained one's (an input conversion, a rescale), untrained.
    std::shared_ptr<Method> fresh;
    if (req.randomInit) {
      torch::manual_seed(s.experiment.seed);
      fresh = makeExperimentMethod(s.experiment, s.data.train);
      fresh->to(s.device);
      fresh->eval();
    }
    EncodeFn encode = [&](const torch::Tensor& x) {
      return fresh ? fresh->features(x) : s.method->features(x);
    };
    const double total = double(train.size() + test.size());
    auto trainF = extractFeatures(encode, train, s.device, 512, [&](int64_t done, int64_t) {
      say("features of the training images", 0.9 * double(done) / total);
    });
    auto testF = extractFeatures(encode, test, s.device, 512, [&](int64_t done, int64_t) {
      say("features of the test images", 0.9 * double(train.size() + done) / total);
    });
    if (req.protocol == "knn") {
      say("kNN vote", 0.9);
      result = knnClassify(trainF, train.labels, testF, test.labels, classes, req.knn);
    } else {
      say("fitting the linear probe", 0.9);
      torch::AutoGradMode grad(true);  // the L-BFGS solver needs gradients
      result = linearProbe(trainF, train.labels, testF, test.labels, classes, req.linear);
    }
  }
  rec.top1 = result.top1;
  rec.top5 = result.top5;
  if (result.confusion.defined()) {
    auto c = result.confusion.to(torch::kCPU, torch::kLong).contiguous();
    rec.confusion.assign(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  }
  rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  rec.time = utcTimestamp();
  say("done", 1);
  return rec;
}

}  // namespace pretext
