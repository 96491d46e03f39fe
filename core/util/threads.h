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

// OpenMP's idle workers (LibTorch's intra-op pool, GNU libgomp) spin for a while before they
// sleep. Alone on a machine that saves a few microseconds per parallel region; beside another
// busy process the spinning workers take the cores from the ones with work, and training ran 7x
// slower beside a two-job compile (issue 19; BENCHMARKS.md "Under load"). libgomp reads its
// settings when it is loaded, before main(), so setting them in main() changes nothing: this
// sets the wait policy chosen there and runs the program again, once, with the same arguments.
// It does nothing when the user has set OMP_WAIT_POLICY or GOMP_SPINCOUNT (theirs is kept), or
// when the program cannot be executed again (then it carries on as it is). The second start
// loads LibTorch again: ~0.4 s on this machine (pretext-cli presets: 0.87 s against 0.48 s).
// Call it first thing in main(), where the program will compute.
void useOpenMpWaitPolicy(char** argv);

}  // namespace pretext
