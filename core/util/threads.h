#pragma once

namespace pretext {

// LibTorch defaults to one intra-op thread on some builds (Debian's included): use every core.
// `threads` <= 0 means std::thread::hardware_concurrency(). Returns the count in force.
int configureThreads(int threads = 0);

}  // namespace pretext
