#include "tensor/tensor.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "kernels/elementwise.h"
#include "kernels/rng.h"
#include "tensor/memory.h"
#include "tensor/stream.h"

namespace tilenet {

Storage::Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cuda()) {
    require_cuda("Tensor allocation", device.index);
    data_ = bytes ? memory::cuda_allocate(bytes, device.index, cuda::current_stream(device.index)) : nullptr;
  } else {
    data_ = memory::host_allocate(bytes);
  }
}

Storage::~Storage() {
  if (device_.is_cuda())
    memory::cuda_deallocate(data_);
  else
    memory::host_deallocate(data_);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  const auto n = static_cast<std::size_t>(shape.numel());  // numel() itself rejects an int64 overflow
  if (n > SIZE_MAX / itemsize(dtype))
    throw ShapeError(detail::make_message("Tensor::empty: shape ", shape.str(), " of ", dtype_name(dtype), " needs ",
                                          n, " x ", itemsize(dtype), " bytes, more than size_t can count"));
  return Tensor(std::make_shared<Storage>(n * itemsize(dtype), device), 0, shape, dtype, device);
}

namespace {

void fill_tensor(Tensor& t, float value) {
  const std::int64_t n = t.numel();
  if (t.dtype() == DType::i32) {
    // Converting a float outside the int32 range (or NaN) is undefined behaviour: refuse it.
    if (!(value >= -2147483648.0f && value < 2147483648.0f))
      throw ValueError(detail::make_message("Tensor::full: value ", value, " does not fit an i32 tensor"));
    const std::int32_t v = static_cast<std::int32_t>(value);
    std::uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    const std::uint32_t byte = bits & 0xffu;
    if (t.is_cuda() && bits == byte * 0x01010101u) {
      // 0, -1 and other values made of one repeated byte: a memset on the current stream, no upload.
      if (n > 0)
        TILENET_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), static_cast<int>(byte), t.nbytes(),
                                           cuda::current_stream(t.device().index)));
    } else if (t.is_cuda()) {
      // Other values: an upload (an int fill kernel would belong in kernels/). copy_from synchronises.
      std::vector<std::int32_t> host(static_cast<std::size_t>(n), v);
      Tensor src = Tensor::from_ints(host, t.shape());
      t.copy_from(src);
    } else {
      std::int32_t* p = t.data<std::int32_t>();
      for (std::int64_t i = 0; i < n; ++i) p[i] = v;
    }
    return;
  }
  if (t.is_cuda()) {
    cudaStream_t s = cuda::current_stream(t.device().index);
    if (t.dtype() == DType::f32)
      kernels::fill(t.data<float>(), n, value, s);
    else
      kernels::fill(t.data<half>(), n, value, s);
  } else if (t.dtype() == DType::f32) {
    kernels::fill_ref(t.data<float>(), n, value);
  } else {
    kernels::fill_ref(t.data<half>(), n, value);
  }
}

}  // namespace

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0f, dtype, device); }

Tensor Tensor::full(const Shape& shape, float value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  fill_tensor(t, value);
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, Device device, DType dtype) {
  if (static_cast<std::int64_t>(values.size()) != shape.numel())
    throw ShapeError(detail::make_message("Tensor::from_vector: got ", values.size(), " values for shape ",
                                          shape.str(), " which holds ", shape.numel()));
  Tensor host = empty(shape, DType::f32, Device::cpu());
  if (!values.empty()) std::memcpy(host.raw_data(), values.data(), values.size() * sizeof(float));
  return host.to(dtype).to(device);
}

Tensor Tensor::from_ints(const std::vector<std::int32_t>& values, const Shape& shape, Device device) {
  if (static_cast<std::int64_t>(values.size()) != shape.numel())
    throw ShapeError(detail::make_message("Tensor::from_ints: got ", values.size(), " values for shape ",
                                          shape.str(), " which holds ", shape.numel()));
  Tensor host = empty(shape, DType::i32, Device::cpu());
  if (!values.empty()) std::memcpy(host.raw_data(), values.data(), values.size() * sizeof(std::int32_t));
  return host.to(device);
}

Tensor Tensor::uniform(const Shape& shape, float low, float high, std::uint64_t seed, Device device, DType dtype) {
  Tensor t = empty(shape, DType::f32, device);
  if (device.is_cuda())
    kernels::rng_uniform(t.data<float>(), t.numel(), low, high, seed, 0, cuda::current_stream(device.index));
  else
    kernels::rng_uniform_ref(t.data<float>(), t.numel(), low, high, seed, 0);
  return t.to(dtype);
}

Tensor Tensor::normal(const Shape& shape, float mean, float stddev, std::uint64_t seed, Device device, DType dtype) {
  Tensor t = empty(shape, DType::f32, device);
  if (device.is_cuda())
    kernels::rng_normal(t.data<float>(), t.numel(), mean, stddev, seed, 0, cuda::current_stream(device.index));
  else
    kernels::rng_normal_ref(t.data<float>(), t.numel(), mean, stddev, seed, 0);
  return t.to(dtype);
}

void* Tensor::raw_data() const {
  if (!storage_) throw ValueError("Tensor::raw_data: tensor is undefined (default-constructed)");
  return static_cast<char*>(storage_->data()) + offset_;
}

void Tensor::check_dtype(DType expected, const char* op) const {
  if (dtype_ != expected)
    throw DtypeError(detail::make_message(op, ": tensor has dtype ", dtype_name(dtype_), ", expected ",
                                          dtype_name(expected)));
}

Tensor Tensor::to(Device device) const {
  check_defined(*this, "Tensor::to(Device)", "self");
  if (device == device_) return *this;
  Tensor out = empty(shape_, dtype_, device);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  check_defined(*this, "Tensor::to(DType)", "self");
  if (dtype == dtype_) return *this;
  if (dtype == DType::i32 || dtype_ == DType::i32)
    throw DtypeError(detail::make_message("Tensor::to(DType): cannot convert ", dtype_name(dtype_), " to ",
                                          dtype_name(dtype), "; only f32 <-> f16 conversions exist"));
  Tensor out = empty(shape_, dtype, device_);
  const std::int64_t n = numel();
  if (device_.is_cuda()) {
    cudaStream_t s = cuda::current_stream(device_.index);
    if (dtype == DType::f16)
      kernels::cast(data<float>(), out.data<half>(), n, s);
    else
      kernels::cast(data<half>(), out.data<float>(), n, s);
  } else if (dtype == DType::f16) {
    kernels::cast_ref(data<float>(), out.data<half>(), n);
  } else {
    kernels::cast_ref(data<half>(), out.data<float>(), n);
  }
  return out;
}

Tensor Tensor::clone() const {
  check_defined(*this, "Tensor::clone", "self");
  Tensor out = empty(shape_, dtype_, device_);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::reshape(const std::vector<std::int64_t>& requested) const {
  check_defined(*this, "Tensor::reshape", "self");
  std::vector<std::int64_t> dims = requested;
  auto dims_str = [&] {
    std::string s = "(";
    for (std::size_t i = 0; i < requested.size(); ++i) s += (i ? ", " : "") + std::to_string(requested[i]);
    return s + ")";
  };
  int infer = -1;
  // A zero extent makes the product 0 even where the other extents alone would overflow.
  const bool has_zero = std::find(dims.begin(), dims.end(), 0) != dims.end();
  std::int64_t known = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      if (infer >= 0) throw ShapeError("Tensor::reshape: at most one extent may be -1, got " + dims_str());
      infer = static_cast<int>(i);
    } else if (!has_zero && !checked_mul(known, dims[i], &known)) {
      throw ShapeError(detail::make_message("Tensor::reshape: cannot reshape ", shape_.str(), " (", numel(),
                                            " elements) into ", dims_str(), ": the product overflows int64"));
    }
  }
  if (has_zero) known = 0;
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0)
      throw ShapeError(detail::make_message("Tensor::reshape: cannot reshape ", shape_.str(), " (", numel(),
                                            " elements) into ", dims_str()));
    dims[infer] = numel() / known;
  }
  Shape target(dims);
  if (target.numel() != numel())
    throw ShapeError(detail::make_message("Tensor::reshape: cannot reshape ", shape_.str(), " (", numel(),
                                          " elements) into ", target.str(), " (", target.numel(), " elements)"));
  return Tensor(storage_, offset_, target, dtype_, device_);
}

Tensor Tensor::slice(std::int64_t begin, std::int64_t end) const {
  check_defined(*this, "Tensor::slice", "self");
  if (ndim() == 0) throw ShapeError("Tensor::slice: cannot slice a 0-D tensor");
  const std::int64_t n0 = shape_[0];
  if (begin < 0 || end < begin || end > n0)
    throw ShapeError(detail::make_message("Tensor::slice: range [", begin, ", ", end, ") is not within [0, ", n0,
                                          "] for shape ", shape_.str()));
  Shape s = shape_;
  s.at(0) = end - begin;
  const std::size_t row_bytes = static_cast<std::size_t>(n0 ? numel() / n0 : 0) * itemsize(dtype_);
  return Tensor(storage_, offset_ + static_cast<std::size_t>(begin) * row_bytes, s, dtype_, device_);
}

std::vector<float> Tensor::to_vector() const {
  check_defined(*this, "Tensor::to_vector", "self");
  if (dtype_ == DType::i32) {
    const std::vector<std::int32_t> iv = to_ints();
    return std::vector<float>(iv.begin(), iv.end());
  }
  Tensor host = to(Device::cpu()).to(DType::f32);
  const float* p = host.data<float>();
  return std::vector<float>(p, p + numel());
}

std::vector<std::int32_t> Tensor::to_ints() const {
  check_defined(*this, "Tensor::to_ints", "self");
  check_dtype(DType::i32, "Tensor::to_ints");
  Tensor host = to(Device::cpu());
  const std::int32_t* p = host.data<std::int32_t>();
  return std::vector<std::int32_t>(p, p + numel());
}

float Tensor::item() const {
  if (numel() != 1)
    throw ShapeError(detail::make_message("Tensor::item: tensor of shape ", shape_.str(), " has ", numel(),
                                          " elements, expected 1"));
  return to_vector()[0];
}

std::string Tensor::str(std::int64_t max_values) const {
  std::ostringstream os;
  if (!defined()) return "Tensor(undefined)";
  os << "Tensor(shape=" << shape_.str() << ", dtype=" << dtype_name(dtype_) << ", device=" << device_.str() << ", [";
  const std::vector<float> v = to_vector();
  const std::int64_t n = std::min<std::int64_t>(max_values, numel());
  os << std::setprecision(6);
  for (std::int64_t i = 0; i < n; ++i) os << (i ? ", " : "") << v[i];
  if (n < numel()) os << ", ...";
  os << "])";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

void check_defined(const Tensor& t, const char* op, const char* name) {
  if (!t.defined()) throw ValueError(detail::make_message(op, ": ", name, " is an undefined tensor"));
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  if (a.device() != b.device())
    throw DeviceError(detail::make_message(op, ": tensors are on different devices (", a.device().str(), " and ",
                                           b.device().str(), "); move one with .to(device)"));
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  if (a.dtype() != b.dtype())
    throw DtypeError(detail::make_message(op, ": dtypes differ (", dtype_name(a.dtype()), " and ",
                                          dtype_name(b.dtype()), "); convert one with .to(dtype)"));
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  if (a.shape() != b.shape())
    throw ShapeError(detail::make_message(op, ": shapes differ: ", a.shape().str(), " and ", b.shape().str()));
}

}  // namespace tilenet
