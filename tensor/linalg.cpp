// Matrix products on Tensors: argument checks naming the op and the shapes, then dispatch by
// device (cuda -> kernels::gemm, cpu -> kernels::gemm_cpu) and dtype.
#include "tensor/linalg.h"

#include <cstdint>

#include "kernels/launch.h"
#include "tensor/memory.h"
#include "tensor/op_util.h"

namespace tilenet {
namespace {

using detail::stream_of;

bool overlaps(const Tensor& x, const Tensor& y) {
  if (!x.shares_storage_with(y) || x.numel() == 0 || y.numel() == 0) return false;
  const auto* x0 = static_cast<const char*>(x.raw_data());
  const auto* y0 = static_cast<const char*>(y.raw_data());
  return x0 < y0 + y.nbytes() && y0 < x0 + x.nbytes();
}

std::string describe(const Tensor& a, const Tensor& b, const Tensor& out, bool ta, bool tb) {
  return detail::make_message(" (a ", a.shape().str(), " ", dtype_name(a.dtype()), ta ? " transposed" : "", ", b ",
                              b.shape().str(), " ", dtype_name(b.dtype()), tb ? " transposed" : "", ", out ",
                              out.defined() ? out.shape().str() : std::string("undefined"), " ",
                              out.defined() ? dtype_name(out.dtype()) : "", ")");
}

}  // namespace

void matmul_into(const Tensor& a, const Tensor& b, Tensor& out, bool trans_a, bool trans_b, float alpha, float beta,
                 const Tensor& bias, Activation act) {
  const char* op = "matmul";
  check_defined(a, op, "a");
  check_defined(b, op, "b");
  check_defined(out, op, "out");
  check_same_device(a, b, op);
  check_same_device(a, out, op);
  const std::string what = describe(a, b, out, trans_a, trans_b);
  TILENET_CHECK(a.dtype() == b.dtype() && a.dtype() != DType::i32, DtypeError, op,
                ": a and b must both be f32 or both f16", what);
  TILENET_CHECK(a.dtype() == DType::f16 ? out.dtype() != DType::i32 : out.dtype() == DType::f32, DtypeError, op,
                ": out must be f32 for f32 inputs, f16 or f32 for f16 inputs", what);
  const int nd = a.ndim();
  TILENET_CHECK((nd == 2 || nd == 3) && b.ndim() == nd && out.ndim() == nd, ShapeError, op,
                ": operands must all be 2-D, or all 3-D (batched over dimension 0)", what);
  const int r = nd - 2;
  const std::int64_t batch = nd == 3 ? a.dim(0) : 1;
  TILENET_CHECK(nd == 2 || (b.dim(0) == batch && out.dim(0) == batch), ShapeError, op,
                ": batch extents differ", what);
  const std::int64_t m = trans_a ? a.dim(r + 1) : a.dim(r), k = trans_a ? a.dim(r) : a.dim(r + 1);
  const std::int64_t kb = trans_b ? b.dim(r + 1) : b.dim(r), n = trans_b ? b.dim(r) : b.dim(r + 1);
  TILENET_CHECK(k == kb, ShapeError, op, ": inner dimensions differ: op(a) is ", m, "x", k, ", op(b) is ", kb, "x", n,
                what);
  TILENET_CHECK(out.dim(r) == m && out.dim(r + 1) == n, ShapeError, op, ": out must be ", m, "x", n, what);
  TILENET_CHECK(batch <= INT32_MAX, ShapeError, op, ": too many batches", what);
  if (bias.defined()) {
    check_same_device(a, bias, op);
    TILENET_CHECK(bias.dtype() == DType::f32, DtypeError, op, ": bias must be f32, got ", dtype_name(bias.dtype()),
                  what);
    TILENET_CHECK(bias.ndim() == 1 && bias.dim(0) == n, ShapeError, op, ": bias must be [", n, "], got ",
                  bias.shape().str(), what);
  }
  TILENET_CHECK(!overlaps(out, a) && !overlaps(out, b), ValueError, op, ": out overlaps an input", what);

  kernels::GemmParams p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.trans_a = trans_a;
  p.trans_b = trans_b;
  p.alpha = alpha;
  p.beta = beta;
  p.batch = static_cast<int>(batch);
  p.stride_a = m * k;
  p.stride_b = k * n;
  p.stride_c = m * n;
  p.bias = bias.defined() ? bias.data<float>() : nullptr;
  p.act = act;
  if (batch == 0 || m == 0 || n == 0) return;

  const bool cuda = a.is_cuda();
  if (a.dtype() == DType::f32) {
    if (cuda)
      kernels::gemm(p, a.data<float>(), b.data<float>(), out.data<float>(), stream_of(a));
    else
      kernels::gemm_cpu(p, a.data<float>(), b.data<float>(), out.data<float>());
  } else if (out.dtype() == DType::f32) {
    if (cuda)
      kernels::gemm(p, a.data<half>(), b.data<half>(), out.data<float>(), stream_of(a));
    else
      kernels::gemm_cpu(p, a.data<half>(), b.data<half>(), out.data<float>());
  } else {
    if (cuda)
      kernels::gemm(p, a.data<half>(), b.data<half>(), out.data<half>(), stream_of(a));
    else
      kernels::gemm_cpu(p, a.data<half>(), b.data<half>(), out.data<half>());
  }
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  check_defined(a, "matmul", "a");
  check_defined(b, "matmul", "b");
  const int nd = a.ndim();
  TILENET_CHECK((nd == 2 || nd == 3) && b.ndim() == nd, ShapeError,
                "matmul: operands must both be 2-D, or both 3-D (batched over dimension 0) (a ", a.shape().str(),
                ", b ", b.shape().str(), ")");
  const int r = nd - 2;
  const std::int64_t m = trans_a ? a.dim(r + 1) : a.dim(r);
  const std::int64_t n = trans_b ? b.dim(r) : b.dim(r + 1);
  Tensor out = Tensor::empty(nd == 3 ? Shape{a.dim(0), m, n} : Shape{m, n}, a.dtype(), a.device());
  matmul_into(a, b, out, trans_a, trans_b);
  return out;
}

std::size_t column_sums_workspace_size(const Shape& dy, Device device) {
  if (!device.is_cuda() || dy.ndim() < 1) return 0;
  return kernels::column_sums_workspace_bytes(dy.rows(), dy.cols());
}

void column_sums_into(const Tensor& dy, Tensor& db, bool accumulate, const Tensor& workspace) {
  const char* op = "column_sums";
  check_defined(dy, op, "dy");
  check_defined(db, op, "db");
  check_same_device(dy, db, op);
  TILENET_CHECK(dy.dtype() == DType::f32 || dy.dtype() == DType::f16, DtypeError, op, ": dy must be f32 or f16, got ",
                dtype_name(dy.dtype()));
  TILENET_CHECK(db.dtype() == DType::f32, DtypeError, op, ": db must be f32, got ", dtype_name(db.dtype()));
  TILENET_CHECK(dy.ndim() >= 1, ShapeError, op, ": dy must have at least one dimension");
  const std::int64_t cols = dy.shape().cols(), rows = dy.shape().rows();
  TILENET_CHECK(db.ndim() == 1 && db.dim(0) == cols, ShapeError, op, ": db must be [", cols, "] for dy ",
                dy.shape().str(), ", got ", db.shape().str());
  if (cols == 0) return;
  if (dy.is_cuda()) {
    const std::size_t need = kernels::column_sums_workspace_bytes(rows, cols);
    DeviceBuffer owned;
    void* ws = nullptr;
    if (need > 0) {
      if (workspace.defined() && workspace.device() == dy.device() && workspace.nbytes() >= need &&
          kernels::is_aligned(workspace.raw_data(), 16)) {
        ws = workspace.raw_data();
      } else {
        owned = DeviceBuffer(need, dy.device().index, stream_of(dy));
        ws = owned.data();
      }
    }
    if (dy.dtype() == DType::f32)
      kernels::column_sums(dy.data<float>(), rows, cols, db.data<float>(), accumulate, stream_of(dy), ws, need);
    else
      kernels::column_sums(dy.data<half>(), rows, cols, db.data<float>(), accumulate, stream_of(dy), ws, need);
  } else if (dy.dtype() == DType::f32) {
    kernels::column_sums_ref(dy.data<float>(), rows, cols, db.data<float>(), accumulate);
  } else {
    kernels::column_sums_ref(dy.data<half>(), rows, cols, db.data<float>(), accumulate);
  }
}

}  // namespace tilenet
