// wgmma_self_check (kernels/gemm_internal.h): the Hopper wgmma kernels (gemm_wgmma_sm90a.cu) on
// small integers, where fp32 accumulation is exact, against a CPU product: every transpose and
// tile configuration, fp32 and fp16 output (the fp16 result must be the rounded exact value).
// Used by GemmGpu.WgmmaSelfCheck and by the gate in front of GemmAlgo::Auto
// (kernels/gemm_wgmma_gate.h). Host code only.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/gemm_args.h"
#include "kernels/gemm_internal.h"
#include "kernels/launch.h"
#include "tensor/error.h"
#include "tensor/half.h"

namespace tilenet::kernels {
namespace {

// A device allocation freed on every path: the check may throw half way through. A failure while
// freeing is dropped from the last-error slot, where it would surface in the caller's next launch.
struct DeviceBuffer {
  void* p = nullptr;
  explicit DeviceBuffer(std::size_t bytes) { TILENET_CUDA_CHECK(cudaMalloc(&p, bytes)); }
  ~DeviceBuffer() {
    if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

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
  DeviceBuffer da(sa * batch * 2), db(sb * batch * 2), dc(sc * batch * 4), dc16(sc * batch * 2);
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

}  // namespace tilenet::kernels
