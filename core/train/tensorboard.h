#pragma once
// TensorBoard's event files, written by hand (TensorBoard's format is small and stable; no
// protobuf library is needed to write it): RUN/tb/events.out.tfevents.<seconds>.<host>, a
// sequence of records, each
//   uint64 length | uint32 masked CRC-32C of the length | Event protobuf | uint32 masked CRC-32C
// where the first Event holds file_version "brain.Event:2" and each later one a wall time, a
// step and a Summary of scalar values (tag, simple_value). `tensorboard --logdir runs` reads them.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

namespace pretext {

// CRC-32C (Castagnoli), and TensorBoard's masking of it: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t crc32c(const void* data, size_t size);
uint32_t maskedCrc32c(const void* data, size_t size);

// One Event protobuf: a scalar `value` under `tag` at `step`, `wallTime` seconds since 1970.
std::string scalarEventProto(const std::string& tag, double value, int64_t step, double wallTime);
// The record framing of `data` (length, its CRC, data, its CRC).
std::string eventRecord(const std::string& data);

class TensorBoardWriter {
 public:
  // Creates `dir` and a new event file in it; throws pretext::Error naming it when it cannot.
  explicit TensorBoardWriter(const std::string& dir);
  void scalar(const std::string& tag, double value, int64_t step);
  void flush();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace pretext
