#include "nn/dataset.h"

#include <numeric>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/philox.h"
#include "kernels/train_ops.h"
#include "nn/layers/core.h"
#include "tensor/stream.h"

namespace tilenet::nn {

Dataset::Dataset(Tensor x, Tensor y) : x_(std::move(x)), y_(std::move(y)) {
  check_defined(x_, "Dataset", "x");
  TILENET_CHECK(x_.ndim() >= 1, ShapeError, "Dataset: x must have a sample dimension, got shape ", x_.shape().str());
  TILENET_CHECK(x_.dtype() == DType::f32, DtypeError, "Dataset: x must be f32, got ", dtype_name(x_.dtype()));
  if (y_.defined()) {
    TILENET_CHECK(y_.ndim() >= 1 && y_.dim(0) == x_.dim(0), ShapeError, "Dataset: x has ", x_.dim(0),
                  " samples but y has shape ", y_.shape().str());
    TILENET_CHECK(y_.device() == x_.device(), DeviceError, "Dataset: x is on ", x_.device().str(), ", y on ",
                  y_.device().str());
  }
}

Dataset& Dataset::normalize(float scale, float shift) {
  std::vector<float> v = x_.to_vector();
  for (float& f : v) f = f * scale + shift;
  Tensor host = Tensor::from_vector(v, x_.shape());
  Tensor fresh = Tensor::empty(x_.shape(), DType::f32, x_.device());
  fresh.copy_from(host);
  x_ = fresh;
  ready_ = false;
  ex_ = Tensor();
  return *this;
}

Dataset& Dataset::to(Device device) {
  if (x_.defined() && x_.device() != device) {
    x_ = x_.to(device);
    if (y_.defined()) y_ = y_.to(device);
    ex_ = ey_ = perm_ = Tensor();
    ready_ = false;
  }
  return *this;
}

Dataset Dataset::slice(std::int64_t begin, std::int64_t end) const {
  TILENET_CHECK(begin >= 0 && begin <= end && end <= size(), ValueError, "Dataset::slice: [", begin, ", ", end,
                ") is outside [0, ", size(), ")");
  Dataset d;
  d.x_ = x_.slice(begin, end);
  if (y_.defined()) d.y_ = y_.slice(begin, end);
  return d;
}

Dataset Dataset::split_tail(std::int64_t count) {
  TILENET_CHECK(count >= 0 && count < size(), ValueError, "Dataset::split_tail: cannot take ", count, " of ", size(),
                " samples and keep at least one");
  Dataset tail = slice(size() - count, size());
  Dataset head = slice(0, size() - count);
  x_ = head.x_;
  y_ = head.y_;
  ex_ = ey_ = perm_ = Tensor();
  ready_ = false;
  return tail;
}

std::vector<std::int32_t> Dataset::permutation(std::int64_t n, std::uint64_t seed, int epoch) {
  TILENET_CHECK(n >= 0 && n <= 2147483647, ValueError, "Dataset::permutation: ", n, " samples (at most 2^31 - 1)");
  std::vector<std::int32_t> p(static_cast<std::size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  const std::uint64_t key = mix_seed(seed, static_cast<std::uint64_t>(epoch) + 0x5EED);
  for (std::int64_t i = n - 1; i > 0; --i) {
    const std::uint64_t idx = static_cast<std::uint64_t>(n - 1 - i);
    const std::uint32_t r = kernels::philox4x32(idx >> 2, key).v[idx & 3];
    const std::int64_t j = static_cast<std::int64_t>((static_cast<std::uint64_t>(r) * (i + 1)) >> 32);
    std::swap(p[i], p[j]);
  }
  return p;
}

namespace {

// dst (rows x cols) = src rows picked by index, converting x to dst's dtype.
void gather(const Tensor& src, const Tensor& index, Tensor& dst) {
  const std::int64_t rows = dst.dim(0), cols = rows > 0 ? dst.numel() / rows : 0;
  const std::int32_t* idx = index.data<std::int32_t>();
  if (src.is_cuda()) {
    cudaStream_t s = cuda::current_stream(src.device().index);
    if (src.dtype() == DType::i32)
      kernels::gather_rows(src.data<std::int32_t>(), idx, dst.data<std::int32_t>(), rows, cols, s);
    else if (dst.dtype() == DType::f16)
      kernels::gather_rows(src.data<float>(), idx, dst.data<half>(), rows, cols, s);
    else
      kernels::gather_rows(src.data<float>(), idx, dst.data<float>(), rows, cols, s);
  } else if (src.dtype() == DType::i32) {
    kernels::gather_rows_ref(src.data<std::int32_t>(), idx, dst.data<std::int32_t>(), rows, cols);
  } else if (dst.dtype() == DType::f16) {
    kernels::gather_rows_ref(src.data<float>(), idx, dst.data<half>(), rows, cols);
  } else {
    kernels::gather_rows_ref(src.data<float>(), idx, dst.data<float>(), rows, cols);
  }
}

// A buffer like `like` in `dtype`, reusing `cur` when it fits and does not alias `like`.
Tensor reuse(Tensor cur, const Tensor& like, DType dtype) {
  if (cur.defined() && !cur.shares_storage_with(like) && cur.shape() == like.shape() && cur.dtype() == dtype &&
      cur.device() == like.device())
    return cur;
  return Tensor::empty(like.shape(), dtype, like.device());
}

}  // namespace

void Dataset::begin_epoch(bool shuffle, std::uint64_t seed, int epoch, DType x_dtype) {
  TILENET_CHECK(x_dtype == DType::f32 || x_dtype == DType::f16, DtypeError,
                "Dataset::begin_epoch: x can be delivered as f32 or f16, not ", dtype_name(x_dtype));
  TILENET_CHECK(!y_.defined() || y_.dtype() != DType::f16, DtypeError, "Dataset: targets must be f32 or i32, not f16");
  ready_ = true;
  if (!shuffle) {
    if (x_dtype == x_.dtype()) {
      ex_ = x_;
    } else {
      ex_ = reuse(ex_, x_, x_dtype);
      if (x_.is_cuda())
        kernels::cast(x_.data<float>(), ex_.data<half>(), x_.numel(), cuda::current_stream(x_.device().index));
      else
        kernels::cast_ref(x_.data<float>(), ex_.data<half>(), x_.numel());
    }
    ey_ = y_;
    return;
  }
  const std::vector<std::int32_t> p = permutation(size(), seed, epoch);
  if (!perm_.defined() || perm_.numel() != size() || perm_.device() != device())
    perm_ = Tensor::empty({size()}, DType::i32, device());
  perm_.copy_from(Tensor::from_ints(p, Shape{size()}));
  ex_ = reuse(ex_, x_, x_dtype);
  gather(x_, perm_, ex_);
  if (y_.defined()) {
    ey_ = reuse(ey_, y_, y_.dtype());
    gather(y_, perm_, ey_);
  } else {
    ey_ = Tensor();
  }
}

std::int64_t Dataset::num_batches(std::int64_t batch_size) const {
  TILENET_CHECK(batch_size >= 1, ValueError, "batch_size must be positive, got ", batch_size);
  return (size() + batch_size - 1) / batch_size;
}

std::pair<Tensor, Tensor> Dataset::batch(std::int64_t index, std::int64_t batch_size) const {
  TILENET_CHECK(ready_, ValueError, "Dataset::batch: call begin_epoch first");
  const std::int64_t begin = index * batch_size, end = std::min(size(), begin + batch_size);
  TILENET_CHECK(index >= 0 && begin < end, ValueError, "Dataset::batch: batch ", index, " of size ", batch_size,
                " is outside the ", size(), " samples");
  return {ex_.slice(begin, end), ey_.defined() ? ey_.slice(begin, end) : Tensor()};
}

}  // namespace tilenet::nn
