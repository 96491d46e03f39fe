#include "core/models/batched_matmul.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <exception>
#include <functional>
#include <future>

#ifdef PRETEXT_HAVE_DNNL
#include <dnnl.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#endif

namespace pretext {

namespace {

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
// oneDNN's matmul on [N,m,k] @ [N,k,n] fp32 CPU tensors, either operand row-major or a
// transposed view of one (no copy); primitives are cached per shape and strides.
torch::Tensor bmmOneDnn(torch::Tensor a, torch::Tensor b) {
  auto plain = [](torch::Tensor& t) {  // the matrices must have a unit stride
    if (t.stride(2) != 1 && t.stride(1) != 1) t = t.contiguous();
  };
  plain(a);
  plain(b);
  const int64_t n = a.size(0), m = a.size(1), k = a.size(2), cols = b.size(2);
  auto out = torch::empty({n, m, cols}, a.options());
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                         int64_t, int64_t>;
  const Key key{n, m, k, cols, a.stride(0), a.stride(1), a.stride(2),
                b.stride(0), b.stride(1), b.stride(2)};
  static std::mutex mutex;
  static std::map<Key, std::shared_ptr<dnnl::matmul>> cache;
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  using dt = dnnl::memory::data_type;
  const dnnl::memory::desc ad({n, m, k}, dt::f32, {a.stride(0), a.stride(1), a.stride(2)});
  const dnnl::memory::desc bd({n, k, cols}, dt::f32, {b.stride(0), b.stride(1), b.stride(2)});
  const dnnl::memory::desc cd({n, m, cols}, dt::f32, dnnl::memory::format_tag::abc);
  std::shared_ptr<dnnl::matmul> primitive;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key);
    if (it == cache.end()) {
      if (cache.size() >= 256) cache.clear();  // shapes come and go (last batches, previews)
      auto pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(ad, bd, cd), engine);
      it = cache.emplace(key, std::make_shared<dnnl::matmul>(pd)).first;
    }
    primitive = it->second;
  }
  dnnl::stream stream(engine);
  dnnl::memory am(ad, engine, a.data_ptr()), bm(bd, engine, b.data_ptr()),
      cm(cd, engine, out.data_ptr());
  primitive->execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
  stream.wait();
  return out;
}
#endif

bool useOneDnn(const torch::Tensor& a, const torch::Tensor& b) {
#ifdef PRETEXT_HAVE_DNNL
  return a.device().is_cpu() && b.device().is_cpu() && a.scalar_type() == torch::kFloat &&
         b.scalar_type() == torch::kFloat && a.numel() > 0 && b.numel() > 0;
#else
  return false;
#endif
}

torch::Tensor bmmFast(const torch::Tensor& a, const torch::Tensor& b) {
#ifdef PRETEXT_HAVE_DNNL
  if (useOneDnn(a, b)) return bmmOneDnn(a, b);
#endif
  if (a.device().is_cpu()) return bmmSplit(a, b);
  return at::bmm(a, b);
}

struct BatchedMatmul : public torch::autograd::Function<BatchedMatmul> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& a,
                               const torch::Tensor& b) {
    ctx->save_for_backward({a, b});
    return bmmFast(a, b);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &a = saved[0], &b = saved[1];
    const auto g = grads[0].contiguous();
    // dL/da = g b^T, dL/db = a^T g, each through the same fast path as the forward product.
    auto ga = bmmFast(g, b.transpose(1, 2)), gb = bmmFast(a.transpose(1, 2), g);
    return {ga, gb};
  }
};

}  // namespace

torch::Tensor batchedMatmul(const torch::Tensor& x, const torch::Tensor& y) {
  auto lead = x.sizes().slice(0, x.dim() - 2).vec();
  auto a = x.reshape({-1, x.size(-2), x.size(-1)}), b = y.reshape({-1, y.size(-2), y.size(-1)});
  auto out = BatchedMatmul::apply(a, b);
  lead.push_back(out.size(1));
  lead.push_back(out.size(2));
  return out.view(lead);
}

const char* batchedMatmulKernel() {
#ifdef PRETEXT_HAVE_DNNL
  return "onednn";
#else
  return "split";
#endif
}

}  // namespace pretext
