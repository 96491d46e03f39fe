#include "core/util/device.h"

#include <cstdlib>

#include <torch/torch.h>

#include "core/util/error.h"

namespace pretext {

c10::Device resolveDevice(const std::string& spec) {
  if (spec == "cpu") return torch::kCPU;
  const bool cuda = torch::cuda::is_available();
  if (spec == "auto") return cuda ? c10::Device(torch::kCUDA, 0) : c10::Device(torch::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    if (!cuda)
      throw Error("run.device = \"" + spec + "\": no CUDA device is available (this LibTorch " +
                  "build is CPU-only or no GPU is visible); use cpu or auto");
    int index = 0;
    if (spec.size() > 5) {
      try {
        index = std::stoi(spec.substr(5));
      } catch (...) {
        throw Error("run.device = \"" + spec + "\": expected cuda:N with N a number");
      }
    }
    if (index < 0 || index >= static_cast<int>(torch::cuda::device_count()))
      throw Error("run.device = \"" + spec + "\": there are " +
                  std::to_string(torch::cuda::device_count()) + " CUDA devices");
    return c10::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error("run.device = \"" + spec + "\": expected auto, cpu, cuda or cuda:N");
}

bool cpuLacksNativeBf16() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return !__builtin_cpu_supports("avx512bf16") && !__builtin_cpu_supports("amx-bf16");
#else
  return false;
#endif
}

std::string describeDevice(const c10::Device& device) {
  if (device.is_cpu()) {
    // How OpenMP's idle workers wait (useOpenMpWaitPolicy in core/util/threads.h): it decides
    // whether training keeps its speed beside other work.
    const char* policy = std::getenv("OMP_WAIT_POLICY");
    const char* spin = std::getenv("GOMP_SPINCOUNT");
    std::string waiting = policy ? std::string("OMP_WAIT_POLICY=") + policy
                          : spin ? std::string("GOMP_SPINCOUNT=") + spin
                                 : "idle workers spin";
    return "CPU (" + std::to_string(at::get_num_threads()) + " threads, " + waiting + ")";
  }
  return device.str();
}

at::Tensor toDevice(const at::Tensor& t, const c10::Device& device,
                    c10::optional<at::ScalarType> dtype) {
  auto typed = dtype && t.scalar_type() != *dtype ? t.to(*dtype) : t;
  if (!device.is_cuda() || !typed.device().is_cpu()) return typed.to(device);
  return typed.pin_memory().to(device, /*non_blocking=*/true);
}

}  // namespace pretext
