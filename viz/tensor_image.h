#pragma once
// Tensor <-> QImage conversion for the pictures the window shows.
#include <ATen/core/Tensor.h>

#include <QImage>

namespace pretext {

// A [C,H,W] tensor -> QImage. Floating-point tensors are read as values in [0,1] (scaled by
// 255 and rounded), integer tensors as bytes; values outside the range are clamped. C = 1 gives
// Format_Grayscale8, C = 3 gives Format_RGB888 (channel 0 is red). Any device, dtype or
// memory layout is accepted; the result owns its pixels. Throws pretext::Error on other shapes.
QImage tensorToImage(const at::Tensor& chw);

// The bytes an image tensor stands for: a uint8 CPU tensor of the same shape, converted as
// tensorToImage does (floating point: x255, rounded; all: clamped to [0,255]).
at::Tensor toImageBytes(const at::Tensor& images);

// A QImage -> float [channels,H,W] in [0,1] on the CPU. channels = 1 converts to grayscale,
// channels = 3 to RGB; any alpha channel is dropped. Throws pretext::Error for a null image
// or another channel count.
at::Tensor imageToTensor(const QImage& image, int channels);

// A picture of any size -> float [1,channels,height,width] in [0,1], the shape of a data set's
// images: centre-cropped to the target aspect ratio, then smoothly scaled. Throws pretext::Error
// for a null image.
at::Tensor imageToDataTensor(const QImage& image, int channels, int height, int width);

}  // namespace pretext
