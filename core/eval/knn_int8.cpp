// The int8 neighbour search behind knnClassify's default path (see knn_search.h): an int8
// similarity kernel (AVX-512 VNNI) picks candidates with a bound on the quantisation error,
// float32 dot products re-rank them.
#include <immintrin.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "core/eval/knn_search.h"
#include "core/util/error.h"

namespace pretext::detail {
namespace {

constexpr int64_t kMR = 12;          // test rows per micro-tile (24 accumulators + 3 registers)
constexpr int64_t kPanel = 16;       // training rows per packed panel (one zmm of int32)
constexpr int64_t kNR = 32;          // training rows per micro-tile: two panels
// Most micro-tiles of test rows a thread keeps in flight (768 rows): their candidate lists share
// training rows, which the re-rank then reads once per group (see the re-rank below).
constexpr int64_t kGroupTiles = 64;
constexpr int64_t kBlockPairs = 64;  // training micro-tiles per cache block (512 KB at D=256)
constexpr int64_t kRerankRows = 512;  // float32 training rows per re-rank block (512 KB at D=256)

// Per-row symmetric quantisation of a unit vector: q = round(x / s), s = max|x| / 127, and
// the exact norms the bound needs: |e| = |x - s q| and |x~| = |s q| (in double).
struct RowQuant {
  float scale = 1, err = 0, norm = 0;
  int32_t sum = 0;
};

// Quantises x = row - m (m: the centre, see knnSearchInt8); x receives it (d floats).
RowQuant quantiseRow(const float* row, const float* m, int64_t d, float* x, int8_t* q) {
  for (int64_t j = 0; j < d; ++j) x[j] = row[j] - m[j];
  float top = 0;
  for (int64_t j = 0; j < d; ++j) top = std::max(top, std::fabs(x[j]));
  RowQuant r;
  r.scale = top > 0 ? top / 127.0f : 1.0f;
  const float inv = 1.0f / r.scale;
  // Any rounding is valid (the bound uses the actual error): round half away from zero,
  // without a libm call.
  double e2 = 0, n2 = 0;
  for (int64_t j = 0; j < d; ++j) {
    const float t = x[j] * inv;
    const int v = std::clamp(static_cast<int>(t + (t >= 0 ? 0.5f : -0.5f)), -127, 127);
    q[j] = static_cast<int8_t>(v);
    const double xq = static_cast<double>(r.scale) * v;
    e2 += (x[j] - xq) * (x[j] - xq);
    n2 += xq * xq;
    r.sum += v;
  }
  r.err = static_cast<float>(std::sqrt(e2));
  r.norm = static_cast<float>(std::sqrt(n2));
  return r;
}

// Int8 similarities of kMR test rows (s8, packed per tile: for each group of 4 dimensions,
// kMR rows x 4 bytes) x kNR training rows (two packed panels: for each group of 4
// dimensions, 16 rows x 4 bytes, u8 = q + 128), scaled to cosine estimates
// s~ = sx sy (dot - 128 sum(qx)) + bias_y. Writes them to sims [kMR][kNR] and, per test row, the
// bit mask of the columns whose upper estimate s~ + |x~| |e_y| + |e_x| |y| reaches the row's
// threshold (|e| scaled by gamma, see knnSearchInt8). The 24
// accumulators are named variables and vpdpbusd is written as inline asm: with an array and the
// intrinsic, GCC 12 copied every accumulator through the stack on every step.
#define PRETEXT_KNN_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
// GCC 12 warns about the deliberately undefined vectors inside its own AVX-512 intrinsics
// (_mm512_cvtepi32_ps, _mm512_reduce_add_ps) once they are inlined: false positives.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void microKernel(
    const int8_t* a, const uint8_t* b, int64_t quads, const float* rowScale,
    const int32_t* rowOffset, const float* rowNorm, const float* rowErr, const float* rowThreshold,
    const float* colScale, const float* colBias, const float* colErr, const float* colNorm,
    float* sims, uint32_t* masks) {
#define PRETEXT_KNN_DECLARE(r) __m512i acc##r##a = _mm512_setzero_si512(), acc##r##b = acc##r##a;
  PRETEXT_KNN_ROWS(PRETEXT_KNN_DECLARE)
#undef PRETEXT_KNN_DECLARE
  const uint8_t* b1 = b + quads * 64;
  for (int64_t kq = 0; kq < quads; ++kq) {
    const __m512i p0 = _mm512_loadu_si512(b + kq * 64);
    const __m512i p1 = _mm512_loadu_si512(b1 + kq * 64);
    const int8_t* ak = a + kq * (4 * kMR);
#define PRETEXT_KNN_STEP(r)                                         \
  {                                                                 \
    int32_t four;                                                   \
    std::memcpy(&four, ak + 4 * (r), 4);                            \
    const __m512i x = _mm512_set1_epi32(four);                      \
    asm("vpdpbusd %2, %1, %0" : "+v"(acc##r##a) : "v"(p0), "v"(x)); \
    asm("vpdpbusd %2, %1, %0" : "+v"(acc##r##b) : "v"(p1), "v"(x)); \
  }
    PRETEXT_KNN_ROWS(PRETEXT_KNN_STEP)
#undef PRETEXT_KNN_STEP
  }
  const __m512 cs0 = _mm512_loadu_ps(colScale), cs1 = _mm512_loadu_ps(colScale + 16);
  const __m512 ce0 = _mm512_loadu_ps(colErr), ce1 = _mm512_loadu_ps(colErr + 16);
  const __m512 cb0 = _mm512_loadu_ps(colBias), cb1 = _mm512_loadu_ps(colBias + 16);
  const __m512 cn0 = _mm512_loadu_ps(colNorm), cn1 = _mm512_loadu_ps(colNorm + 16);
#define PRETEXT_KNN_FINISH(r)                                                               \
  {                                                                                         \
    const __m512i off = _mm512_set1_epi32(rowOffset[r]);                                    \
    const __m512 sx = _mm512_set1_ps(rowScale[r]), xn = _mm512_set1_ps(rowNorm[r]);         \
    const __m512 thr = _mm512_set1_ps(rowThreshold[r]), ex = _mm512_set1_ps(rowErr[r]);     \
    const __m512 v0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc##r##a, off)), \
                                      _mm512_mul_ps(cs0, sx), cb0);                         \
    const __m512 v1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc##r##b, off)), \
                                      _mm512_mul_ps(cs1, sx), cb1);                         \
    const __m512 u0 = _mm512_fmadd_ps(ex, cn0, _mm512_fmadd_ps(xn, ce0, v0));               \
    const __m512 u1 = _mm512_fmadd_ps(ex, cn1, _mm512_fmadd_ps(xn, ce1, v1));               \
    const __mmask16 m0 = _mm512_cmp_ps_mask(u0, thr, _CMP_GE_OQ);                           \
    const __mmask16 m1 = _mm512_cmp_ps_mask(u1, thr, _CMP_GE_OQ);                           \
    _mm512_storeu_ps(sims + (r)*kNR, v0);                                                   \
    _mm512_storeu_ps(sims + (r)*kNR + 16, v1);                                              \
    masks[r] = static_cast<uint32_t>(m0) | (static_cast<uint32_t>(m1) << 16);               \
  }
  PRETEXT_KNN_ROWS(PRETEXT_KNN_FINISH)
#undef PRETEXT_KNN_FINISH
}
#undef PRETEXT_KNN_ROWS

__attribute__((target("avx512f,fma"))) float dotF32(const float* x, const float* y, int64_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 32 <= d; j += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j), _mm512_loadu_ps(y + j), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j + 16), _mm512_loadu_ps(y + j + 16), s1);
  }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
  for (; j < d; ++j) s += x[j] * y[j];
  return s;
}
#pragma GCC diagnostic pop

struct Candidate {
  float sim;  // s~
  int32_t col;
};

}  // namespace

bool knnInt8Supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
}

bool knnInt8Worthwhile(int64_t nTrain, int64_t nTest, int64_t dim, int64_t k) {
  // Below ~1e8 multiply-adds the exact search takes milliseconds; a k near N leaves nothing
  // to prune; int32 sums of D products of |q| <= 127 by u8 <= 255 must not overflow.
  return knnInt8Supported() && static_cast<double>(nTrain) * nTest * dim >= 1e8 &&
         k * 8 <= nTrain && k <= 4096 && dim <= 32768 && nTrain < (int64_t(1) << 31);
}

KnnInt8Stats knnSearchInt8(const torch::Tensor& train, const torch::Tensor& test, int64_t k,
                           const KnnRowFn& onRow, bool rigorous) {
  if (!knnInt8Supported()) throw Error("knn: the int8 search needs a CPU with AVX-512 VNNI");
  const int64_t nTrain = train.size(0), nTest = test.size(0), d = train.size(1);
  if (test.size(1) != d || k < 1 || k > nTrain || !train.is_contiguous() || !test.is_contiguous() ||
      train.scalar_type() != torch::kFloat || test.scalar_type() != torch::kFloat) {
    throw Error(
        "knn: knnSearchInt8 needs contiguous float32 rows of one dimension and 1 <= k <= N");
  }
  const int64_t quads = (d + 3) / 4, dPad = quads * 4;
  const float* trainPtr = train.data_ptr<float>();
  const float* testPtr = test.data_ptr<float>();
  // The error terms <e_x, y> and <x~, e_y> are sums of d roundings (each uniform within half
  // a quantisation step, independent of the other vector): their spread is ~|e| |y| / sqrt(d),
  // sqrt(d) times below the Cauchy-Schwarz bound. Unless `rigorous`, the bound is scaled to
  // 5 / sqrt(d) of itself: 5 spreads per term, two terms per side, so a true neighbour is missed
  // only when an error exceeds ~7 standard deviations (see knn_search.h for the measured recall).
  const float gamma = rigorous ? 1.0f : std::min(1.0f, 5.0f / std::sqrt(static_cast<float>(d)));
  // Centring: with m the mean training row, <x, y> = <x - m, y - m> + <m, y - m> + <x, m>.
  // The last term is the same for every training row (it cannot change a test row's ranking),
  // the middle one is a per-column bias computed in float32, and only the first is quantised:
  // features in a narrow cone (post-ReLU encoders: every similarity ~0.9) then keep the
  // quantisation error small next to the differences between similarities.
  const auto mean = train.mean(0).contiguous();
  const float* meanPtr = mean.data_ptr<float>();

  // Training rows: packed panels (see microKernel), per-column scale and error norm; padding
  // columns get error -inf so that they never pass a threshold.
  const int64_t nTrainPad = (nTrain + kNR - 1) / kNR * kNR;
  std::vector<uint8_t> packed(static_cast<size_t>(nTrainPad * dPad), 128);
  std::vector<float> colScale(nTrainPad, 0.0f);
  std::vector<float> colErr(nTrainPad, -std::numeric_limits<float>::infinity());
  std::vector<float> colBias(nTrainPad, 0.0f);
  std::vector<float> colNorm(nTrainPad, 0.0f);
  at::parallel_for(0, nTrainPad / kPanel, 64, [&](int64_t p0, int64_t p1) {
    std::vector<int8_t> q(dPad, 0);
    std::vector<float> centred(d);
    for (int64_t p = p0; p < p1; ++p) {
      for (int64_t c = 0; c < kPanel && p * kPanel + c < nTrain; ++c) {
        const int64_t row = p * kPanel + c;
        const RowQuant rq = quantiseRow(trainPtr + row * d, meanPtr, d, centred.data(), q.data());
        double bias = 0;
        for (int64_t j = 0; j < d; ++j) bias += static_cast<double>(centred[j]) * meanPtr[j];
        colBias[row] = static_cast<float>(bias);
        colScale[row] = rq.scale;
        colErr[row] = gamma * rq.err;
        colNorm[row] = rq.norm + rq.err;  // >= |y| (triangle inequality)
        uint8_t* dst = packed.data() + p * kPanel * dPad + c * 4;
        for (int64_t kq = 0; kq < quads; ++kq) {
          for (int t = 0; t < 4; ++t) dst[kq * 64 + t] = static_cast<uint8_t>(q[kq * 4 + t] + 128);
        }
      }
    }
  });

  // Test rows: s8, packed per micro-tile (see microKernel), padded with zero rows.
  const int64_t nTiles = (nTest + kMR - 1) / kMR, nTestPad = nTiles * kMR;
  std::vector<int8_t> qTest(static_cast<size_t>(nTestPad * dPad), 0);
  std::vector<float> rowScale(nTestPad, 0.0f), rowErr(nTestPad, 0.0f), rowNorm(nTestPad, 0.0f);
  std::vector<int32_t> rowOffset(nTestPad, 0);
  at::parallel_for(0, nTest, 256, [&](int64_t r0, int64_t r1) {
    std::vector<int8_t> q(dPad, 0);
    std::vector<float> centred(d);
    for (int64_t row = r0; row < r1; ++row) {
      const RowQuant rq = quantiseRow(testPtr + row * d, meanPtr, d, centred.data(), q.data());
      int8_t* dst = qTest.data() + (row / kMR) * kMR * dPad + (row % kMR) * 4;
      for (int64_t kq = 0; kq < quads; ++kq) std::memcpy(dst + kq * 4 * kMR, q.data() + kq * 4, 4);
      rowScale[row] = rq.scale;
      rowErr[row] = gamma * rq.err;
      rowNorm[row] = rq.norm;
      rowOffset[row] = 128 * rq.sum;
    }
  });

  // Float32 rounding: the reference similarities (an sgemm) and the re-ranking dot products
  // each differ from the real dot product by at most d * 2^-24 (|x| = |y| = 1), typically by
  // ~sqrt(d) * 2^-24 (the roundings are independent); the bound gets four times that (the worst
  // case when `rigorous`) and 1e-5 more, so the candidates cover the exact search's choice at
  // near-ties. (The worst case, 6e-5 at d = 256, was a quarter of the candidates' window.)
  const float slack =
      1e-5f + 4.0f * (rigorous ? static_cast<float>(d) : std::sqrt(static_cast<float>(d))) * 6e-8f;
  std::atomic<int64_t> totalCandidates{0}, totalFallbacks{0};
  const int64_t nPairs = nTrainPad / kNR;
  // 2048 columns (~3% of the work at N = 60000); none below N = 8192.
  const int64_t samplePairs = nPairs >= 256 ? std::min<int64_t>(64, nPairs / 8) : 0;
  const int64_t seedRank =
      std::min<int64_t>(samplePairs * kNR, 2 * (k * samplePairs * kNR + nTrain - 1) / nTrain + 4);

  // Threads take groups of test rows from a shared counter: on a busy machine a static split
  // leaves one thread waiting for the other.
  // Groups of equal size, as many as a multiple of the threads: with 10,000 test rows there
  // are only ~14 groups of 768 rows, and one left over would keep a thread working alone.
  const int64_t nThreads = std::max(1, at::get_num_threads());
  const int64_t fewestGroups = (nTiles + kGroupTiles - 1) / kGroupTiles;
  const int64_t evenGroups = (fewestGroups + nThreads - 1) / nThreads * nThreads;
  const int64_t groupTiles = (nTiles + evenGroups - 1) / evenGroups;
  const int64_t nGroups = (nTiles + groupTiles - 1) / groupTiles;
  std::atomic<int64_t> nextGroup{0};
  // b - slack of test row `row` against training column `col` (see prune below): the same sum
  // microKernel adds to s~ before its comparison.
  const auto spread = [&](int64_t row, int64_t col) {
    return rowErr[row] * colNorm[col] + rowNorm[row] * colErr[col];
  };
  const auto worker = [&]() {
    std::vector<std::vector<Candidate>> cands(kGroupTiles * kMR);
    std::vector<size_t> caps(kGroupTiles * kMR);
    std::vector<float> thresholds(kGroupTiles * kMR);
    std::vector<float> lows;
    std::vector<std::vector<KnnEntry>> exacts(kGroupTiles * kMR);
    std::vector<size_t> cursors(kGroupTiles * kMR);
    float sims[kMR * kNR];
    uint32_t masks[kMR];
    int64_t candidatesHere = 0, fallbacksHere = 0;
    std::vector<float> seeds(kGroupTiles * kMR);
    std::vector<std::vector<float>> seedLows(samplePairs > 0 ? kGroupTiles * kMR : 0);
    for (int64_t group = nextGroup++; group < nGroups; group = nextGroup++) {
      const int64_t g0 = group * groupTiles, g1 = std::min(nTiles, g0 + groupTiles);
      const int64_t rowBase = g0 * kMR, rows = (g1 - g0) * kMR;
      for (int64_t i = 0; i < rows; ++i) {
        cands[i].clear();
        caps[i] = static_cast<size_t>(std::max<int64_t>(4 * k, 512));
        thresholds[i] = seeds[i] = -std::numeric_limits<float>::infinity();
      }
      // Keeps row i's candidates that can still be among its k nearest: the k-th largest
      // lower bound s~ - b is a lower bound L on the k-th true similarity; a row with upper
      // bound s~ + b < L cannot be in the top k. b = ex |y| + |x~| ey + slack (ex and ey
      // already scaled by gamma; |y| per column: the largest |y| made the window twice as wide
      // on Fashion-MNIST features, whose centred norms are 0.18 on average and up to 0.36).
      // Returns the threshold the list implies (-inf while it holds fewer than k rows).
      const auto prune = [&](int64_t i) -> float {
        const int64_t row = rowBase + i;
        auto& list = cands[i];
        if (static_cast<int64_t>(list.size()) < k) return -std::numeric_limits<float>::infinity();
        lows.resize(list.size());
        for (size_t c = 0; c < list.size(); ++c)
          lows[c] = list[c].sim - spread(row, list[c].col) - slack;
        std::nth_element(lows.begin(), lows.begin() + (k - 1), lows.end(), std::greater<float>());
        const float bound = lows[k - 1];
        // Compared with s~ + b - slack, as microKernel does; one more slack for its rounding.
        const float threshold = bound - 2 * slack;
        thresholds[i] = std::max(thresholds[i], threshold);
        list.erase(std::remove_if(list.begin(), list.end(),
                                  [&](const Candidate& c) {
                                    return c.sim + spread(row, c.col) < thresholds[i];
                                  }),
                   list.end());
        if (list.size() * 2 > caps[i]) caps[i] *= 2;
        return threshold;
      };
      // Seed the thresholds from an evenly spaced sample of the training micro-tiles: the
      // sample's `rank`-th largest lower bound, rank = twice the number of the k nearest the
      // sample holds on average (+4). Without a seed the first thousands of columns all pass.
      // A seed is a guess, checked at the end: the row is searched again without it unless the
      // final threshold (a proven lower bound) is at least the seed.
      if (samplePairs > 0) {
        for (int64_t tile = g0; tile < g1; ++tile) {
          const int64_t r0 = tile * kMR, local0 = r0 - rowBase;
          for (int64_t r = 0; r < kMR; ++r) seedLows[local0 + r].clear();
          for (int64_t s = 0; s < samplePairs; ++s) {
            const int64_t c0 = s * (nPairs / samplePairs) * kNR;
            microKernel(qTest.data() + r0 * dPad, packed.data() + c0 * dPad, quads,
                        rowScale.data() + r0, rowOffset.data() + r0, rowNorm.data() + r0,
                        rowErr.data() + r0, thresholds.data() + local0, colScale.data() + c0,
                        colBias.data() + c0, colErr.data() + c0, colNorm.data() + c0, sims, masks);
            for (int64_t r = 0; r < kMR; ++r) {
              // The seedRank largest lower bounds so far, as a min-heap: most columns fail the
              // first comparison (a selection over all 2048 took half the seeding's time).
              auto& heap = seedLows[local0 + r];
              for (int64_t c = 0; c < kNR; ++c) {
                const float low = sims[r * kNR + c] - spread(r0 + r, c0 + c) - slack;
                if (static_cast<int64_t>(heap.size()) < seedRank) {
                  heap.push_back(low);
                  std::push_heap(heap.begin(), heap.end(), std::greater<float>());
                } else if (low > heap.front()) {
                  std::pop_heap(heap.begin(), heap.end(), std::greater<float>());
                  heap.back() = low;
                  std::push_heap(heap.begin(), heap.end(), std::greater<float>());
                }
              }
            }
          }
          for (int64_t r = 0; r < kMR; ++r)
            thresholds[local0 + r] = seeds[local0 + r] = seedLows[local0 + r].front() - 2 * slack;
        }
      }
      for (int64_t pair0 = 0; pair0 < nTrainPad / kNR; pair0 += kBlockPairs) {
        const int64_t pair1 = std::min(nTrainPad / kNR, pair0 + kBlockPairs);
        for (int64_t tile = g0; tile < g1; ++tile) {
          const int64_t r0 = tile * kMR, local0 = r0 - rowBase;
          for (int64_t pair = pair0; pair < pair1; ++pair) {
            const int64_t c0 = pair * kNR;
            microKernel(qTest.data() + r0 * dPad, packed.data() + c0 * dPad, quads,
                        rowScale.data() + r0, rowOffset.data() + r0, rowNorm.data() + r0,
                        rowErr.data() + r0, thresholds.data() + local0, colScale.data() + c0,
                        colBias.data() + c0, colErr.data() + c0, colNorm.data() + c0, sims, masks);
            for (int64_t r = 0; r < kMR; ++r) {
              uint32_t m = masks[r];
              if (m == 0) continue;
              auto& list = cands[local0 + r];
              while (m) {
                const int bit = __builtin_ctz(m);
                m &= m - 1;
                list.push_back({sims[r * kNR + bit], static_cast<int32_t>(c0 + bit)});
              }
              if (list.size() > caps[local0 + r]) prune(local0 + r);
            }
          }
        }
      }
      // Re-rank the survivors with float32 dot products and hand over the k best. A row
      // whose seed was too high (final threshold below it) is re-ranked over all columns.
      const int64_t valid = std::min(rows, nTest - rowBase);
      for (int64_t i = 0; i < valid; ++i) {
        const bool seedHeld = prune(i) >= seeds[i];
        auto& list = cands[i];
        if (!seedHeld) {
          ++fallbacksHere;
          list.resize(nTrain);
          for (int64_t c = 0; c < nTrain; ++c) list[c] = {0.0f, static_cast<int32_t>(c)};
        }
        exacts[i].resize(list.size());
        cursors[i] = 0;
        candidatesHere += static_cast<int64_t>(list.size());
      }
      // One block of training rows at a time, every list's columns in it (each list is in
      // column order): the group's lists share many rows (45,000 distinct in 118,000 for a
      // group on Fashion-MNIST features), which are then read from memory once and from the
      // cache after, where row by row each was a scattered read (re-rank 0.24 -> 0.15 s).
      for (int64_t c0 = 0; c0 < nTrain; c0 += kRerankRows) {
        const int64_t c1 = std::min(nTrain, c0 + kRerankRows);
        for (int64_t i = 0; i < valid; ++i) {
          const auto& list = cands[i];
          KnnEntry* out = exacts[i].data();
          const float* x = testPtr + (rowBase + i) * d;
          size_t p = cursors[i];
          for (; p < list.size() && list[p].col < c1; ++p) {
            const int64_t col = list[p].col;
            out[p] = KnnEntry(dotF32(x, trainPtr + col * d, d), col);
          }
          cursors[i] = p;
        }
      }
      for (int64_t i = 0; i < valid; ++i) {
        auto& exact = exacts[i];
        std::nth_element(exact.begin(), exact.begin() + (k - 1), exact.end(),
                         [](const KnnEntry& a, const KnnEntry& b) { return a.first > b.first; });
        onRow(rowBase + i, exact.data(), k);
      }
    }
    totalCandidates += candidatesHere;
    totalFallbacks += fallbacksHere;
  };
  // Plain threads taking groups from the counter above rather than at::parallel_for's static
  // split (a busy machine leaves one thread waiting for the other). The loop runs no ATen ops.
  std::vector<std::thread> helpers;
  for (int64_t t = 1; t < nThreads; ++t) helpers.emplace_back(worker);
  worker();
  for (auto& t : helpers) t.join();
  KnnInt8Stats stats;
  stats.meanCandidates = static_cast<double>(totalCandidates.load()) / std::max<int64_t>(1, nTest);
  stats.reSearchedRows = totalFallbacks.load();
  return stats;
}

}  // namespace pretext::detail
