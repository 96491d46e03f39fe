#include "core/util/threads.h"

#include <torch/torch.h>

#include <thread>

namespace pretext {

int configureThreads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  return at::get_num_threads();
}

}  // namespace pretext
