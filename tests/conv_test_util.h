// Conv2dShape builders shared by the CPU and GPU convolution tests.
#pragma once

#include "kernels/conv2d.h"

namespace tilenet::test {

// Square stride, symmetric padding and dilation.
inline kernels::Conv2dShape conv_shape(int n, int h, int w, int c, int k, int r, int s, int stride = 1, int pad = 0,
                                       int dil = 1) {
  kernels::Conv2dShape sh;
  sh.n = n;
  sh.h = h;
  sh.w = w;
  sh.c = c;
  sh.k = k;
  sh.r = r;
  sh.s = s;
  sh.stride_h = sh.stride_w = stride;
  sh.pad_top = sh.pad_left = sh.pad_bottom = sh.pad_right = pad;
  sh.dilation_h = sh.dilation_w = dil;
  return sh;
}

// sh with asymmetric padding.
inline kernels::Conv2dShape with_padding(kernels::Conv2dShape sh, int top, int left, int bottom, int right) {
  sh.pad_top = top;
  sh.pad_left = left;
  sh.pad_bottom = bottom;
  sh.pad_right = right;
  return sh;
}

}  // namespace tilenet::test
