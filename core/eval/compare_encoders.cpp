#include "core/eval/compare_encoders.h"

#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>
#include <mutex>
#include <sstream>

#include "core/eval/cka.h"
#include "core/models/backbone.h"
#include "core/train/trainer.h"
#include "core/util/error.h"

namespace pretext {

namespace {

// Inspection switches the method to eval mode (batch norm's running statistics) for its scope.
struct CompareEvalMode {
  Method& method;
  bool was;
  explicit CompareEvalMode(Method& m) : method(m), was(m.is_training()) { method.eval(); }
  ~CompareEvalMode() { method.train(was); }
};

// The global CPU generator's state, restored at the end of the scope (building a random init
// draws from it, and a training run in the same process must not notice).
struct CompareKeepGlobalRandomState {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  at::Tensor state;
  CompareKeepGlobalRandomState() {
    std::lock_guard<std::mutex> lock(gen.mutex());
    state = gen.get_state();
  }
  ~CompareKeepGlobalRandomState() {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
};

LayerGrams gramsOf(Method& method, const torch::Tensor& images, torch::Device device) {
  CompareEvalMode mode(method);
  return encoderLayerGrams(*method.encoder(), images, device);
}

EncoderComparison compareGrams(const LayerGrams& a, const LayerGrams& b, std::string partner, int64_t n) {
  EncoderComparison c;
  c.partner = std::move(partner);
  c.layersA = a.names;
  c.layersB = b.names;
  c.cka = ckaMatrix(a, b);
  c.images = n;
  return c;
}

}  // namespace

torch::Tensor comparisonImages(const Session& session, int64_t images) {
  const Dataset& test = session.data.test;
  if (test.size() < 2)
    throw Error("comparing encoders needs at least 2 test images; the data \"" + session.experiment.data +
                "\" has " + std::to_string(test.size()));
  return test.images.slice(0, 0, std::clamp<int64_t>(images, 2, test.size()));
}

EncoderComparison compareWithItself(Session& session, int64_t images) {
  auto x = comparisonImages(session, images);
  auto g = gramsOf(*session.method, x, session.device);
  return compareGrams(g, g, "itself", x.size(0));
}

EncoderComparison compareWithRandomInit(Session& session, int64_t images) {
  auto x = comparisonImages(session, images);
  auto trained = gramsOf(*session.method, x, session.device);
  std::shared_ptr<Method> init;
  {
    CompareKeepGlobalRandomState keep;
    torch::manual_seed(session.experiment.seed);
    init = makeExperimentMethod(session.experiment, session.data.train);
  }
  init->to(session.device);
  return compareGrams(trained, gramsOf(*init, x, session.device), "its random init", x.size(0));
}

EncoderComparison compareWithRun(Session& session, const std::string& otherRunDir, int64_t images) {
  auto x = comparisonImages(session, images);
  // The other run as it was trained (its own data: a memory bank or a classifier is sized by it).
  Session other = [&] {
    CompareKeepGlobalRandomState keep;
    return loadRunSession(otherRunDir);
  }();
  const auto& shape = other.data.train.images;
  if (shape.size(1) != x.size(1) || shape.size(2) != x.size(2) || shape.size(3) != x.size(3)) {
    std::ostringstream msg;
    msg << otherRunDir << " trained on " << shape.size(1) << "-channel " << shape.size(2) << "x" << shape.size(3)
        << " images (\"" << other.experiment.data << "\"), but this session's test images are " << x.size(1)
        << "-channel " << x.size(2) << "x" << x.size(3) << ": CKA compares two encoders on the same images, so "
        << "compare runs trained on data of one shape";
    throw Error(msg.str());
  }
  other.data = DataSplits();  // only the encoder is needed from here on
  other.method->to(session.device);
  auto mine = gramsOf(*session.method, x, session.device);
  return compareGrams(mine, gramsOf(*other.method, x, session.device), otherRunDir, x.size(0));
}

}  // namespace pretext
