#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <string>

namespace pretext {

// "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:N". Throws pretext::Error
// when CUDA is asked for but absent (this LibTorch build has no CUDA, or no such device).
c10::Device resolveDevice(const std::string& spec);
// True on an x86 CPU without native bf16 (AVX512-BF16 or AMX-BF16), where LibTorch's CPU
// autocast emulates bf16 and runs slower than fp32. False elsewhere (other architectures are
// not checked).
bool cpuLacksNativeBf16();
// "CPU (2 threads)" or "cuda:0 (NVIDIA H100 80GB HBM3)".
std::string describeDevice(const c10::Device& device);

// A small host tensor (per-sample parameters drawn from a CPU generator, labels) moved to
// `device`, in `dtype` when given. On CUDA it goes through pinned memory without waiting: a
// copy from pageable memory first waits for every queued kernel, a host sync in the middle of
// the step that leaves the GPU idle while the host launches the rest. (LibTorch's pinned
// allocator keeps the block until the queued copy has run.) Elsewhere a plain to().
at::Tensor toDevice(const at::Tensor& t, const c10::Device& device,
                    c10::optional<at::ScalarType> dtype = c10::nullopt);

}  // namespace pretext
