// wgmma_self_check (kernels/gemm_internal.h): the Hopper wgmma kernels (gemm_wgmma_sm90a.cu) on
// small integers, where fp32 accumulation is exact, against a CPU product: every transpose and
// tile configuration, fp32 and fp16 output (the fp16 result must be the rounded exact value).
// wgmma_conv_self_check: the same for the Hopper implicit-GEMM convolution tile
// (conv2d_implicit_gemm_wgmma_sm90a.cu), one convolution of each pass against the CPU reference.
// Used by GemmGpu.WgmmaSelfCheck and by the gate in front of GemmAlgo::Auto
// (kernels/gemm_wgmma_gate.h). Host code only.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/gemm_args.h"
#include "kernels/gemm_internal.h"
#include "kernels/launch.h"
#include "tensor/error.h"
#include "tensor/half.h"

namespace tilenet::kernels {
namespace {

// Appends "<name>: first mismatch at (i, j): got x, expected y (bad of total wrong)" when they differ.
void compare(const std::vector<float>& got, const std::vector<float>& want, int n, const std::string& name,
             std::ostringstream& report) {
  std::size_t bad = 0;
  for (std::size_t e = 0; e < got.size(); ++e) {
    if (got[e] == want[e]) continue;
    if (bad++ == 0)
      report << name << ": first mismatch at (" << e / n << ", " << e % n << "): got " << got[e] << ", expected "
             << want[e];
  }
  if (bad) report << " (" << bad << " of " << got.size() << " wrong)\n";
}

// Relaxed stream-capture mode for this thread while it lives: the check allocates and
// synchronises, which must not invalidate a graph another thread may be capturing.
struct RelaxedCaptureMode {
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  RelaxedCaptureMode() { TILENET_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode)); }
  ~RelaxedCaptureMode() {
    if (cudaThreadExchangeStreamCaptureMode(&mode) != cudaSuccess) (void)cudaGetLastError();
  }
  RelaxedCaptureMode(const RelaxedCaptureMode&) = delete;
  RelaxedCaptureMode& operator=(const RelaxedCaptureMode&) = delete;
};

// The check's own non-blocking stream: no implicit ordering with the legacy default stream. Its
// queued work is finished before it goes (and before the buffers declared ahead of it are freed),
// also when the check throws half way.
struct OwnStream {
  cudaStream_t s = nullptr;
  OwnStream() { TILENET_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~OwnStream() {
    if (cudaStreamSynchronize(s) != cudaSuccess) (void)cudaGetLastError();
    if (cudaStreamDestroy(s) != cudaSuccess) (void)cudaGetLastError();
  }
  OwnStream(const OwnStream&) = delete;
  OwnStream& operator=(const OwnStream&) = delete;
};

}  // namespace

std::string wgmma_self_check(int m, int n, int k, int batch) {
  TILENET_CHECK(sm90a_kernels_available(), DeviceError, "wgmma_self_check: no sm_90a device / build");
  TILENET_CHECK(m > 0 && n > 0 && k > 0 && (batch == 1 || batch == 2), ValueError,
                "wgmma_self_check: sizes must be positive and batch 1 or 2 (m=", m, " n=", n, " k=", k,
                " batch=", batch, ")");
  const std::size_t mk = static_cast<std::size_t>(m) * k, kn = static_cast<std::size_t>(k) * n,
                    mn = static_cast<std::size_t>(m) * n;
  // Batch b's operands are sign[b] * A and scale[b] * B, stored with a gap of 8 elements after
  // each matrix: reading or writing the wrong batch changes the sign or the size of the result.
  constexpr int kSign[2] = {1, -1}, kScale[2] = {1, 2};
  constexpr std::size_t kGap = 8;
  const std::size_t sa = mk + kGap, sb = kn + kGap, sc = mn + kGap;
  // Device memory first: when it cannot be had (OutOfMemoryError) the CPU work below is not wasted.
  const RelaxedCaptureMode relaxed;
  DeviceAllocation da(sa * batch * 2), db(sb * batch * 2), dc(sc * batch * 4), dc16(sc * batch * 2);
  const OwnStream stream;  // declared after the buffers: synchronised before they are freed
  const cudaStream_t st = stream.s;
  std::mt19937 gen(1234);
  std::uniform_int_distribution<int> dist(-3, 3);
  std::vector<float> af(mk), bf(kn), ref(mn, 0.0f);
  for (auto& v : af) v = static_cast<float>(dist(gen));
  for (auto& v : bf) v = static_cast<float>(dist(gen));
  for (int i = 0; i < m; ++i)
    for (int q = 0; q < k; ++q) {
      const float a = af[static_cast<std::size_t>(i) * k + q];
      const float* brow = bf.data() + static_cast<std::size_t>(q) * n;
      float* crow = ref.data() + static_cast<std::size_t>(i) * n;
      for (int j = 0; j < n; ++j) crow[j] += a * brow[j];
    }

  std::vector<half> ha(sa * batch), hb(sb * batch), got16(mn);
  std::vector<float> got(mn), want(mn);
  std::ostringstream report;
  const GemmTileInfo* cfgs = nullptr;
  const int n_cfgs = wgmma_configs(&cfgs);
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    // Host operands in the stored layout of this transpose.
    for (int z = 0; z < batch; ++z) {
      for (int i = 0; i < m; ++i)
        for (int q = 0; q < k; ++q)
          ha[z * sa + (ta ? static_cast<std::size_t>(q) * m + i : static_cast<std::size_t>(i) * k + q)] =
              float_to_half(kSign[z] * af[static_cast<std::size_t>(i) * k + q]);
      for (int q = 0; q < k; ++q)
        for (int j = 0; j < n; ++j)
          hb[z * sb + (tb ? static_cast<std::size_t>(j) * k + q : static_cast<std::size_t>(q) * n + j)] =
              float_to_half(kScale[z] * bf[static_cast<std::size_t>(q) * n + j]);
    }
    TILENET_CUDA_CHECK(cudaMemcpyAsync(da.p, ha.data(), ha.size() * 2, cudaMemcpyHostToDevice, st));
    TILENET_CUDA_CHECK(cudaMemcpyAsync(db.p, hb.data(), hb.size() * 2, cudaMemcpyHostToDevice, st));
    for (int cfg = 0; cfg < n_cfgs; ++cfg)
      for (const bool half_out : {false, true}) {
        const std::string name = std::string("cfg ") + cfgs[cfg].name + " ta=" + (ta ? "1" : "0") +
                                 " tb=" + (tb ? "1" : "0") + (half_out ? " f16 out" : " f32 out") + " " +
                                 std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
        GemmArgs g;
        g.a = da.p, g.b = db.p, g.c = half_out ? dc16.p : dc.p;
        g.m = m, g.n = n, g.k = k;
        g.ta = ta, g.tb = tb, g.c_half = half_out;
        g.lda = ta ? m : k, g.ldb = tb ? k : n, g.ldc = n;
        g.sa = static_cast<long long>(sa), g.sb = static_cast<long long>(sb), g.sc = static_cast<long long>(sc);
        g.a_vec = g.b_vec = true;
        g.c_vec = n % 2 == 0 ? 2 : 1;  // cudaMalloc'd C: 256-byte aligned, even batch stride
        if (!wgmma_supports(g, batch)) {
          report << name << ": leading dimensions the tensor maps cannot take (use multiples of 8)\n";
          continue;
        }
        const std::size_t c_bytes = sc * batch * (half_out ? 2 : 4);
        TILENET_CUDA_CHECK(cudaMemsetAsync(g.c, 0xff, c_bytes, st));  // NaN
        launch_gemm_wgmma(g, batch, cfg, st);
        for (int z = 0; z < batch; ++z) {
          if (half_out) {
            TILENET_CUDA_CHECK(cudaMemcpyAsync(got16.data(), static_cast<half*>(dc16.p) + z * sc, mn * 2,
                                               cudaMemcpyDeviceToHost, st));
            TILENET_CUDA_CHECK(cudaStreamSynchronize(st));
            for (std::size_t e = 0; e < mn; ++e) got[e] = half_to_float(got16[e]);
          } else {
            TILENET_CUDA_CHECK(cudaMemcpyAsync(got.data(), static_cast<float*>(dc.p) + z * sc, mn * 4,
                                               cudaMemcpyDeviceToHost, st));
            TILENET_CUDA_CHECK(cudaStreamSynchronize(st));
          }
          const float f = static_cast<float>(kSign[z] * kScale[z]);
          for (std::size_t e = 0; e < mn; ++e)
            want[e] = half_out ? half_to_float(float_to_half(f * ref[e])) : f * ref[e];
          compare(got, want, n, batch > 1 ? name + " batch " + std::to_string(z) : name, report);
        }
      }
  }
  return report.str();
}

std::string wgmma_conv_self_check() {
  TILENET_CHECK(sm90a_kernels_available(), DeviceError, "wgmma_conv_self_check: no sm_90a device / build");
  // Two ragged 128-row tiles of pixels (200), k_out = 136 (a ragged second column tile), c = 64:
  // forward runs 9 k-tiles (the 5-stage ring wraps), backward-data 20, backward-filter 4 per split.
  // Values in {-1, 0, 1}: every sum stays below 2048, so fp16 results are exact integers too.
  Conv2dShape sh;
  sh.n = 2, sh.h = sh.w = 10, sh.c = 64, sh.k = 136, sh.r = sh.s = 3;
  sh.pad_top = sh.pad_left = sh.pad_bottom = sh.pad_right = 1;
  const std::size_t nx = static_cast<std::size_t>(sh.n) * sh.h * sh.w * sh.c;
  const std::size_t nw = static_cast<std::size_t>(sh.k) * sh.r * sh.s * sh.c;
  const std::size_t ny = static_cast<std::size_t>(sh.n) * sh.p() * sh.q() * sh.k;
  std::size_t ws_bytes = 0;
  for (Conv2dPass pass : {Conv2dPass::forward, Conv2dPass::backward_data, Conv2dPass::backward_filter})
    ws_bytes = std::max(ws_bytes, conv2d_workspace_bytes(sh, pass, true, Conv2dAlgo::ImplicitGemmWgmma));
  const RelaxedCaptureMode relaxed;
  DeviceAllocation dx(nx * 2), dw(nw * 2), dy(ny * 2), dbias(sh.k * 4), dout(std::max({nx * 2, ny * 2, nw * 4})),
      dws(std::max<std::size_t>(ws_bytes, 16));
  const OwnStream stream;
  const cudaStream_t st = stream.s;
  std::mt19937 gen(4321);
  std::uniform_int_distribution<int> dist(-1, 1);
  auto fill = [&](std::vector<half>& v, std::size_t n) {
    v.resize(n);
    for (auto& e : v) e = float_to_half(static_cast<float>(dist(gen)));
  };
  std::vector<half> hx, hw, hy;
  fill(hx, nx);
  fill(hw, nw);
  fill(hy, ny);
  std::vector<float> bias(sh.k);
  for (auto& b : bias) b = static_cast<float>(dist(gen) * 4);
  TILENET_CUDA_CHECK(cudaMemcpyAsync(dx.p, hx.data(), nx * 2, cudaMemcpyHostToDevice, st));
  TILENET_CUDA_CHECK(cudaMemcpyAsync(dw.p, hw.data(), nw * 2, cudaMemcpyHostToDevice, st));
  TILENET_CUDA_CHECK(cudaMemcpyAsync(dy.p, hy.data(), ny * 2, cudaMemcpyHostToDevice, st));
  TILENET_CUDA_CHECK(cudaMemcpyAsync(dbias.p, bias.data(), sh.k * 4, cudaMemcpyHostToDevice, st));

  std::ostringstream report;
  const std::string shape = " " + sh.str();
  // Runs one pass into a NaN-poisoned output and compares its `count` values (fp16 or fp32, rows
  // of `row` values) exactly.
  auto check = [&](const char* pass, std::size_t count, int row, bool half_out, const std::vector<float>& want,
                   auto&& run) {
    TILENET_CUDA_CHECK(cudaMemsetAsync(dout.p, 0xff, count * (half_out ? 2 : 4), st));
    run();
    std::vector<float> got(count);
    if (half_out) {
      std::vector<half> g16(count);
      TILENET_CUDA_CHECK(cudaMemcpyAsync(g16.data(), dout.p, count * 2, cudaMemcpyDeviceToHost, st));
      TILENET_CUDA_CHECK(cudaStreamSynchronize(st));
      for (std::size_t e = 0; e < count; ++e) got[e] = half_to_float(g16[e]);
    } else {
      TILENET_CUDA_CHECK(cudaMemcpyAsync(got.data(), dout.p, count * 4, cudaMemcpyDeviceToHost, st));
      TILENET_CUDA_CHECK(cudaStreamSynchronize(st));
    }
    compare(got, want, row, std::string("conv2d wgmma ") + pass + shape, report);
  };
  auto to_float = [](const std::vector<half>& v) {
    std::vector<float> f(v.size());
    for (std::size_t e = 0; e < v.size(); ++e) f[e] = half_to_float(v[e]);
    return f;
  };
  const auto algo = Conv2dAlgo::ImplicitGemmWgmma;

  std::vector<half> ref_y(ny), ref_dx(nx);
  std::vector<float> ref_dw(nw);
  conv2d_forward_ref(sh, hx.data(), hw.data(), bias.data(), ref_y.data(), Activation::relu);
  check("fwd", ny, sh.k, true, to_float(ref_y), [&] {
    conv2d_forward(sh, static_cast<const half*>(dx.p), static_cast<const half*>(dw.p),
                   static_cast<const float*>(dbias.p), static_cast<half*>(dout.p), Activation::relu, dws.p, ws_bytes,
                   st, algo);
  });
  conv2d_backward_data_ref(sh, hy.data(), hw.data(), ref_dx.data());
  check("bwd_data", nx, sh.c, true, to_float(ref_dx), [&] {
    conv2d_backward_data(sh, static_cast<const half*>(dy.p), static_cast<const half*>(dw.p),
                         static_cast<half*>(dout.p), dws.p, ws_bytes, st, algo);
  });
  conv2d_backward_filter_ref(sh, hx.data(), hy.data(), ref_dw.data(), false);
  check("bwd_filter", nw, sh.r * sh.s * sh.c, false, ref_dw, [&] {
    conv2d_backward_filter(sh, static_cast<const half*>(dx.p), static_cast<const half*>(dy.p),
                           static_cast<float*>(dout.p), false, dws.p, ws_bytes, st, algo);
  });
  return report.str();
}

}  // namespace tilenet::kernels
