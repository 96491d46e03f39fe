#include "core/eval/label_curve.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "core/eval/evaluate.h"
#include "core/util/error.h"

namespace pretext {

std::vector<int64_t> parseLabelCounts(const std::string& text) {
  std::vector<int64_t> counts;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    const bool digits = !item.empty() && item.size() <= 9 &&
                        std::all_of(item.begin(), item.end(), [](unsigned char c) { return std::isdigit(c); });
    if (!digits || std::stoll(item) < 1)
      throw Error("labels per class '" + text + "': '" + item +
                  "' is not a positive whole number (write e.g. 10,50,100,500)");
    const int64_t v = std::stoll(item);
    if (!counts.empty() && v <= counts.back())
      throw Error("labels per class '" + text + "': " + item +
                  " comes after " + std::to_string(counts.back()) + " (write the counts in rising order)");
    counts.push_back(v);
    start = comma + 1;
  }
  return counts;
}

std::string formatLabelCounts(const std::vector<int64_t>& counts) {
  std::string s;
  for (size_t i = 0; i < counts.size(); ++i) s += (i ? "," : "") + std::to_string(counts[i]);
  return s;
}

void validateLabelCurve(const LabelCurveOptions& o) {
  if (o.labelsPerClass.empty()) throw Error("label curve: no label counts (e.g. 10,50,100,500)");
  parseLabelCounts(formatLabelCounts(o.labelsPerClass));
  if (o.steps < 1) throw Error("label curve: steps = " + std::to_string(o.steps) + ": expected at least 1");
  if (o.batchSize < 1)
    throw Error("label curve: batch size = " + std::to_string(o.batchSize) + ": expected at least 1");
  if (o.freezeStages < 0)
    throw Error("label curve: frozen stages = " + std::to_string(o.freezeStages) + ": expected 0 or more");
}

std::vector<EvalRequest> labelCurveRequests(const LabelCurveOptions& o, uint64_t seed) {
  validateLabelCurve(o);
  std::vector<EvalRequest> requests;
  for (int64_t count : o.labelsPerClass) {
    for (bool randomInit : {false, true}) {
      if (randomInit && !o.fromScratch) continue;
      EvalRequest r;
      r.protocol = "finetune";
      r.randomInit = randomInit;
      // The baseline is the network trained from scratch on the labels, every layer (the RotNet
      // paper's supervised curve); frozen random layers would be a weaker straw man.
      r.finetune.perClass(count).steps(o.steps).batchSize(o.batchSize).seed(seed);
      r.finetune.freezeStages(randomInit ? 0 : o.freezeStages);
      requests.push_back(r);
    }
  }
  return requests;
}

std::vector<LabelCurvePoint> labelCurveFromRecords(const std::vector<EvalRecord>& records) {
  std::map<int64_t, LabelCurvePoint> points;
  for (const auto& r : records) {
    if (r.protocol != "finetune" || r.labelsPerClass <= 0) continue;
    LabelCurvePoint& p = points[r.labelsPerClass];
    p.labelsPerClass = r.labelsPerClass;
    if (r.randomInit) {
      p.scratch = r.top1;
      if (p.settings.empty()) p.settings = r.settings;
    } else {
      p.trained = r.top1;
      p.trainedStep = r.step;
      p.settings = r.settings;
    }
  }
  std::vector<LabelCurvePoint> curve;
  for (auto& [count, p] : points) curve.push_back(p);
  return curve;
}

}  // namespace pretext
