#include "core/eval/npy.h"

#include <torch/torch.h>

#include <cstdint>
#include <fstream>

#include "core/train/run_dir.h"
#include "core/util/error.h"

namespace pretext {

namespace {

std::string npyDescr(const torch::Tensor& values) {
  switch (values.scalar_type()) {
    case torch::kFloat:
      return "<f4";
    case torch::kDouble:
      return "<f8";
    case torch::kInt:
      return "<i4";
    case torch::kLong:
      return "<i8";
    default:
      throw Error(std::string("cannot write a .npy of ") + c10::toString(values.scalar_type()) +
                  " values: float32, float64, int32 and int64 are supported");
  }
}

}  // namespace

std::string npyHeader(const torch::Tensor& values) {
  std::string shape;  // Python's tuple: (), (N,), (N, D)
  for (int64_t d = 0; d < values.dim(); ++d)
    shape += (d ? ", " : "") + std::to_string(values.size(d));
  shape = "(" + shape + (values.dim() == 1 ? ",)" : ")");
  std::string dict =
      "{'descr': '" + npyDescr(values) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // magic (6) + version (2) + length (2) + dict + padding + '\n': a multiple of 64.
  const size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::string header = "\x93NUMPY";
  header += '\x01';
  header += '\x00';
  header += static_cast<char>(dict.size() & 0xff);
  header += static_cast<char>((dict.size() >> 8) & 0xff);
  return header + dict;
}

void writeNpy(const std::string& path, const torch::Tensor& values) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the .npy writer assumes little-endian");
  const std::string header = npyHeader(values);
  const torch::Tensor data = values.detach().to(torch::kCPU).contiguous();
  writeFileAtomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw Error(path + ": cannot write (is the folder writable?)");
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(static_cast<const char*>(data.data_ptr()),
              static_cast<std::streamsize>(data.numel() * data.element_size()));
    out.flush();
    if (!out) throw Error(path + ": writing failed (disk full?)");
  });
}

}  // namespace pretext
