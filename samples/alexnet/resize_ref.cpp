#include <algorithm>
#include <cmath>

#include "samples/alexnet/resize.h"
#include "tensor/error.h"

namespace tilenet::samples {

void check_resize_shape(const ResizeShape& sh, const char* op) {
  if (sh.rows < 1 || sh.n < 1 || sh.h < 1 || sh.w < 1 || sh.c < 1 || sh.oh < 1 || sh.ow < 1 || sh.oc < 1)
    throw ShapeError(detail::make_message(op, ": every extent must be >= 1, got rows=", sh.rows, " n=", sh.n,
                                          " in ", sh.h, "x", sh.w, "x", sh.c, " out ", sh.oh, "x", sh.ow, "x",
                                          sh.oc));
  if (sh.oc > 4 || !(sh.oc == sh.c || (sh.c == 1 && sh.oc == 3)))
    throw ShapeError(detail::make_message(op, ": output channels must equal input channels (<= 4) or be 3 ",
                                          "from 1; got ", sh.c, " -> ", sh.oc));
}

void resize_bilinear_ref(const ResizeShape& sh, const float* x, const std::int32_t* index, float* y,
                         const ChannelNorm& norm) {
  check_resize_shape(sh, "resize_bilinear_ref");
  const double sy = static_cast<double>(sh.h) / sh.oh, sx = static_cast<double>(sh.w) / sh.ow;
  for (int b = 0; b < sh.n; ++b) {
    const std::int64_t row = index ? index[b] : b;
    float* out = y + static_cast<std::int64_t>(b) * sh.oh * sh.ow * sh.oc;
    if (row < 0 || row >= sh.rows) {
      std::fill(out, out + static_cast<std::int64_t>(sh.oh) * sh.ow * sh.oc, 0.0f);
      continue;
    }
    const float* img = x + row * sh.h * sh.w * sh.c;
    for (int oy = 0; oy < sh.oh; ++oy) {
      double fy = std::clamp((oy + 0.5) * sy - 0.5, 0.0, sh.h - 1.0);
      int y0 = static_cast<int>(fy), y1 = std::min(y0 + 1, sh.h - 1);
      double wy = fy - y0;
      for (int ox = 0; ox < sh.ow; ++ox) {
        double fx = std::clamp((ox + 0.5) * sx - 0.5, 0.0, sh.w - 1.0);
        int x0 = static_cast<int>(fx), x1 = std::min(x0 + 1, sh.w - 1);
        double wx = fx - x0;
        for (int k = 0; k < sh.oc; ++k) {
          int ci = sh.c == 1 ? 0 : k;
          auto at = [&](int yy, int xx) { return static_cast<double>(img[(yy * sh.w + xx) * sh.c + ci]); };
          double v = (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) + wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
          out[(static_cast<std::int64_t>(oy) * sh.ow + ox) * sh.oc + k] =
              static_cast<float>((v - norm.mean[k]) * norm.inv_std[k]);
        }
      }
    }
  }
}

}  // namespace tilenet::samples
