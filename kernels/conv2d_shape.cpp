// Host-side helpers of kernels/conv2d.h: shape printing and validation, enum names.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <sstream>

#include "kernels/conv2d.h"
#include "kernels/launch.h"
#include "tensor/error.h"

namespace tilenet::kernels {

std::string Conv2dShape::str() const {
  std::ostringstream os;
  os << "x(" << n << "," << h << "," << w << "," << c << ") w(" << k << "," << r << "," << s << "," << c
     << ") pad(" << pad_top << "," << pad_left << "," << pad_bottom << "," << pad_right << ") stride("
     << stride_h << "," << stride_w << ") dil(" << dilation_h << "," << dilation_w << ") -> y(" << n << ","
     << out_extent(h, pad_top, pad_bottom, dilation_h, r, stride_h) << ","
     << out_extent(w, pad_left, pad_right, dilation_w, s, stride_w) << "," << k << ")";
  return os.str();
}

void check_conv2d_shape(const Conv2dShape& sh, const char* op) {
  TILENET_CHECK(sh.n > 0 && sh.h > 0 && sh.w > 0 && sh.c > 0 && sh.k > 0 && sh.r > 0 && sh.s > 0, ShapeError, op,
                ": every extent must be positive; got ", sh.str());
  TILENET_CHECK(sh.pad_top >= 0 && sh.pad_left >= 0 && sh.pad_bottom >= 0 && sh.pad_right >= 0, ValueError, op,
                ": padding must be non-negative; got ", sh.str());
  TILENET_CHECK(sh.stride_h >= 1 && sh.stride_w >= 1 && sh.dilation_h >= 1 && sh.dilation_w >= 1, ValueError,
                op, ": stride and dilation must be at least 1; got ", sh.str());
  // Overflow-safe extent check before p()/q() (which use int arithmetic).
  const std::int64_t span_h = static_cast<std::int64_t>(sh.h) + sh.pad_top + sh.pad_bottom -
                              static_cast<std::int64_t>(sh.dilation_h) * (sh.r - 1) - 1;
  const std::int64_t span_w = static_cast<std::int64_t>(sh.w) + sh.pad_left + sh.pad_right -
                              static_cast<std::int64_t>(sh.dilation_w) * (sh.s - 1) - 1;
  TILENET_CHECK(span_h < INT_MAX / 2 && span_w < INT_MAX / 2, ShapeError, op, ": extents too large: ", sh.str());
  TILENET_CHECK(span_h >= 0 && span_w >= 0, ShapeError, op, ": the ", sh.r, "x", sh.s, " filter (dilation ",
                sh.dilation_h, "x", sh.dilation_w, ") does not fit the padded ", sh.h, "x", sh.w,
                " input: the output would be empty; got ", sh.str());
  const std::int64_t lim = std::int64_t{1} << 31;
  const std::int64_t x_img = static_cast<std::int64_t>(sh.h) * sh.w * sh.c;
  const std::int64_t y_img = static_cast<std::int64_t>(sh.p()) * sh.q() * sh.k;
  // The filter as the small-c forward pads it (rows of s*c rounded up to 8) and as backward-data
  // pads it (k rounded up to 8).
  const std::int64_t rsc = static_cast<std::int64_t>(sh.r) * sh.s * sh.c;
  const std::int64_t span_padded = static_cast<std::int64_t>(sh.k) * sh.r * (static_cast<std::int64_t>(sh.s) * sh.c + 7);
  const std::int64_t w_padded = std::max(span_padded, rsc * (static_cast<std::int64_t>(sh.k) + 7));
  TILENET_CHECK(x_img < lim && y_img < lim && sh.w_elems() < lim && w_padded < lim && sh.gemm_m() < lim &&
                    static_cast<std::int64_t>(sh.n) * sh.h * sh.w < lim,
                ShapeError, op, ": tensors too large for 32-bit per-image indexing: ", sh.str());
}

const char* conv2d_pass_name(Conv2dPass pass) {
  switch (pass) {
    case Conv2dPass::forward: return "fwd";
    case Conv2dPass::backward_data: return "bwd_data";
    case Conv2dPass::backward_filter: return "bwd_filter";
  }
  return "?";
}

const char* conv2d_algo_name(Conv2dAlgo algo) {
  switch (algo) {
    case Conv2dAlgo::Auto: return "auto";
    case Conv2dAlgo::Im2colGemm: return "im2col_gemm";
    case Conv2dAlgo::ImplicitGemm: return "implicit_gemm";
    case Conv2dAlgo::ImplicitGemmLargeTile: return "implicit_gemm_large";
    case Conv2dAlgo::ImplicitGemmSmallTile: return "implicit_gemm_small";
    case Conv2dAlgo::ImplicitGemm8Warps: return "implicit_gemm_8warps";
    case Conv2dAlgo::ImplicitGemmWgmma: return "implicit_gemm_wgmma";
  }
  return "?";
}

std::vector<Conv2dAlgo> conv2d_algos() {
  std::vector<Conv2dAlgo> v = {Conv2dAlgo::Im2colGemm, Conv2dAlgo::ImplicitGemm, Conv2dAlgo::ImplicitGemmLargeTile,
                               Conv2dAlgo::ImplicitGemmSmallTile, Conv2dAlgo::ImplicitGemm8Warps};
  if (sm90a_kernels_available()) v.push_back(Conv2dAlgo::ImplicitGemmWgmma);
  return v;
}

}  // namespace tilenet::kernels
