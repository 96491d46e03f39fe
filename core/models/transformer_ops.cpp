#include "core/models/transformer_ops.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <functional>
#include <future>

#ifdef PRETEXT_HAVE_DNNL
#include <dnnl.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>
#endif

namespace pretext {

namespace {

namespace ag = torch::autograd;

#ifdef PRETEXT_HAVE_DNNL
std::atomic<bool> oneDnnOn{true};
#endif

// fp32 CPU tensors outside CPU autocast: oneDNN's domain, where the build has it.
[[maybe_unused]] bool onOneDnn(const torch::Tensor& t) {
#ifdef PRETEXT_HAVE_DNNL
  return oneDnnOn.load(std::memory_order_relaxed) && t.device().is_cpu() &&
         t.scalar_type() == torch::kFloat && t.numel() > 0 && !at::autocast::is_cpu_enabled();
#else
  (void)t;
  return false;
#endif
}

// Runs `first` on LibTorch's inter-op pool and `second` here, and returns when both are done
// (the first's exception, if any, is rethrown; the pool never outlives what it references).
void sideBySide(const std::function<void()>& first, const std::function<void()>& second) {
  std::promise<void> done;
  auto finished = done.get_future();
  at::launch([&] {
    try {
      first();
      done.set_value();
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  try {
    second();
  } catch (...) {
    finished.wait();
    throw;
  }
  finished.get();
}

constexpr int64_t kMinSplitBatch = 64;  // below this, the second thread costs more than it saves

// [N,m,k] @ [N,k,n] -> [N,m,n], the two halves of the batch side by side.
torch::Tensor bmmSplit(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.size(0) < kMinSplitBatch || at::get_num_threads() < 2) return at::bmm(a, b);
  const int64_t n = a.size(0), h = n / 2;
  auto out = torch::empty({n, a.size(1), b.size(2)}, a.options());
  auto first = out.narrow(0, 0, h), second = out.narrow(0, h, n - h);
  sideBySide([&] { at::bmm_out(first, a.narrow(0, 0, h), b.narrow(0, 0, h)); },
             [&] { at::bmm_out(second, a.narrow(0, h, n - h), b.narrow(0, h, n - h)); });
  return out;
}

#ifdef PRETEXT_HAVE_DNNL
// out = scale * (a @ b) (+ bias) through oneDNN's matmul primitive: a [..., m, k], b [..., k, n],
// out [..., m, n] with 2 to 4 dimensions and the same leading sizes, fp32 CPU, each matrix with a
// unit stride in one of its last two dimensions (any other strides: views are read and written
// in place); bias [n] contiguous or undefined. Primitives are cached per shapes, strides and
// scale. A layout oneDNN has no kernel for is computed by LibTorch instead.
void dnnlMatmul(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& out,
                const torch::Tensor& bias = {}, float scale = 1.f) {
  using dt = dnnl::memory::data_type;
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  static std::mutex mutex;
  static std::map<std::vector<int64_t>, std::shared_ptr<dnnl::matmul>> cache;
  const int64_t rank = a.dim();
  std::vector<int64_t> key{rank, bias.defined() ? 1 : 0};
  int32_t scaleBits;
  std::memcpy(&scaleBits, &scale, sizeof scaleBits);
  key.push_back(scaleBits);
  for (const auto* t : {&a, &b, &out}) {
    key.insert(key.end(), t->sizes().begin(), t->sizes().end());
    key.insert(key.end(), t->strides().begin(), t->strides().end());
  }
  auto desc = [](const torch::Tensor& t) {
    return dnnl::memory::desc(t.sizes().vec(), dt::f32, t.strides().vec());
  };
  dnnl::memory::dims biasDims(rank, 1), biasStrides(rank, bias.defined() ? bias.numel() : 1);
  biasDims.back() = out.size(-1);
  biasStrides.back() = 1;
  const dnnl::memory::desc biasDesc(biasDims, dt::f32, biasStrides);
  std::shared_ptr<dnnl::matmul> primitive;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key);
    if (it == cache.end()) {
      if (cache.size() >= 512) cache.clear();  // shapes come and go (last batches, previews)
      std::shared_ptr<dnnl::matmul> made;
      try {
        dnnl::primitive_attr attr;
        if (scale != 1.f) attr.set_output_scales(0, {scale});
        auto d = bias.defined() ? dnnl::matmul::desc(desc(a), desc(b), biasDesc, desc(out))
                                : dnnl::matmul::desc(desc(a), desc(b), desc(out));
        made = std::make_shared<dnnl::matmul>(dnnl::matmul::primitive_desc(d, attr, engine));
      } catch (const dnnl::error&) {
        // no kernel for this layout: LibTorch below, remembered as such
      }
      it = cache.emplace(key, made).first;
    }
    primitive = it->second;
  }
  if (!primitive) {
    auto r = at::matmul(a, b);
    if (bias.defined()) r = r + bias;
    out.copy_(scale == 1.f ? r : r * scale);
    return;
  }
  dnnl::stream stream(engine);
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, dnnl::memory(desc(a), engine, a.data_ptr())},
      {DNNL_ARG_WEIGHTS, dnnl::memory(desc(b), engine, b.data_ptr())},
      {DNNL_ARG_DST, dnnl::memory(desc(out), engine, out.data_ptr())}};
  if (bias.defined()) args.emplace(DNNL_ARG_BIAS, dnnl::memory(biasDesc, engine, bias.data_ptr()));
  primitive->execute(stream, args);
  stream.wait();
}

// A matrix operand oneDNN can read: a unit stride in one of its last two dimensions.
torch::Tensor plainMatrices(const torch::Tensor& t) {
  return t.stride(-1) == 1 || t.stride(-2) == 1 ? t : t.contiguous();
}
#endif

torch::Tensor bmmFast(const torch::Tensor& a, const torch::Tensor& b) {
#ifdef PRETEXT_HAVE_DNNL
  if (onOneDnn(a) && onOneDnn(b)) {
    auto out = torch::empty({a.size(0), a.size(1), b.size(2)}, a.options());
    dnnlMatmul(plainMatrices(a), plainMatrices(b), out);
    return out;
  }
#endif
  if (a.device().is_cpu()) return bmmSplit(a, b);
  return at::bmm(a, b);
}

struct BatchedMatmul : public ag::Function<BatchedMatmul> {
  static torch::Tensor forward(ag::AutogradContext* ctx, const torch::Tensor& a,
                               const torch::Tensor& b) {
    ctx->save_for_backward({a, b});
    return bmmFast(a, b);
  }
  static ag::tensor_list backward(ag::AutogradContext* ctx, ag::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &a = saved[0], &b = saved[1];
    const auto g = grads[0].contiguous();
    // dL/da = g b^T, dL/db = a^T g, each through the same fast path as the forward product.
    auto ga = bmmFast(g, b.transpose(1, 2)), gb = bmmFast(a.transpose(1, 2), g);
    return {ga, gb};
  }
};

#ifdef PRETEXT_HAVE_DNNL
// x [M,K] W^T + b with every product on oneDNN (the bias folded into the forward product). No
// bias is an empty tensor (autograd functions take no undefined inputs).
struct OneDnnLinear : public ag::Function<OneDnnLinear> {
  static torch::Tensor forward(ag::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias) {
    const bool hasBias = bias.numel() > 0;
    ctx->save_for_backward({x, weight});
    ctx->saved_data["bias"] = hasBias;
    auto out = torch::empty({x.size(0), weight.size(0)}, x.options());
    dnnlMatmul(x, weight.t(), out, hasBias ? bias.contiguous() : torch::Tensor());
    return out;
  }
  static ag::tensor_list backward(ag::AutogradContext* ctx, ag::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1];
    const auto g = grads[0].contiguous();
    torch::Tensor gx, gw, gb;
    if (ctx->needs_input_grad(0)) {  // g [M,N] W [N,K]
      gx = torch::empty_like(x, at::MemoryFormat::Contiguous);
      dnnlMatmul(g, plainMatrices(w), gx);
    }
    if (ctx->needs_input_grad(1)) {  // g^T [N,M] x [M,K]
      gw = torch::empty({w.size(0), w.size(1)}, w.options());
      dnnlMatmul(g.t(), x, gw);
    }
    if (ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(2)) gb = g.sum(0);
    return {gx, gw, gb};
  }
};

// The attention of multiHeadAttention on oneDNN: q, k, v are strided views of qkv [B,L,3,H,hd]
// as [B,H,L,hd]; the output [B,L,H,hd] is written through its [B,H,L,hd] view. Saves qkv and the
// attention weights.
struct OneDnnAttention : public ag::Function<OneDnnAttention> {
  static std::array<torch::Tensor, 3> split(const torch::Tensor& qkv5) {
    return {qkv5.select(2, 0).permute({0, 2, 1, 3}), qkv5.select(2, 1).permute({0, 2, 1, 3}),
            qkv5.select(2, 2).permute({0, 2, 1, 3})};
  }
  static torch::Tensor forward(ag::AutogradContext* ctx, const torch::Tensor& qkv, int64_t heads) {
    const int64_t b = qkv.size(0), l = qkv.size(1), d = qkv.size(2) / 3, hd = d / heads;
    const auto qkv5 = qkv.view({b, l, 3, heads, hd});
    const auto [q, k, v] = split(qkv5);
    const float scale = float(1.0 / std::sqrt(double(hd)));
    auto scores = torch::empty({b, heads, l, l}, qkv.options());
    dnnlMatmul(q, k.transpose(2, 3), scores, {}, scale);
    auto attn = at::_softmax(scores, -1, false);
    auto out = torch::empty({b, l, heads, hd}, qkv.options());
    dnnlMatmul(attn, v, out.permute({0, 2, 1, 3}));
    ctx->save_for_backward({qkv, attn});
    ctx->saved_data["heads"] = heads;
    return out.view({b, l, d});
  }
  static ag::tensor_list backward(ag::AutogradContext* ctx, ag::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &qkv = saved[0], &attn = saved[1];
    const int64_t heads = ctx->saved_data["heads"].toInt();
    const int64_t b = qkv.size(0), l = qkv.size(1), d = qkv.size(2) / 3, hd = d / heads;
    const float scale = float(1.0 / std::sqrt(double(hd)));
    const auto [q, k, v] = split(qkv.view({b, l, 3, heads, hd}));
    const auto gOut = grads[0].contiguous().view({b, l, heads, hd}).permute({0, 2, 1, 3});
    auto gqkv = torch::empty({b, l, 3, heads, hd}, qkv.options());
    const auto [gq, gk, gv] = split(gqkv);
    auto gAttn = torch::empty({b, heads, l, l}, qkv.options());
    dnnlMatmul(gOut, v.transpose(2, 3), gAttn);  // dA = dO v^T
    dnnlMatmul(attn.transpose(2, 3), gOut, gv);  // dv = A^T dO
    auto gScores = at::_softmax_backward_data(gAttn, attn, -1, torch::kFloat);
    dnnlMatmul(gScores, k, gq, {}, scale);                  // dq = dS k / sqrt(hd)
    dnnlMatmul(gScores.transpose(2, 3), q, gk, {}, scale);  // dk = dS^T q / sqrt(hd)
    return {gqkv.view({b, l, 3 * d}), torch::Tensor()};
  }
};
#endif

}  // namespace

torch::Tensor batchedMatmul(const torch::Tensor& x, const torch::Tensor& y) {
  auto lead = x.sizes().slice(0, x.dim() - 2).vec();
  auto a = x.reshape({-1, x.size(-2), x.size(-1)}), b = y.reshape({-1, y.size(-2), y.size(-1)});
  auto out = BatchedMatmul::apply(a, b);
  lead.push_back(out.size(1));
  lead.push_back(out.size(2));
  return out.view(lead);
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias) {
#ifdef PRETEXT_HAVE_DNNL
  if (onOneDnn(x) && onOneDnn(weight)) {
    auto lead = x.sizes().slice(0, x.dim() - 1).vec();
    auto out = OneDnnLinear::apply(plainMatrices(x.reshape({-1, x.size(-1)})), weight,
                                   bias.defined() ? bias : torch::empty({0}, x.options()));
    lead.push_back(weight.size(0));
    return out.view(lead);
  }
#endif
  return at::linear(x, weight, bias);
}

torch::Tensor multiHeadAttention(const torch::Tensor& qkv, int64_t heads) {
  TORCH_CHECK(qkv.dim() == 3 && qkv.size(2) % (3 * heads) == 0,
              "multiHeadAttention: expected qkv [B,L,3D] with D divisible by ", heads,
              " heads, got ", qkv.sizes());
  const int64_t b = qkv.size(0), l = qkv.size(1), d = qkv.size(2) / 3, hd = d / heads;
#ifdef PRETEXT_HAVE_DNNL
  if (onOneDnn(qkv)) return OneDnnAttention::apply(qkv.contiguous(), heads);
#endif
  auto qkv5 = qkv.reshape({b, l, 3, heads, hd}).permute({2, 0, 3, 1, 4});
  auto q = qkv5[0], k = qkv5[1], v = qkv5[2];
  auto attn = torch::softmax(batchedMatmul(q, k.transpose(-2, -1)) / std::sqrt(double(hd)), -1);
  return batchedMatmul(attn, v).transpose(1, 2).reshape({b, l, d});
}

const char* transformerKernel() {
#ifdef PRETEXT_HAVE_DNNL
  if (oneDnnOn.load()) return "onednn";
#endif
  return "libtorch";
}

bool useOneDnnTransformerOps(bool on) {
#ifdef PRETEXT_HAVE_DNNL
  oneDnnOn.store(on);
  return on;
#else
  (void)on;
  return false;
#endif
}

}  // namespace pretext
