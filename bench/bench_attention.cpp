// The ViT's CPU kernels (issue 6, core/models/transformer_ops.h) against LibTorch's ops in the
// same run, forward + backward, at mae-fashion's shapes (batch 256, 4 heads: encoder 12 visible
// tokens of width 128, 32 per head; decoder 49 tokens of width 64, 16 per head):
// 1. attention's batched products alone (q k^T and attn v): batchedMatmul against torch::matmul;
// 2. the whole attention from the qkv layer's output: multiHeadAttention against the composite
//    a PyTorch user writes (reshape, permute, matmul, softmax, matmul, transpose, reshape);
// 3. the linear layers (qkv, proj, fc1, fc2 on the tokens): linear against at::linear.
// Rounds alternate between the two so a busy machine slows both alike; the median round is
// printed. OpenBLAS (LibTorch's matrix products) leaves its idle worker thread spinning for 2^28
// cycles after each call, which would bill the LibTorch round's spin to the oneDNN round after
// it on 2 cores: the program re-executes itself with OPENBLAS_THREAD_TIMEOUT=4 (OpenBLAS reads
// it once, as it loads) unless that is set.
//   bench_attention [ROUNDS]   (default 15)
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "core/models/transformer_ops.h"
#include "core/util/threads.h"

using Clock = std::chrono::steady_clock;

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double timed(const std::function<void()>& f) {
  const auto t0 = Clock::now();
  f();
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Median ms of `libtorch` and `pretext`, alternating, after 3 warm-up rounds of each; prints a row.
void compare(const char* name, int rounds, const std::function<void()>& libtorch,
             const std::function<void()>& pretextOp) {
  for (int i = 0; i < 3; ++i) libtorch(), pretextOp();
  std::vector<double> a, b;
  for (int i = 0; i < rounds; ++i) {
    a.push_back(timed(libtorch));
    b.push_back(timed(pretextOp));
  }
  std::printf("%-38s %10.2f %10.2f %6.2fx\n", name, median(a), median(b), median(a) / median(b));
  std::fflush(stdout);
}
}  // namespace

int main(int argc, char** argv) {
  if (!std::getenv("OPENBLAS_THREAD_TIMEOUT")) {
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then go on as we are
  }
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 15;
  const int threads = pretext::configureThreads(2);
  struct Shape {
    const char* name;
    int64_t tokens, width;
  };
  const Shape shapes[] = {{"encoder", 12, 128}, {"decoder", 49, 64}};
  const int64_t batch = 256, heads = 4;
  std::printf(
      "%d threads; ms forward + backward, median of %d rounds; Pretext's kernel: %s; "
      "OPENBLAS_THREAD_TIMEOUT=%s\n",
      threads, rounds, pretext::transformerKernel(), std::getenv("OPENBLAS_THREAD_TIMEOUT"));
  std::printf("%-38s %10s %10s %7s\n", "", "LibTorch", "Pretext", "ratio");
  char name[96];
  for (const Shape& s : shapes) {
    const int64_t hd = s.width / heads;
    auto q = torch::randn({batch, heads, s.tokens, hd}, torch::requires_grad());
    auto k = torch::randn({batch, heads, s.tokens, hd}, torch::requires_grad());
    auto v = torch::randn({batch, heads, s.tokens, hd}, torch::requires_grad());
    auto products = [&](bool mine) {
      auto mm = [&](const torch::Tensor& a, const torch::Tensor& b) {
        return mine ? pretext::batchedMatmul(a, b) : torch::matmul(a, b);
      };
      auto attn = torch::softmax(mm(q, k.transpose(-2, -1)), -1);
      mm(attn, v).sum().backward();
    };
    std::snprintf(name, sizeof name, "%s products (%lld x %lld)", s.name, (long long)s.tokens,
                  (long long)hd);
    compare(
        name, rounds, [&] { products(false); }, [&] { products(true); });

    auto qkv = torch::randn({batch, s.tokens, 3 * s.width}, torch::requires_grad());
    auto composite = [&] {
      auto p = qkv.reshape({batch, s.tokens, 3, heads, hd}).permute({2, 0, 3, 1, 4});
      auto a =
          torch::softmax(torch::matmul(p[0], p[1].transpose(-2, -1)) / std::sqrt(double(hd)), -1);
      torch::matmul(a, p[2]).transpose(1, 2).reshape({batch, s.tokens, s.width}).sum().backward();
    };
    std::snprintf(name, sizeof name, "%s attention (from qkv)", s.name);
    compare(name, rounds, composite,
            [&] { pretext::multiHeadAttention(qkv, heads).sum().backward(); });

    // The block's four linear layers on [B,L,D] tokens, each with a random upstream gradient.
    struct Layer {
      torch::Tensor w, b;
    };
    std::vector<Layer> layers;
    for (auto [in, out] : {std::pair<int64_t, int64_t>{s.width, 3 * s.width},
                           {s.width, s.width},
                           {s.width, 4 * s.width},
                           {4 * s.width, s.width}})
      layers.push_back({torch::randn({out, in}, torch::requires_grad()),
                        torch::randn({out}, torch::requires_grad())});
    std::vector<torch::Tensor> inputs, grads;
    for (const auto& l : layers) {
      inputs.push_back(torch::randn({batch, s.tokens, l.w.size(1)}, torch::requires_grad()));
      grads.push_back(torch::randn({batch, s.tokens, l.w.size(0)}));
    }
    auto linears = [&](bool mine) {
      for (size_t i = 0; i < layers.size(); ++i) {
        auto y = mine ? pretext::linear(inputs[i], layers[i].w, layers[i].b)
                      : at::linear(inputs[i], layers[i].w, layers[i].b);
        y.backward(grads[i]);
      }
    };
    std::snprintf(name, sizeof name, "%s linear layers (%lld tokens)", s.name,
                  (long long)(batch * s.tokens));
    compare(
        name, rounds, [&] { linears(false); }, [&] { linears(true); });
  }
  return 0;
}
