#include "core/train/tensorboard.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "core/util/error.h"

namespace pretext {

namespace {

std::array<uint32_t, 256> makeCrc32cTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected Castagnoli
    table[i] = c;
  }
  return table;
}

// Protobuf's wire format, the few pieces an Event needs.
void putVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

template <class T>
void putLittleEndian(std::string& out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));  // x86 and arm64 hosts are little-endian
  out.append(bytes, sizeof(T));
}

void putLengthDelimited(std::string& out, int field, const std::string& bytes) {
  putVarint(out, (uint64_t(field) << 3) | 2);
  putVarint(out, bytes.size());
  out += bytes;
}

double secondsSinceEpoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = makeCrc32cTable();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t maskedCrc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string scalarEventProto(const std::string& tag, double value, int64_t step, double wallTime) {
  std::string summaryValue;  // Summary.Value: tag = 1, simple_value = 2 (float)
  putLengthDelimited(summaryValue, 1, tag);
  putVarint(summaryValue, (2 << 3) | 5);
  putLittleEndian(summaryValue, static_cast<float>(value));
  std::string summary;  // Summary: value = 1 (repeated)
  putLengthDelimited(summary, 1, summaryValue);
  std::string event;  // Event: wall_time = 1 (double), step = 2 (int64), summary = 5
  putVarint(event, (1 << 3) | 1);
  putLittleEndian(event, wallTime);
  putVarint(event, 2 << 3);
  putVarint(event, static_cast<uint64_t>(step));
  putLengthDelimited(event, 5, summary);
  return event;
}

std::string eventRecord(const std::string& data) {
  std::string record;
  const uint64_t length = data.size();
  putLittleEndian(record, length);
  putLittleEndian(record, maskedCrc32c(record.data(), sizeof length));
  record += data;
  putLittleEndian(record, maskedCrc32c(data.data(), data.size()));
  return record;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  path_ = dir + "/events.out.tfevents." +
          std::to_string(static_cast<int64_t>(secondsSinceEpoch())) + "." + host;
  out_.open(path_, std::ios::binary | std::ios::app);
  if (ec || !out_)
    throw Error(path_ +
                ": cannot write TensorBoard's event file (run.tensorboard = false turns it off)");
  std::string version;  // Event: wall_time = 1, file_version = 3
  putVarint(version, (1 << 3) | 1);
  putLittleEndian(version, secondsSinceEpoch());
  putLengthDelimited(version, 3, "brain.Event:2");
  out_ << eventRecord(version);
  out_.flush();
}

void TensorBoardWriter::scalar(const std::string& tag, double value, int64_t step) {
  out_ << eventRecord(scalarEventProto(tag, value, step, secondsSinceEpoch()));
}

void TensorBoardWriter::flush() { out_.flush(); }

}  // namespace pretext
