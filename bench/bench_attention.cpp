// Attention's batched matrix products (issue 6): Pretext's batchedMatmul against LibTorch's
// bmm in the same run, forward and backward, at mae-fashion's shapes (batch 256, 4 heads:
// encoder 12 visible tokens x 32 per head, decoder 49 tokens x 16 per head). Rounds alternate
// between the two so a busy machine slows both alike; the median round is printed.
//   bench_attention [ROUNDS]   (default 15)
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/models/batched_matmul.h"
#include "core/util/threads.h"

using Clock = std::chrono::steady_clock;

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 15;
  const int threads = pretext::configureThreads(2);
  struct Shape {
    const char* name;
    int64_t tokens, headDim;
  };
  std::printf("%d threads; ms for q k^T and attn v, forward + backward, median of %d rounds\n",
              threads, rounds);
  std::printf("%-26s %10s %10s %7s\n", "", "bmm", pretext::batchedMatmulKernel(), "ratio");
  for (const Shape& s : {Shape{"encoder (12 x 32)", 12, 32}, Shape{"decoder (49 x 16)", 49, 16}}) {
    auto q = torch::randn({256, 4, s.tokens, s.headDim}, torch::requires_grad());
    auto k = torch::randn({256, 4, s.tokens, s.headDim}, torch::requires_grad());
    auto v = torch::randn({256, 4, s.tokens, s.headDim}, torch::requires_grad());
    auto run = [&](bool split) {
      auto mm = [&](const torch::Tensor& a, const torch::Tensor& b) {
        return split ? pretext::batchedMatmul(a, b) : torch::matmul(a, b);
      };
      const auto t0 = Clock::now();
      auto attn = torch::softmax(mm(q, k.transpose(-2, -1)), -1);
      mm(attn, v).sum().backward();
      return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    };
    for (int i = 0; i < 3; ++i) run(false), run(true);
    std::vector<double> plain, split;
    for (int i = 0; i < rounds; ++i) {
      plain.push_back(run(false));
      split.push_back(run(true));
    }
    const double a = median(plain), b = median(split);
    std::printf("%-26s %10.2f %10.2f %6.2fx\n", s.name, a, b, a / b);
  }
  return 0;
}
