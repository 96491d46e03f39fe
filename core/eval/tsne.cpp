#include "core/eval/tsne.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

#include "core/eval/checks.h"
#include "core/eval/probes.h"
#include "core/util/error.h"

namespace pretext {

void TsneOptions::validate() const {
  auto fail = [](const std::string& field, const std::string& what) {
    throw Error("tsne." + field + ": " + what);
  };
  if (dims_ < 1 || dims_ > 3) fail("dims", "must be 1, 2 or 3, got " + std::to_string(dims_));
  if (!(perplexity_ >= 1)) fail("perplexity", "must be at least 1");
  if (iterations_ < 1) fail("iterations", "must be at least 1");
  if (!(learningRate_ >= 0)) fail("learningRate", "must be >= 0 (0 = automatic)");
  if (!(earlyExaggeration_ >= 1)) fail("earlyExaggeration", "must be at least 1");
  if (exaggerationIterations_ < 0) fail("exaggerationIterations", "must be >= 0");
  if (!(initialMomentum_ >= 0 && initialMomentum_ < 1))
    fail("initialMomentum", "must lie in [0,1)");
  if (!(finalMomentum_ >= 0 && finalMomentum_ < 1)) fail("finalMomentum", "must lie in [0,1)");
  if (pcaDims_ < 0) fail("pcaDims", "must be >= 0 (0 = no PCA)");
  if (init_ != "pca" && init_ != "random")
    fail("init", "must be pca or random, got '" + init_ + "'");
  if (callbackEvery_ < 1) fail("callbackEvery", "must be at least 1");
  if (threads_ < 0) fail("threads", "must be >= 0");
}

void setThisThreadIntraOpThreads(int threads) {
  if (threads < 1) return;
  // LibTorch initialises a thread's OpenMP thread count lazily from the process-wide setting on
  // its first parallel op; trigger that first so it does not overwrite ours later.
  (void)at::get_num_threads();
  // at::set_num_threads would change the process-wide count (and so every thread started
  // later); omp_set_num_threads changes only this thread's. Looked up at run time because
  // libgomp comes in through LibTorch and core does not link it directly.
  using SetThreads = void (*)(int);
  static const auto setOmp =
      reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (setOmp) setOmp(threads);
}

std::pair<torch::Tensor, torch::Tensor> tsneConditionalAffinities(const torch::Tensor& sqDistances,
                                                                  double perplexity,
                                                                  double tolerance, int maxSteps) {
  if (!sqDistances.defined() || sqDistances.dim() != 2 ||
      sqDistances.size(0) != sqDistances.size(1) || sqDistances.size(0) < 2) {
    throw Error("tsne: squared distances must be a square [N,N] matrix with N >= 2");
  }
  torch::NoGradGuard noGrad;
  const int64_t n = sqDistances.size(0);
  const auto eye = torch::eye(n, torch::dtype(torch::kBool));
  auto d = sqDistances.to(torch::kCPU, torch::kDouble).clamp_min(0);
  // Shift each row so its nearest neighbour is at 0: p_{j|i} is unchanged, exp never underflows
  // to an all-zero row, and the entropy formula below holds for the shifted distances too.
  const auto rowMin =
      d.masked_fill(eye, std::numeric_limits<double>::infinity()).amin(1, /*keepdim=*/true);
  const auto dz = (d - rowMin).masked_fill(eye, 0.0);                              // for H
  const auto dexp = dz.masked_fill(eye, std::numeric_limits<double>::infinity());  // for P
  const double target = std::log(perplexity);

  const double meanD = dz.sum().item<double>() / static_cast<double>(n * (n - 1));
  auto beta = torch::full({n}, meanD > 0 ? 1.0 / meanD : 1.0, torch::kDouble);
  auto lo = torch::zeros({n}, torch::kDouble);
  auto hi = torch::full({n}, std::numeric_limits<double>::infinity(), torch::kDouble);
  torch::Tensor p;
  for (int step = 0;; ++step) {
    p = torch::exp(-dexp * beta.unsqueeze(1));
    const auto sumP = p.sum(1);
    const auto h = torch::log(sumP) + beta * (dz * p).sum(1) / sumP;
    const auto diff = h - target;
    const auto open = diff.abs() > tolerance;
    if (step >= maxSteps || !open.any().item<bool>()) break;
    // Entropy falls as beta grows: too flat (H above target) -> raise beta, else lower it.
    const auto up = open & (diff > 0);
    const auto down = open & (diff <= 0);
    lo = torch::where(up, beta, lo);
    hi = torch::where(down, beta, hi);
    const auto raised = torch::where(torch::isinf(hi), beta * 2, (beta + hi) / 2);
    const auto lowered = (beta + lo) / 2;
    beta = torch::where(up, raised, torch::where(down, lowered, beta));
  }
  p = p / p.sum(1, /*keepdim=*/true);
  return {p, beta};
}

namespace {

torch::Tensor squaredDistances(const torch::Tensor& x) {
  const auto xd = x.to(torch::kCPU, torch::kDouble);
  const auto sq = xd.square().sum(1);
  return (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * torch::mm(xd, xd.t())).clamp_min(0);
}

double effectivePerplexity(double perplexity, int64_t n) {
  return std::max(1.0, std::min(perplexity, static_cast<double>(n - 1) / 3.0));
}

// The embedding's coordinates one array per dimension (structure of arrays), so the inner loops
// below read consecutive floats.
struct Columns {
  std::vector<float> data;
  int64_t n = 0;
  const float* col(int64_t k) const { return data.data() + k * n; }
};

Columns toColumns(const torch::Tensor& y) {
  Columns c{std::vector<float>(static_cast<size_t>(y.numel())), y.size(0)};
  const auto yt = y.t().contiguous();
  std::copy(yt.data_ptr<float>(), yt.data_ptr<float>() + yt.numel(), c.data.begin());
  return c;
}

// One pass over all pairs (i, j) with w_ij = 1 / (1 + |y_i - y_j|^2):
//   A_i = sum_j p_ij w_ij (y_i - y_j),  B_i = sum_j w_ij^2 (y_i - y_j),  Z = sum_{i != j} w_ij.
// The gradient of KL(alpha P || Q), without the constant 4 (bhtsne's and openTSNE's convention,
// which the automatic learning rate N/12 assumes), is then
//   g_i = sum_j (alpha p_ij - w_ij / Z) w_ij (y_i - y_j) = alpha A_i - B_i / Z,
// so Z needs no pass of its own. The j = i term contributes 0 to A and B (and 1 to Z, taken
// off). Each row's j loop runs in kLanes independent accumulators so that it vectorises without
// reassociating floating-point sums; rows are summed in a fixed order, so the result does not
// depend on the thread count.
template <int64_t dims>
void gradient(const float* p, const Columns& y, float alpha, float* grad) {
  constexpr int64_t kLanes = 8;
  const int64_t n = y.n;
  std::vector<float> a(static_cast<size_t>(n * dims)), b(static_cast<size_t>(n * dims));
  std::vector<double> zRows(static_cast<size_t>(n));
  const float* cols[dims];
  for (int64_t k = 0; k < dims; ++k) cols[k] = y.col(k);
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* pi = p + i * n;
      float yi[dims];
      for (int64_t k = 0; k < dims; ++k) yi[k] = cols[k][i];
      float la[dims][kLanes] = {}, lb[dims][kLanes] = {}, lz[kLanes] = {};
      const int64_t full = n / kLanes * kLanes;
      for (int64_t j0 = 0; j0 < full; j0 += kLanes) {
        for (int64_t l = 0; l < kLanes; ++l) {
          const int64_t j = j0 + l;
          float diff[dims];
          float d2 = 0;
          for (int64_t k = 0; k < dims; ++k) {
            diff[k] = yi[k] - cols[k][j];
            d2 += diff[k] * diff[k];
          }
          const float w = 1.0f / (1.0f + d2);
          const float pw = pi[j] * w, ww = w * w;
          lz[l] += w;
          for (int64_t k = 0; k < dims; ++k) {
            la[k][l] += pw * diff[k];
            lb[k][l] += ww * diff[k];
          }
        }
      }
      float ga[dims] = {}, gb[dims] = {}, z = 0;
      for (int64_t l = 0; l < kLanes; ++l) {
        z += lz[l];
        for (int64_t k = 0; k < dims; ++k) ga[k] += la[k][l], gb[k] += lb[k][l];
      }
      for (int64_t j = full; j < n; ++j) {
        float diff[dims];
        float d2 = 0;
        for (int64_t k = 0; k < dims; ++k) {
          diff[k] = yi[k] - cols[k][j];
          d2 += diff[k] * diff[k];
        }
        const float w = 1.0f / (1.0f + d2);
        z += w;
        for (int64_t k = 0; k < dims; ++k) ga[k] += pi[j] * w * diff[k], gb[k] += w * w * diff[k];
      }
      for (int64_t k = 0; k < dims; ++k) {
        a[static_cast<size_t>(i * dims + k)] = ga[k];
        b[static_cast<size_t>(i * dims + k)] = gb[k];
      }
      zRows[static_cast<size_t>(i)] = static_cast<double>(z) - 1.0;
    }
  });
  double z = 0;
  for (double r : zRows) z += r;
  const float invZ = static_cast<float>(1.0 / z);
  for (int64_t i = 0; i < n * dims; ++i)
    grad[i] = alpha * a[static_cast<size_t>(i)] - b[static_cast<size_t>(i)] * invZ;
}

// KL(P||Q) = sum_{ij} p_ij log(p_ij / q_ij) of the plain (un-exaggerated) P.
double klDivergence(const float* p, const Columns& y, int64_t dims) {
  const int64_t n = y.n;
  auto dist2 = [&](int64_t i, int64_t j) {
    float d2 = 0;
    for (int64_t k = 0; k < dims; ++k) {
      const float d = y.col(k)[i] - y.col(k)[j];
      d2 += d * d;
    }
    return d2;
  };
  std::vector<double> zRows(static_cast<size_t>(n)), klRows(static_cast<size_t>(n));
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double z = 0;
      for (int64_t j = 0; j < n; ++j)
        if (j != i) z += 1.0 / (1.0 + dist2(i, j));
      zRows[static_cast<size_t>(i)] = z;
    }
  });
  double z = 0;
  for (double r : zRows) z += r;
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double kl = 0;
      for (int64_t j = 0; j < n; ++j) {
        const double pij = p[i * n + j];
        if (j == i || pij <= 0) continue;
        const double q = std::max(1.0 / (1.0 + dist2(i, j)) / z, 1e-12);
        kl += pij * std::log(pij / q);
      }
      klRows[static_cast<size_t>(i)] = kl;
    }
  });
  double kl = 0;
  for (double r : klRows) kl += r;
  return kl;
}

}  // namespace

torch::Tensor tsneJointAffinities(const torch::Tensor& x, double perplexity) {
  detail::checkFeatures("tsne", "input", x);
  torch::NoGradGuard noGrad;
  const int64_t n = x.size(0);
  auto [cond, beta] =
      tsneConditionalAffinities(squaredDistances(x), effectivePerplexity(perplexity, n));
  return (cond + cond.t()) / (2.0 * static_cast<double>(n));
}

TsneResult tsne(const torch::Tensor& input, const TsneOptions& options,
                const TsneCallback& callback) {
  options.validate();
  detail::checkFeatures("tsne", "input", input);
  const int64_t n = input.size(0);
  if (n < 4) throw Error("tsne: needs at least 4 points, got " + std::to_string(n));
  setThisThreadIntraOpThreads(options.threads());
  torch::NoGradGuard noGrad;
  const int64_t dims = options.dims();

  auto x = input.to(torch::kCPU, torch::kFloat);
  if (options.pcaDims() > 0 && x.size(1) > options.pcaDims())
    x = pcaProject(x, std::min(options.pcaDims(), x.size(1)));
  const auto p = tsneJointAffinities(x, options.perplexity()).to(torch::kFloat).contiguous();

  torch::Tensor y;
  if (options.init() == "pca" && x.size(1) >= dims) {
    y = pcaProject(x, dims);
    const double sd = y.select(1, 0).std().item<double>();
    y = sd > 0 ? y * static_cast<float>(1e-4 / sd) : y;
  }
  if (!y.defined() || !torch::isfinite(y).all().item<bool>()) {
    auto gen = at::detail::createCPUGenerator(options.seed());
    y = torch::randn({n, dims}, gen, torch::kFloat) * 1e-4f;
  }
  y = y.contiguous();

  // Automatic: N / exaggeration (Belkina et al. 2019; Linderman & Steinerberger 2019 show that
  // exaggeration x rate above about N makes the points oscillate instead of gathering, which is
  // why a floor such as 50 breaks small sets).
  const double lr = options.learningRate() > 0
                        ? options.learningRate()
                        : std::max(static_cast<double>(n) / options.earlyExaggeration(), 1.0);
  auto update = torch::zeros_like(y);
  auto gains = torch::ones_like(y);
  auto grad = torch::zeros_like(y);

  TsneResult result;
  for (int64_t it = 0; it < options.iterations(); ++it) {
    const bool exaggerate = it < options.exaggerationIterations();
    const float alpha = exaggerate ? static_cast<float>(options.earlyExaggeration()) : 1.0f;
    const int64_t done = it + 1;
    const bool report =
        callback && (done % options.callbackEvery() == 0 || done == options.iterations());
    const bool wantKl = report || done == options.iterations();
    // Coordinates as columns; the dimension is a template argument so the loops unroll.
    const Columns cols = toColumns(y);
    const float* pp = p.data_ptr<float>();
    float* gp = grad.data_ptr<float>();
    if (dims == 1)
      gradient<1>(pp, cols, alpha, gp);
    else if (dims == 2)
      gradient<2>(pp, cols, alpha, gp);
    else
      gradient<3>(pp, cols, alpha, gp);
    // Gains (Jacobs 1988): grow while steps keep going the same way (gradient against the last
    // update), shrink when a step overshot (gradient along it).
    const auto sameSign = (grad > 0) == (update > 0);
    gains = torch::where(sameSign, gains * 0.8f, gains + 0.2f).clamp_min_(0.01f);
    const double momentum =
        it < options.momentumSwitch() ? options.initialMomentum() : options.finalMomentum();
    update = update * static_cast<float>(momentum) - static_cast<float>(lr) * gains * grad;
    y = (y + update);
    y = (y - y.mean(0, /*keepdim=*/true)).contiguous();
    const double kl = wantKl ? klDivergence(pp, toColumns(y), dims) : 0;
    result.iterations = done;
    if (wantKl) result.kl = kl;
    if (report && !callback(done, y.clone(), kl)) {
      result.cancelled = true;
      break;
    }
  }
  result.embedding = y;
  return result;
}

}  // namespace pretext
