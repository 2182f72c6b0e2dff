// Reading a fuzz input as a small structured program: bytes, little-endian integers and
// length-prefixed records, taken from the front. A reader past the end yields zeros and empty
// records, so every byte string is a valid input and the seed files stay easy to write by
// hand (fuzz/tools/make_seeds.py writes them in the same layout).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace readerlab::fuzz {

class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) : bytes_(data, size) {}

  bool empty() const { return offset_ >= bytes_.size(); }
  std::size_t remaining() const { return bytes_.size() - offset_; }

  std::uint8_t peek() const { return empty() ? 0 : bytes_[offset_]; }
  std::uint8_t byte() { return empty() ? 0 : bytes_[offset_++]; }
  std::uint16_t u16() {
    const std::uint16_t low = byte();
    return static_cast<std::uint16_t>(low | byte() << 8);
  }
  std::uint32_t u32() {
    const std::uint32_t low = u16();
    return low | static_cast<std::uint32_t>(u16()) << 16;
  }
  bool flag() { return (byte() & 1) != 0; }

  // Up to `count` bytes (fewer when the input ends).
  std::span<const std::uint8_t> take(std::size_t count) {
    const std::size_t n = std::min(count, remaining());
    auto part = bytes_.subspan(offset_, n);
    offset_ += n;
    return part;
  }
  std::vector<std::uint8_t> bytes(std::size_t count) {
    auto part = take(count);
    return {part.begin(), part.end()};
  }
  // A record of one length byte then that many bytes.
  std::vector<std::uint8_t> record8() { return bytes(byte()); }
  // A record of a 16-bit little-endian length then that many bytes.
  std::vector<std::uint8_t> record16() { return bytes(u16()); }
  std::span<const std::uint8_t> rest() { return take(remaining()); }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t offset_ = 0;
};

// A broken invariant that no sanitizer sees: abort so libFuzzer keeps the input.
[[noreturn]] void invariant_failed(const char* what, const char* file, int line);
#define READERLAB_FUZZ_CHECK(condition) \
  ((condition) ? void(0) : ::readerlab::fuzz::invariant_failed(#condition, __FILE__, __LINE__))

}  // namespace readerlab::fuzz
