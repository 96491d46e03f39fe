#pragma once
// pretext-cli lesson / lessons: the lectures' figures as scenarios (core/train/lesson.h).
#include <ostream>
#include <string>

#include "core/train/lesson.h"

namespace pretext {

// The lessons in the course's order: name, title, budget, what runs.
void printLessonList(std::ostream& out);
// A lesson's page before it runs: title, the lecture's claim and source, the explanation, what
// it trains.
void printLessonIntro(const Lesson& lesson, std::ostream& out);
// After it has run: what to look at, where, and what the figure showed when it was measured.
void printLessonOutro(const Lesson& lesson, const std::string& folder, std::ostream& out);
// Where a lesson's runs go when --out is not given: RUNS/lessons/NAME.
std::string defaultLessonFolder(const Lesson& lesson, const std::string& runsFolder = "runs");

}  // namespace pretext
