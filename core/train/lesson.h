#pragma once
// Lessons: the lectures' figures as saved scenarios a teacher opens and replays in front of a
// class. A lesson file (resources/lessons/NAME.json) names what to train, which of the window's
// panels shows the result, what to look at, and the lecture's claim it reproduces:
//   {"title": "The temperature of NT-Xent",
//    "order": 40,                              (the course's order in menus; default 1000)
//    "claim": "...", "source": "Chen et al. 2020, Table 5 / lecture notes",
//    "explanation": "a few sentences", "look_at": "what to watch",
//    "panel": "Sweep",                         (the window's tab to show)
//    "minutes": 6,                             (the budget on a 2-core CPU)
//    "preset": "simclr-fashion", "set": ["schedule.steps=300"],   (one run) or
//    "sweep": "simclr-temperature",                               (resources/sweeps/NAME.json) or
//    "example": "rotation-fashion",            (a ready-trained run in resources/examples)
//    "evaluate": true,                         (one run: probe it after training)
//    "label_curve": {"labels_per_class": [10, 50, 100, 500], "steps": 300, "freeze": 2},
//                                              (one run: its semi-supervised curve, after training)
//    "figure": "docs/lessons/NAME.png", "result": "what the figure shows, measured"}
// A lesson is seeded through its experiment (run.seed), so it replays the same.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/eval/label_curve.h"

namespace pretext {

struct Lesson {
  std::string name;         // the file's name, e.g. "nt-xent-temperature"
  std::string title;
  int order = 1000;
  std::string claim;        // the lecture's claim, in its words where it has them
  std::string source;       // where the claim comes from
  std::string explanation;  // a few sentences for the class
  std::string lookAt;       // what to look at while it trains and after
  std::string panel;        // the window's panel (tab) that shows it
  double minutes = 0;       // the budget on this 2-core CPU
  // One of the three:
  std::string preset;             // one run: a preset ...
  std::vector<std::string> sets;  // ... with these `--set` overrides
  std::string sweep;              // several runs: a sweep file's name in resources/sweeps
  std::string example;            // a ready-trained example (resources/examples), not trained again
  bool evaluate = false;          // one run: probe it (kNN and linear) when it has trained
  bool labelCurve = false;        // one run: its label curve (labelCurveOptions) when it has trained
  LabelCurveOptions labelCurveOptions;
  std::string figure;             // docs/lessons/NAME.png (relative to the source tree)
  std::string result;             // what the figure shows, measured
  bool isSweep() const { return !sweep.empty(); }
  bool isExample() const { return !example.empty(); }
};

// PRETEXT_RESOURCES/lessons when that variable is set, else the source tree's resources/lessons.
std::string lessonDirectory();
// The same for sweeps shipped with Pretext (resources/sweeps).
std::string sweepDirectory();
// The lessons' names in the course's order (then by name).
std::vector<std::string> lessonNames();
// Parses and checks a lesson: every field's type, exactly one of preset/sweep/example, the preset
// and its overrides (or the sweep and every point, or the example's run) validate as experiments. Throws pretext::Error
// naming the lesson and the field.
Lesson parseLesson(const nlohmann::json& j, const std::string& name);
// resources/lessons/NAME.json; throws pretext::Error listing the lessons when there is none.
Lesson loadLesson(const std::string& name);
// Every lesson, in the course's order; a lesson that does not load is skipped.
std::vector<Lesson> allLessons();
// A one-run lesson's experiment: its preset with its overrides applied, or its example's.
nlohmann::json lessonExperimentJson(const Lesson& lesson);
// A sweep lesson's file: SWEEP_DIRECTORY/NAME.json.
std::string lessonSweepPath(const Lesson& lesson);

}  // namespace pretext
