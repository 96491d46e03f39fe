#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

namespace pretext {

// Pause / resume / single step / stop from any thread, and inspection requests that the
// training thread runs between steps (or while paused), so nothing else touches the model.
class TrainControl {
 public:
  void pause();
  void resume();
  void step(int count = 1);  // while paused: let `count` more steps run
  void stop();
  void post(std::function<void()> request);
  // Clears pause, step tokens and stop before a new run; pending requests stay.
  void reset();
  // Blocks until a request is posted or wake() is called (an idle engine thread's loop).
  void waitForRequest();
  void wake();
  bool paused() const;
  bool stopRequested() const;

  // Training-thread side: serves requests, blocks while paused (without step tokens).
  // Returns false when the run should stop.
  bool waitToProceed();
  void serveRequests();

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool paused_ = false;
  bool stop_ = false;
  int stepTokens_ = 0;
  bool woken_ = false;
  std::deque<std::function<void()>> requests_;
};

}  // namespace pretext
