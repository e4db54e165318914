// Batched bilinear resize with row gather, channel replication and normalisation (see resize.h).
// Memory-bound on the output (128x224x224x3 f32 = 77 MB per AlexNet batch): one thread per output
// pixel writes its OC channels; the source images are tiny (28x28 or 32x32) and stay in L1/L2.
#include "kernels/launch.h"
#include "samples/alexnet/resize.h"

namespace tilenet::samples {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    resize_bilinear_kernel(ResizeShape sh, const float* __restrict__ x, const std::int32_t* __restrict__ index,
                           float* __restrict__ y, ChannelNorm norm) {
  const std::int64_t pixels = static_cast<std::int64_t>(sh.n) * sh.oh * sh.ow;
  const float sy = static_cast<float>(sh.h) / sh.oh, sx = static_cast<float>(sh.w) / sh.ow;
  for (std::int64_t p = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < pixels;
       p += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int ox = static_cast<int>(p % sh.ow);
    const int oy = static_cast<int>((p / sh.ow) % sh.oh);
    const int b = static_cast<int>(p / (static_cast<std::int64_t>(sh.ow) * sh.oh));
    const std::int64_t row = index ? index[b] : b;
    float* out = y + p * sh.oc;
    if (row < 0 || row >= sh.rows) {
      for (int k = 0; k < sh.oc; ++k) out[k] = 0.0f;
      continue;
    }
    const float* img = x + row * sh.h * sh.w * sh.c;
    const float fy = fminf(fmaxf((oy + 0.5f) * sy - 0.5f, 0.0f), sh.h - 1.0f);
    const float fx = fminf(fmaxf((ox + 0.5f) * sx - 0.5f, 0.0f), sh.w - 1.0f);
    const int y0 = static_cast<int>(fy), x0 = static_cast<int>(fx);
    const int y1 = min(y0 + 1, sh.h - 1), x1 = min(x0 + 1, sh.w - 1);
    const float wy = fy - y0, wx = fx - x0;
    for (int k = 0; k < sh.oc; ++k) {
      const int ci = sh.c == 1 ? 0 : k;
      const float a = img[(y0 * sh.w + x0) * sh.c + ci], bb = img[(y0 * sh.w + x1) * sh.c + ci];
      const float c = img[(y1 * sh.w + x0) * sh.c + ci], d = img[(y1 * sh.w + x1) * sh.c + ci];
      const float v = (1 - wy) * ((1 - wx) * a + wx * bb) + wy * ((1 - wx) * c + wx * d);
      out[k] = (v - norm.mean[k]) * norm.inv_std[k];
    }
  }
}

}  // namespace

void resize_bilinear(const ResizeShape& sh, const float* x, const std::int32_t* index, float* y,
                     const ChannelNorm& norm, cudaStream_t stream) {
  check_resize_shape(sh, "resize_bilinear");
  const std::int64_t pixels = static_cast<std::int64_t>(sh.n) * sh.oh * sh.ow;
  resize_bilinear_kernel<<<kernels::grid_for(pixels, kThreads), kThreads, 0, stream>>>(sh, x, index, y, norm);
  kernels::check_launch("resize_bilinear", stream);
}

}  // namespace tilenet::samples
