#pragma once

namespace pretext {

// Sets up the process for LibTorch on CPU:
// - intra-op threads: LibTorch defaults to one on some builds (Debian's included), so use
//   every core; `threads` <= 0 means std::thread::hardware_concurrency().
// - glibc malloc: keep freed large blocks in the heap instead of returning them to the OS
//   (no mmap'ed blocks, trim threshold 1 GiB). A training step frees and re-allocates the
//   same activation buffers every time; with glibc's defaults each re-allocation page-faults
//   fresh memory, which measured 1.5x slower steps here (see BENCHMARKS.md).
// Returns the thread count in force.
int configureThreads(int threads = 0);

}  // namespace pretext
