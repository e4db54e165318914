// Tensor: a shape, a dtype (f32, f16) and a device (cpu, cuda:N) over contiguous storage held by a
// refcounted buffer. Views (reshape, slice along dim 0) share the buffer. Copies between devices
// are explicit (to()). Copies that touch host memory (to or from the host) synchronise, because host
// memory is pageable; copies between or within devices are queued on the current stream and return
// at once. CUDA memory is freed in stream order (see tensor/stream.h before using a tensor on
// another stream).
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "tensor/device.h"
#include "tensor/error.h"
#include "tensor/half.h"
#include "tensor/shape.h"

namespace tilenet {

// The owned allocation behind one or more tensors.
class Storage {
 public:
  Storage(std::size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
};

template <typename T>
constexpr DType dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, half> || std::is_same_v<T, std::int32_t>,
                "tensor element must be float, half or int32_t");
  if constexpr (std::is_same_v<T, float>) return DType::f32;
  if constexpr (std::is_same_v<T, half>) return DType::f16;
  return DType::i32;
}

class Tensor {
 public:
  Tensor() = default;  // undefined tensor: defined() is false

  // Uninitialised memory. A shape whose size in bytes does not fit size_t throws ShapeError; a
  // request the host or device cannot satisfy throws OutOfMemoryError.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  // For i32, `value` must be a number in the int32 range (ValueError otherwise); it is truncated.
  static Tensor full(const Shape& shape, float value, DType dtype = DType::f32,
                     Device device = Device::cpu());
  // Copies host values (f32) into a new tensor of `shape` on `device`, converted to `dtype`.
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                            Device device = Device::cpu(), DType dtype = DType::f32);
  // Integer tensor (labels, indices) from host values.
  static Tensor from_ints(const std::vector<std::int32_t>& values, const Shape& shape, Device device = Device::cpu());
  // Counter-based random values: the same seed gives the same values on CPU and GPU.
  static Tensor uniform(const Shape& shape, float low, float high, std::uint64_t seed,
                        Device device = Device::cpu(), DType dtype = DType::f32);
  static Tensor normal(const Shape& shape, float mean, float stddev, std::uint64_t seed,
                       Device device = Device::cpu(), DType dtype = DType::f32);

  bool defined() const { return static_cast<bool>(storage_); }
  const Shape& shape() const { return shape_; }
  int ndim() const { return shape_.ndim(); }
  std::int64_t dim(int i) const { return shape_[i]; }
  std::int64_t numel() const { return shape_.numel(); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool is_cuda() const { return device_.is_cuda(); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * itemsize(dtype_); }

  void* raw_data() const;
  // Typed pointer; throws DtypeError when T does not match dtype().
  template <typename T>
  T* data() const {
    check_dtype(dtype_of<T>(), "Tensor::data");
    return static_cast<T*>(raw_data());
  }

  // Copy to another device (same dtype) or convert between f32 and f16 (same device). Returns
  // *this (sharing storage) when nothing changes.
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor cpu() const { return to(Device::cpu()); }
  Tensor cuda(int index = 0) const { return to(Device::cuda(index)); }
  Tensor clone() const;
  // Copies src into this tensor: same shape and dtype, any devices. Overlapping views of one
  // storage are fine (the result is as if src were first copied aside). Host <-> device copies
  // synchronise; device copies are queued on the destination device's current stream, and a copy
  // between two devices is also ordered after the work queued on the source device's current stream.
  void copy_from(const Tensor& src);

  // Same data, new shape with the same number of elements; one extent may be -1. For a Shape s,
  // pass s.vec().
  Tensor reshape(const std::vector<std::int64_t>& dims) const;
  // Rows [begin, end) along dimension 0 as a view.
  Tensor slice(std::int64_t begin, std::int64_t end) const;

  // Host copy of the values as f32 (synchronises for CUDA tensors); i32 values are converted.
  std::vector<float> to_vector() const;
  // Host copy of an i32 tensor.
  std::vector<std::int32_t> to_ints() const;
  // The single element of a one-element tensor.
  float item() const;
  // Debug print: shape, dtype, device and up to `max_values` values.
  std::string str(std::int64_t max_values = 16) const;

  bool shares_storage_with(const Tensor& o) const { return storage_ && storage_ == o.storage_; }
  // Throws DtypeError naming `op` when dtype() != expected.
  void check_dtype(DType expected, const char* op) const;

 private:
  Tensor(std::shared_ptr<Storage> storage, std::size_t offset, Shape shape, DType dtype, Device device)
      : storage_(std::move(storage)), offset_(offset), shape_(shape), dtype_(dtype), device_(device) {}

  std::shared_ptr<Storage> storage_;
  std::size_t offset_ = 0;  // bytes from the start of storage_
  Shape shape_;
  DType dtype_ = DType::f32;
  Device device_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Argument checks shared by ops: each throws the matching error type naming `op`.
void check_defined(const Tensor& t, const char* op, const char* name);
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);
void check_same_shape(const Tensor& a, const Tensor& b, const char* op);

}  // namespace tilenet
