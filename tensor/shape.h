// Shapes up to 5-D with int64 extents.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace tilenet {

// f32 and f16 hold values; i32 holds integer labels and indices (no arithmetic ops).
enum class DType { f32, f16, i32 };

inline std::size_t itemsize(DType t) { return t == DType::f16 ? 2 : 4; }
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::i32: return "i32";
  }
  return "?";
}

class Shape {
 public:
  static constexpr int kMaxDims = 5;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(const std::vector<std::int64_t>& dims);

  int ndim() const { return ndim_; }
  // Negative indices count from the end (-1 is the last dimension). Throws ShapeError if out of range.
  std::int64_t operator[](int i) const;
  // Mutable extent. Must stay >= 0; a product that no longer fits int64 makes numel() throw.
  std::int64_t& at(int i);
  // Product of the extents. Shapes whose product does not fit int64 are rejected when constructed
  // (ShapeError naming the shape), so a mistyped huge shape fails here, not as a tiny allocation.
  std::int64_t numel() const;
  // Product of all dimensions but the last (1 for 0-D/1-D), and the last (1 for 0-D).
  std::int64_t rows() const;
  std::int64_t cols() const;
  std::vector<std::int64_t> vec() const { return {dims_.begin(), dims_.begin() + ndim_}; }
  // "(128, 784)"
  std::string str() const;

  friend bool operator==(const Shape& a, const Shape& b);
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

 private:
  std::array<std::int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

// *out = a * b; false (and *out unspecified) when the product overflows int64.
bool checked_mul(std::int64_t a, std::int64_t b, std::int64_t* out);

}  // namespace tilenet
