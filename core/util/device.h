#pragma once
#include <c10/core/Device.h>

#include <string>

namespace pretext {

// "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:N". Throws pretext::Error
// when CUDA is asked for but absent (this LibTorch build has no CUDA, or no such device).
c10::Device resolveDevice(const std::string& spec);
// "CPU (2 threads)" or "cuda:0 (NVIDIA H100 80GB HBM3)".
std::string describeDevice(const c10::Device& device);

}  // namespace pretext
