#include "core/train/control.h"

namespace pretext {

void TrainControl::pause() {
  std::lock_guard<std::mutex> lock(mutex_);
  paused_ = true;
  stepTokens_ = 0;
}

void TrainControl::resume() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    paused_ = false;
  }
  cv_.notify_all();
}

void TrainControl::step(int count) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    paused_ = true;
    stepTokens_ += count;
  }
  cv_.notify_all();
}

void TrainControl::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
}

void TrainControl::post(std::function<void()> request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(std::move(request));
  }
  cv_.notify_all();
}

void TrainControl::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  paused_ = stop_ = false;
  stepTokens_ = 0;
}

void TrainControl::waitForRequest() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return woken_ || !requests_.empty(); });
  woken_ = false;
}

void TrainControl::wake() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    woken_ = true;
  }
  cv_.notify_all();
}

bool TrainControl::paused() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return paused_;
}

bool TrainControl::stopRequested() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stop_;
}

void TrainControl::serveRequests() {
  for (;;) {
    std::function<void()> request;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (requests_.empty()) return;
      request = std::move(requests_.front());
      requests_.pop_front();
    }
    request();
  }
}

bool TrainControl::waitToProceed() {
  for (;;) {
    serveRequests();
    std::unique_lock<std::mutex> lock(mutex_);
    if (stop_) return false;
    if (!paused_) return true;
    if (stepTokens_ > 0) {
      --stepTokens_;
      return true;
    }
    cv_.wait(lock, [&] { return stop_ || !paused_ || stepTokens_ > 0 || !requests_.empty(); });
  }
}

}  // namespace pretext
