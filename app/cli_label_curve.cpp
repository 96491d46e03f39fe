#include "app/cli_label_curve.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "core/eval/evaluate.h"
#include "core/train/run_dir.h"
#include "core/train/trainer.h"
#include "core/util/device.h"
#include "core/util/error.h"

namespace pretext {

using json = nlohmann::json;

namespace {

std::string cell(double v) {
  if (std::isnan(v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << v;
  return s.str();
}

}  // namespace

void printLabelCurve(const std::vector<LabelCurvePoint>& curve, int64_t classes, std::ostream& out) {
  out << std::left << std::setw(14) << "labels/class" << std::right << std::setw(8) << "images"
      << std::setw(18) << "self-supervised" << std::setw(14) << "from scratch" << std::setw(10)
      << "gain" << "\n";
  for (const auto& p : curve) {
    const double gain = p.trained - p.scratch;
    std::string g = cell(gain);
    if (!std::isnan(gain) && gain >= 0) g = "+" + g;
    out << std::left << std::setw(14) << p.labelsPerClass << std::right << std::setw(8)
        << p.labelsPerClass * classes << std::setw(18) << cell(p.trained) << std::setw(14)
        << cell(p.scratch) << std::setw(10) << g << "\n";
  }
  out << "(top-1 % on the test set after fine-tuning the whole network and a new linear layer; "
         "images = labels/class x "
      << classes << " classes)\n";
}

int cmdLabelCurve(const LabelCurveArgs& a) {
  LabelCurveOptions o;
  o.labelsPerClass = parseLabelCounts(a.labels);
  o.steps = a.steps;
  o.freezeStages = a.freeze;
  o.fromScratch = !a.noScratch;
  return runLabelCurve(a.run, o, a.asJson, a.quiet);
}

int runLabelCurve(const std::string& runDir, const LabelCurveOptions& o, bool asJson, bool quiet) {
  validateLabelCurve(o);
  const RunDirectory folder = RunDirectory::open(runDir);
  const json state = folder.state();
  const int64_t step = state.is_object() ? state.value("step", int64_t(0)) : 0;
  Session s = loadRunSession(runDir);
  if (!s.data.trainLabelled.labelled() || !s.data.test.labelled())
    throw Error(runDir + ": the run's data (" + s.experiment.data +
                ") has no labels to fine-tune on; the label curve needs a labelled data set");
  const int64_t classes = s.data.test.numClasses();
  const auto requests = labelCurveRequests(o, s.experiment.seed);
  const bool talk = !asJson;
  if (talk)
    std::cout << "label curve of " << runDir << " (" << s.experiment.method << ", step " << step
              << "): " << requests.size() << " fine-tunings of " << o.steps << " steps on "
              << describeDevice(s.device) << std::endl;
  std::vector<EvalRecord> done;
  for (size_t i = 0; i < requests.size(); ++i) {
    const EvalRequest& r = requests[i];
    const std::string what = std::to_string(r.finetune.perClass()) + " labels/class, " +
                             (r.randomInit ? "from scratch" : "self-supervised");
    auto last = std::chrono::steady_clock::now();
    EvalRecord rec = evaluateSession(s, r, [&](const std::string& stage, double) {
      const auto now = std::chrono::steady_clock::now();
      if (!talk || quiet || now - last < std::chrono::seconds(5)) return;
      last = now;
      std::cout << "  [" << i + 1 << "/" << requests.size() << "] " << what << ": " << stage << std::endl;
    });
    rec.run = runDir;
    rec.step = r.randomInit ? 0 : step;
    appendEvalRecord(runDir, rec);
    done.push_back(rec);
    if (talk)
      std::cout << "[" << i + 1 << "/" << requests.size() << "] " << what << ": top-1 " << std::fixed
                << std::setprecision(2) << rec.top1 << "% (" << std::setprecision(1) << rec.seconds
                << " s)" << std::endl;
  }
  const auto curve = labelCurveFromRecords(done);
  if (asJson) {
    json points = json::array();
    for (const auto& p : curve) {
      json j{{"labels_per_class", p.labelsPerClass}, {"images", p.labelsPerClass * classes}};
      if (!std::isnan(p.trained)) j["trained_top1"] = p.trained;
      if (!std::isnan(p.scratch)) j["scratch_top1"] = p.scratch;
      points.push_back(j);
    }
    std::cout << json{{"run", runDir}, {"method", s.experiment.method}, {"step", step},
                      {"steps", o.steps}, {"frozen_stages", o.freezeStages}, {"points", points}}
                     .dump()
              << "\n";
  } else {
    std::cout << "\n";
    printLabelCurve(curve, classes, std::cout);
    std::cout << "(saved in " << evalResultsPath(runDir) << "; the window's Evaluation panel plots it)\n";
  }
  return 0;
}

}  // namespace pretext
