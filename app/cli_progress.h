#pragma once
// pretext-cli's training progress: a progress bar with img/s and ETA on a terminal, plain lines
// otherwise (train and sweep print through it).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <string>

#include "core/train/events.h"

namespace pretext {

// Seconds as mm:ss or h:mm:ss ("--:--" when unknown).
inline std::string clock(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  return buf;
}

// A progress bar on a terminal, plain lines otherwise.
class CliEvents : public TrainerEvents {
 public:
  explicit CliEvents(bool quiet) : tty_(isatty(STDOUT_FILENO)), quiet_(quiet) {}
  void onStart(const StartEvent& e) override {
    total_ = e.totalSteps;
    std::cout << "run folder: " << e.runDir << "\n"
              << "device: " << e.device << "; " << e.trainImages << " training images, "
              << e.stepsPerEpoch << " steps per epoch, " << e.totalSteps << " steps\n";
  }
  void onStep(const StepEvent& e) override {
    if (quiet_) return;
    std::ostringstream s;
    s << std::fixed << std::setprecision(4) << "step " << e.step << "/" << e.totalSteps << " ep "
      << std::setprecision(2) << e.epochFloat << " loss " << std::setprecision(4) << e.loss
      << " lr " << std::setprecision(5) << e.lr << " " << std::setprecision(0) << e.imgPerSec
      << " img/s ETA " << clock(e.etaSeconds);
    for (const auto& m : e.metrics) s << " " << m.first << " " << std::setprecision(3) << m.second;
    if (tty_) {
      const int width = 24;
      const int filled = static_cast<int>(width * double(e.step) / double(std::max<int64_t>(1, total_)));
      std::cout << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] "
                << s.str() << "\033[K" << std::flush;
      dirty_ = true;
    } else if (e.step % 50 == 0 || e.step == e.totalSteps) {
      std::cout << s.str() << "\n" << std::flush;
    }
  }
  void onLog(const std::string& line) override {
    if (line.rfind("run ", 0) == 0 || line.rfind("device ", 0) == 0) return;  // shown by onStart
    if (line.rfind("error: ", 0) == 0) return;  // main() prints the error once
    if (dirty_) std::cout << "\n";
    dirty_ = false;
    std::cout << line << "\n" << std::flush;
  }
  void onFailed(const std::string&) override {
    if (dirty_) std::cout << "\n";
    dirty_ = false;
  }

 private:
  bool tty_, quiet_;
  bool dirty_ = false;
  int64_t total_ = 0;
};

}  // namespace pretext
