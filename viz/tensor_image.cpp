#include "viz/tensor_image.h"

#include <torch/torch.h>

#include <cstring>
#include <string>

#include "core/util/error.h"

namespace pretext {

namespace {

std::string shapeString(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "," : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

torch::Tensor toImageBytes(const torch::Tensor& images) {
  torch::Tensor t = images.detach().to(torch::kCPU);
  if (t.scalar_type() == torch::kUInt8) return t;
  if (t.is_floating_point())
    return t.to(torch::kFloat).mul(255.0).round().clamp(0, 255).to(torch::kUInt8);
  return t.clamp(0, 255).to(torch::kUInt8);
}

QImage tensorToImage(const torch::Tensor& chw) {
  if (!chw.defined()) throw Error("tensorToImage: undefined tensor");
  if (chw.dim() != 3 || (chw.size(0) != 1 && chw.size(0) != 3))
    throw Error("tensorToImage: expected a [C,H,W] tensor with C = 1 or 3, got " +
                shapeString(chw));
  // [C,H,W] -> [H,W,C], contiguous: one row of the image is W*C bytes.
  const torch::Tensor bytes = toImageBytes(chw).permute({1, 2, 0}).contiguous();
  const int c = static_cast<int>(chw.size(0));
  const int h = static_cast<int>(chw.size(1));
  const int w = static_cast<int>(chw.size(2));
  QImage image(w, h, c == 1 ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
  if (image.isNull() && w > 0 && h > 0) throw Error("tensorToImage: out of memory for image");
  const uint8_t* src = bytes.data_ptr<uint8_t>();
  const size_t rowBytes = static_cast<size_t>(w) * c;
  for (int y = 0; y < h; ++y) std::memcpy(image.scanLine(y), src + y * rowBytes, rowBytes);
  return image;
}

torch::Tensor imageToTensor(const QImage& image, int channels) {
  if (image.isNull()) throw Error("imageToTensor: null image");
  if (channels != 1 && channels != 3)
    throw Error("imageToTensor: channels must be 1 or 3, got " + std::to_string(channels));
  const QImage converted =
      image.convertToFormat(channels == 1 ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
  const int w = converted.width();
  const int h = converted.height();
  const size_t rowBytes = static_cast<size_t>(w) * channels;
  torch::Tensor hwc = torch::empty({h, w, channels}, torch::kUInt8);
  uint8_t* dst = hwc.data_ptr<uint8_t>();
  // Scan lines are padded to 4 bytes: copy row by row.
  for (int y = 0; y < h; ++y) std::memcpy(dst + y * rowBytes, converted.constScanLine(y), rowBytes);
  return hwc.permute({2, 0, 1}).to(torch::kFloat).div_(255.0).contiguous();
}

torch::Tensor imageToDataTensor(const QImage& image, int channels, int height, int width) {
  if (image.isNull()) throw Error("the image is empty (it could not be read)");
  QImage img = image;
  const double target = double(width) / height, have = double(img.width()) / img.height();
  if (have > target) {
    const int cw = std::max(1, int(img.height() * target));
    img = img.copy((img.width() - cw) / 2, 0, cw, img.height());
  } else if (have < target) {
    const int ch = std::max(1, int(img.width() / target));
    img = img.copy(0, (img.height() - ch) / 2, img.width(), ch);
  }
  img = img.scaled(width, height, Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
  return imageToTensor(img, channels).unsqueeze(0);
}

}  // namespace pretext
