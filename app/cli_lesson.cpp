#include "app/cli_lesson.h"

#include <iomanip>
#include <sstream>

namespace pretext {

namespace {

// Words wrapped at `width` columns after `indent` spaces (the terminal is not a browser).
void wrapped(std::ostream& out, const std::string& text, size_t indent = 2, size_t width = 92) {
  std::istringstream words(text);
  std::string word, line;
  auto flush = [&] {
    if (!line.empty()) out << std::string(indent, ' ') << line << "\n";
    line.clear();
  };
  while (words >> word) {
    if (!line.empty() && indent + line.size() + 1 + word.size() > width) flush();
    line += (line.empty() ? "" : " ") + word;
  }
  flush();
}

std::string budget(const Lesson& l) {
  if (l.minutes <= 0) return "";
  std::ostringstream s;
  s << "about " << std::setprecision(3) << l.minutes << " min on 2 cores";
  return s.str();
}

}  // namespace

void printLessonList(std::ostream& out) {
  const auto lessons = allLessons();
  size_t width = 0;
  for (const auto& l : lessons) width = std::max(width, l.name.size());
  for (const auto& l : lessons) {
    out << std::left << std::setw(int(width)) << l.name << std::right << "  " << l.title << " ("
        << (l.isSweep() ? "sweep " + l.sweep : "preset " + l.preset);
    if (!budget(l).empty()) out << ", " << budget(l);
    out << ")\n";
  }
  out << "(in " << lessonDirectory() << "; run one with: pretext-cli lesson NAME; the window opens "
      << "them from its Lessons menu and Start tab)\n";
}

void printLessonIntro(const Lesson& l, std::ostream& out) {
  out << "lesson " << l.name << ": " << l.title << "\n\nthe lecture's claim:\n";
  wrapped(out, l.claim);
  if (!l.source.empty()) wrapped(out, "(" + l.source + ")");
  out << "\n";
  wrapped(out, l.explanation, 0);
  out << "\nit trains: ";
  if (l.isSweep()) {
    out << "the sweep " << l.sweep << "\n";
  } else {
    if (l.isExample()) {
      out << "nothing (it starts from the ready-trained example " << l.example << ")";
    } else {
      out << "the preset " << l.preset;
      for (const auto& s : l.sets) out << " --set " << s;
    }
    out << (l.evaluate ? ", then probes it" : "");
    if (l.labelCurve)
      out << ", then fine-tunes it and the same network from scratch on "
          << formatLabelCounts(l.labelCurveOptions.labelsPerClass) << " labels per class ("
          << l.labelCurveOptions.steps << " steps each)";
    out << "\n";
  }
  if (!budget(l).empty()) out << "budget: " << budget(l) << "\n";
  out << std::endl;
}

void printLessonOutro(const Lesson& l, const std::string& folder, std::ostream& out) {
  out << "\nlook at (the window's " << l.panel << " panel; open " << folder << "):\n";
  wrapped(out, l.lookAt);
  if (!l.result.empty()) {
    out << "when it was measured:\n";
    wrapped(out, l.result);
  }
  if (!l.figure.empty()) out << "figure: " << l.figure << "\n";
}

std::string defaultLessonFolder(const Lesson& lesson, const std::string& runsFolder) {
  return runsFolder + "/lessons/" + lesson.name;
}

}  // namespace pretext
