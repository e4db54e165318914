#include "tensor/shape.h"

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

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= dims_[i];
  return n;
}

std::int64_t Shape::rows() const {
  std::int64_t n = 1;
  for (int i = 0; i + 1 < ndim_; ++i) n *= dims_[i];
  return n;
}

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
