// Local response normalisation across channels (Krizhevsky et al. 2012, the original AlexNet), on
// the last dimension of a row-major [pixels, C] array (NHWC activations). Host-only header.
//   s_c = k + alpha / size * sum_{c' = c - size/2}^{c + (size-1)/2} x_{c'}^2   (clipped to [0, C))
//   y_c = x_c * s_c^(-beta)
//   dx_j = dy_j s_j^(-beta) - 2 alpha beta / size * x_j * sum_{c : j in window(c)} dy_c y_c / s_c
// The window is PyTorch's LocalResponseNorm's (and Caffe's across-channel LRN for odd sizes).
// float or half storage, float arithmetic (references: double). Backward recomputes s from x,
// so nothing is stored between the passes.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "tensor/half.h"

namespace tilenet::kernels {

struct LrnParams {
  int size = 5;
  float alpha = 1e-4f, beta = 0.75f, k = 2.0f;
};

// Throws ValueError naming `op` unless size >= 1, k > 0, alpha >= 0, beta >= 0.
void check_lrn_params(const LrnParams& prm, const char* op);

// x, y, dy, dx: [pixels, c].
void lrn_forward(const float* x, float* y, std::int64_t pixels, std::int64_t c, const LrnParams& prm, cudaStream_t stream);
void lrn_forward(const half* x, half* y, std::int64_t pixels, std::int64_t c, const LrnParams& prm, cudaStream_t stream);
void lrn_backward(const float* x, const float* dy, float* dx, std::int64_t pixels, std::int64_t c,
                  const LrnParams& prm, cudaStream_t stream);
void lrn_backward(const half* x, const half* dy, half* dx, std::int64_t pixels, std::int64_t c,
                  const LrnParams& prm, cudaStream_t stream);

void lrn_forward_ref(const float* x, float* y, std::int64_t pixels, std::int64_t c, const LrnParams& prm);
void lrn_forward_ref(const half* x, half* y, std::int64_t pixels, std::int64_t c, const LrnParams& prm);
void lrn_forward_ref(const double* x, double* y, std::int64_t pixels, std::int64_t c, const LrnParams& prm);
void lrn_backward_ref(const float* x, const float* dy, float* dx, std::int64_t pixels, std::int64_t c,
                      const LrnParams& prm);
void lrn_backward_ref(const half* x, const half* dy, half* dx, std::int64_t pixels, std::int64_t c,
                      const LrnParams& prm);
void lrn_backward_ref(const double* x, const double* dy, double* dx, std::int64_t pixels,
                      std::int64_t c, const LrnParams& prm);

}  // namespace tilenet::kernels
