#include "tensor/shape.h"

#include <cstdint>

#include "tensor/error.h"

namespace tilenet {

Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(std::vector<std::int64_t>(dims)) {}

Shape::Shape(const std::vector<std::int64_t>& dims) {
  if (dims.size() > kMaxDims)
    throw ShapeError(detail::make_message("Shape: got ", dims.size(), " dimensions, at most ",
                                          kMaxDims, " are supported"));
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0)
      throw ShapeError(detail::make_message("Shape: dimension ", i, " is ", dims[i],
                                            "; extents must be >= 0"));
    dims_[i] = dims[i];
  }
  ndim_ = static_cast<int>(dims.size());
  (void)numel();  // rejects a shape whose element count does not fit int64
}

std::int64_t Shape::operator[](int i) const {
  const int j = i < 0 ? i + ndim_ : i;
  if (j < 0 || j >= ndim_)
    throw ShapeError(detail::make_message("Shape", str(), ": dimension index ", i,
                                          " out of range for ", ndim_, "-D shape"));
  return dims_[j];
}

std::int64_t& Shape::at(int i) {
  const int j = i < 0 ? i + ndim_ : i;
  if (j < 0 || j >= ndim_)
    throw ShapeError(detail::make_message("Shape", str(), ": dimension index ", i,
                                          " out of range for ", ndim_, "-D shape"));
  return dims_[j];
}

bool checked_mul(std::int64_t a, std::int64_t b, std::int64_t* out) { return !__builtin_mul_overflow(a, b, out); }

namespace {

// Product of dims[0, count): 0 when any extent is 0 (even if the others alone would overflow);
// ShapeError naming the shape when the product does not fit int64. Extents are never negative.
std::int64_t checked_product(const std::int64_t* dims, int count, const Shape& shape) {
  for (int i = 0; i < count; ++i)
    if (dims[i] == 0) return 0;
  std::int64_t n = 1;
  for (int i = 0; i < count; ++i)
    if (!checked_mul(n, dims[i], &n))
      throw ShapeError(detail::make_message("Shape", shape.str(), ": the number of elements overflows int64 (more than ",
                                            INT64_MAX, ")"));
  return n;
}

}  // namespace

std::int64_t Shape::numel() const { return checked_product(dims_.data(), ndim_, *this); }

std::int64_t Shape::rows() const { return checked_product(dims_.data(), ndim_ > 0 ? ndim_ - 1 : 0, *this); }

std::int64_t Shape::cols() const { return ndim_ == 0 ? 1 : dims_[ndim_ - 1]; }

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < ndim_; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[i]);
  }
  if (ndim_ == 1) s += ",";
  return s + ")";
}

bool operator==(const Shape& a, const Shape& b) {
  if (a.ndim_ != b.ndim_) return false;
  for (int i = 0; i < a.ndim_; ++i)
    if (a.dims_[i] != b.dims_[i]) return false;
  return true;
}

}  // namespace tilenet
