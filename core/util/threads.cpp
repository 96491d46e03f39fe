#include "core/util/threads.h"

#include <malloc.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>

#include <thread>

namespace pretext {

int configureThreads(int threads) {
  static const bool mallocTuned = [] {
    // mallopt caps M_MMAP_THRESHOLD at 32 MiB, below a batch's activations: serve every block
    // from the heap instead (M_MMAP_MAX 0) and trim it only past 1 GiB of free space.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)mallocTuned;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer build (scripts/sanitize.sh tsan): LibTorch's OpenMP pool (libgomp) is not
  // instrumented, so TSan cannot see its barriers and would report every parallel loop as a
  // race. One intra-op thread: every thread TSan sees is one Pretext started itself.
  threads = 1;
#endif
  at::set_num_threads(threads);
  return at::get_num_threads();
}

void useOpenMpWaitPolicy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::execv("/proc/self/exe", argv);  // returns only when it failed: carry on with libgomp's default
}

}  // namespace pretext
