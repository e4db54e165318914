// Bandwidth of tilenet's pooling, softmax / cross-entropy, batch-norm and dropout kernels against
// a device-to-device copy measured in the same binary, and cuDNN's pooling, softmax and batch
// norm on the same buffers. Names: <op>/<f32|f16>/<tilenet|cudnn|copy>/<shape>.
// Counters: GB/s = bytes that must move (inputs read once + outputs written once) / time, and
// vs_copy = that over the copy's GB/s (a copy counts bytes read + written). Batch-norm training
// and backward also report GB/s_passes / vs_copy_passes over the bytes of their two passes
// (reduce, then apply), each of which can at best run at copy speed. CUDA events, UseManualTime;
// operand sets rotate so every run reads DRAM, not L2. Skips with a message without a GPU.
#include <random>

#include "cnn_bench_util.h"
#include "kernels/batchnorm.h"
#include "kernels/dropout.h"
#include "kernels/pool2d.h"
#include "kernels/softmax.h"

using namespace tilenet;
using namespace tilenet::bench;

namespace {

constexpr double kMinTime = 0.25;  // seconds of GPU time per case

std::string name(const std::string& op, Dt d, const char* impl, const std::string& shape) {
  return op + "/" + dt_name(d) + "/" + impl + "/" + shape;
}

// A case that throws (a CUDA or cuDNN error, a tilenet check) reports it and the others still run.
template <typename F>
void add(const std::string& n, F&& f) {
  auto guarded = [f = std::forward<F>(f)](benchmark::State& st) {
    try {
      f(st);
    } catch (const std::exception& e) {
      st.SkipWithError(e.what());
    }
  };
  benchmark::RegisterBenchmark(n.c_str(), guarded)->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(
      kMinTime / kLaunchesPerTiming);
}

// Calls f(T*) with the storage type of d.
template <typename F>
void typed(Dt d, F&& f) {
  if (d == Dt::f32)
    f(static_cast<float*>(nullptr));
  else
    f(static_cast<half*>(nullptr));
}

// ---- pooling: x [N,H,W,C] -> y [N,P,Q,C]; 3x3 windows, stride 2 (AlexNet)
enum class PoolOp { max_fwd_train, max_fwd, max_bwd, avg_fwd, avg_bwd };

void pool_case(benchmark::State& st, PoolOp op, bool cudnn, Dt d, kernels::Pool2dShape sh) {
  const std::size_t e = dt_size(d), in = sh.input_size() * e, out = sh.output_size() * e, idx = sh.output_size() * 4;
  // Bytes one launch touches, the larger of the two implementations' (same sets for both).
  const std::size_t touched = op == PoolOp::max_bwd ? 2 * in + 2 * out : op == PoolOp::max_fwd_train ? in + out + idx : in + out;
  Sets sets({in, out, idx, out, in}, touched);  // x, y, indices, dy, dx
  for (std::size_t i = 0; i < sets.count(); ++i) {
    fill(sets.at(i, 0), sh.input_size(), d, -1, 1, 10 + i);
    fill(sets.at(i, 3), sh.output_size(), d, -1, 1, 20 + i);
  }
  std::function<void(std::size_t)> launch;
  double bytes = 0;
#ifdef TILENET_HAVE_CUDNN
  std::shared_ptr<TensorDesc> xd, yd;
  cudnnPoolingDescriptor_t pd = nullptr;
  if (cudnn) {
    xd = std::make_shared<TensorDesc>(CUDNN_TENSOR_NHWC, d, sh.n, sh.c, sh.h, sh.w);
    yd = std::make_shared<TensorDesc>(CUDNN_TENSOR_NHWC, d, sh.n, sh.c, sh.p(), sh.q());
    DNN_CHECK(cudnnCreatePoolingDescriptor(&pd));
    const bool mx = op == PoolOp::max_fwd || op == PoolOp::max_bwd;
    DNN_CHECK(cudnnSetPooling2dDescriptor(pd, mx ? CUDNN_POOLING_MAX : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING,
                                          CUDNN_PROPAGATE_NAN, sh.r, sh.s, sh.pad_top, sh.pad_left, sh.stride_h,
                                          sh.stride_w));
    static const float one = 1, zero = 0;  // read by the launches after this block
    auto fwd = [&, pd, xd, yd](std::size_t i) {
      DNN_CHECK(cudnnPoolingForward(g_dnn, pd, &one, xd->d, sets.at(i, 0), &zero, yd->d, sets.at(i, 1)));
    };
    if (op == PoolOp::max_fwd || op == PoolOp::avg_fwd) {
      launch = fwd;
      bytes = in + out;
    } else {
      for (std::size_t i = 0; i < sets.count(); ++i) fwd(i);
      launch = [&, pd, xd, yd](std::size_t i) {
        DNN_CHECK(cudnnPoolingBackward(g_dnn, pd, &one, yd->d, sets.at(i, 1), yd->d, sets.at(i, 3), xd->d,
                                       sets.at(i, 0), &zero, xd->d, sets.at(i, 4)));
      };
      bytes = op == PoolOp::max_bwd ? 2.0 * in + 2.0 * out : out + in;  // max needs x, y, dy; avg only dy
    }
  }
#endif
  if (!cudnn) {
    typed(d, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      auto P = [&](std::size_t i, int k) { return static_cast<T*>(sets.at(i, k)); };
      auto I = [&](std::size_t i) { return static_cast<std::int32_t*>(sets.at(i, 2)); };
      switch (op) {
        case PoolOp::max_fwd_train:
          launch = [=](std::size_t i) { kernels::max_pool2d_forward(sh, P(i, 0), P(i, 1), I(i), g_stream); };
          bytes = in + out + idx;
          break;
        case PoolOp::max_fwd:
          launch = [=](std::size_t i) { kernels::max_pool2d_forward(sh, P(i, 0), P(i, 1), nullptr, g_stream); };
          bytes = in + out;
          break;
        case PoolOp::max_bwd:
          for (std::size_t i = 0; i < sets.count(); ++i) kernels::max_pool2d_forward(sh, P(i, 0), P(i, 1), I(i), g_stream);
          launch = [=](std::size_t i) { kernels::max_pool2d_backward(sh, P(i, 3), I(i), P(i, 4), g_stream); };
          bytes = out + idx + in;
          break;
        case PoolOp::avg_fwd:
          launch = [=](std::size_t i) { kernels::avg_pool2d_forward(sh, P(i, 0), P(i, 1), g_stream); };
          bytes = in + out;
          break;
        case PoolOp::avg_bwd:
          launch = [=](std::size_t i) { kernels::avg_pool2d_backward(sh, P(i, 3), P(i, 4), g_stream); };
          bytes = out + in;
          break;
      }
    });
  }
  time_it(st, sets, launch, bytes);
#ifdef TILENET_HAVE_CUDNN
  if (pd) cudnnDestroyPoolingDescriptor(pd);
#endif
}

// ---- softmax over rows of [rows, cols]
enum class SmOp { fwd, log_fwd, bwd, xent };

void softmax_case(benchmark::State& st, SmOp op, bool cudnn, Dt d, std::int64_t rows, std::int64_t cols) {
  const std::size_t n = rows * cols, b = n * dt_size(d);
  Sets sets({b, b, b, static_cast<std::size_t>(rows) * 4, static_cast<std::size_t>(rows) * 4});  // x|y, y|dy, dx, labels, losses
  std::vector<std::int32_t> labels(rows);
  std::mt19937 gen(5);
  for (auto& l : labels) l = static_cast<std::int32_t>(gen() % cols);
  for (std::size_t i = 0; i < sets.count(); ++i) {
    fill(sets.at(i, 0), n, d, -8, 8, 30 + i);
    fill(sets.at(i, 1), n, d, -1, 1, 40 + i);
    TILENET_CUDA_CHECK(cudaMemcpyAsync(sets.at(i, 3), labels.data(), rows * 4, cudaMemcpyHostToDevice, g_stream));
  }
  std::function<void(std::size_t)> launch;
  double bytes = op == SmOp::bwd ? 3.0 * b : 2.0 * b;
#ifdef TILENET_HAVE_CUDNN
  if (cudnn) {
    auto td = std::make_shared<TensorDesc>(CUDNN_TENSOR_NCHW, d, static_cast<int>(rows), static_cast<int>(cols), 1, 1);
    const cudnnSoftmaxAlgorithm_t algo = op == SmOp::log_fwd ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE;
    static const float one = 1, zero = 0;
    if (op == SmOp::bwd)
      launch = [&, td](std::size_t i) {
        DNN_CHECK(cudnnSoftmaxBackward(g_dnn, CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_INSTANCE, &one, td->d,
                                       sets.at(i, 0), td->d, sets.at(i, 1), &zero, td->d, sets.at(i, 2)));
      };
    else
      launch = [&, td, algo](std::size_t i) {
        DNN_CHECK(cudnnSoftmaxForward(g_dnn, algo, CUDNN_SOFTMAX_MODE_INSTANCE, &one, td->d, sets.at(i, 0), &zero,
                                      td->d, sets.at(i, 1)));
      };
  }
#endif
  if (!cudnn) {
    typed(d, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      auto P = [&](std::size_t i, int k) { return static_cast<T*>(sets.at(i, k)); };
      switch (op) {
        case SmOp::fwd:
        case SmOp::log_fwd: {
          const bool log = op == SmOp::log_fwd;
          launch = [=](std::size_t i) { kernels::softmax_forward(P(i, 0), P(i, 2), rows, cols, log, g_stream); };
          break;
        }
        case SmOp::bwd:
          launch = [=](std::size_t i) { kernels::softmax_backward(P(i, 0), P(i, 1), P(i, 2), rows, cols, false, g_stream); };
          break;
        case SmOp::xent:
          launch = [=, &sets](std::size_t i) {
            kernels::softmax_cross_entropy(P(i, 0), static_cast<const std::int32_t*>(sets.at(i, 3)),
                                           static_cast<float*>(sets.at(i, 4)), P(i, 2), rows, cols, 1.0f / rows,
                                           nullptr, g_stream);
          };
          bytes = 2.0 * b + 8.0 * rows;
          break;
      }
    });
  }
  time_it(st, sets, launch, bytes);
}

// ---- batch norm over the channels of [rows, C]
enum class BnOp { train, infer, bwd };

void bn_case(benchmark::State& st, BnOp op, bool cudnn, Dt d, int n, int h, int w, int c) {
  const std::int64_t rows = static_cast<std::int64_t>(n) * h * w, cnt = rows * c;
  const std::size_t b = cnt * dt_size(d), pc = c * 4;
  // x, y, dy, dx, gamma, beta, running mean, running var, save mean, save invstd, dgamma, dbeta, workspace
  Sets sets({b, b, b, b, pc, pc, pc, pc, pc, pc, pc, pc, kernels::batchnorm_workspace_bytes(rows, c)},
            (op == BnOp::bwd ? 3 : 2) * b);  // x, y / x, dy, dx
  for (std::size_t i = 0; i < sets.count(); ++i) {
    fill(sets.at(i, 0), cnt, d, -1, 3, 50 + i);
    fill(sets.at(i, 2), cnt, d, -1, 1, 60 + i);
    for (int k : {4, 5, 6, 7}) fill(sets.at(i, k), c, Dt::f32, 0.5f, 1.5f, 70 + k);
  }
  auto F = [&](std::size_t i, int k) { return static_cast<float*>(sets.at(i, k)); };
  std::function<void(std::size_t)> launch;
  const double strict = op == BnOp::bwd ? 3.0 * b : 2.0 * b;
  const double passes = op == BnOp::train ? 3.0 * b : op == BnOp::bwd ? 5.0 * b : 2.0 * b;
  const float eps = 1e-3f;
#ifdef TILENET_HAVE_CUDNN
  if (cudnn) {
    auto xd = std::make_shared<TensorDesc>(CUDNN_TENSOR_NHWC, d, n, c, h, w);
    auto pd = std::make_shared<TensorDesc>();
    const cudnnBatchNormMode_t mode = op == BnOp::infer ? CUDNN_BATCHNORM_SPATIAL : CUDNN_BATCHNORM_SPATIAL_PERSISTENT;
    DNN_CHECK(cudnnDeriveBNTensorDescriptor(pd->d, xd->d, mode));
    static const float one = 1, zero = 0;
    // Training and backward through the Ex entry points: cuDNN's NHWC fast path (workspace and
    // reserve space sized by cuDNN).
    const cudnnBatchNormOps_t ops = CUDNN_BATCHNORM_OPS_BN;
    std::size_t fws = 0, bws = 0, rs = 0;
    DNN_CHECK(cudnnGetBatchNormalizationForwardTrainingExWorkspaceSize(g_dnn, mode, ops, xd->d, nullptr, xd->d, pd->d,
                                                                       nullptr, &fws));
    DNN_CHECK(cudnnGetBatchNormalizationBackwardExWorkspaceSize(g_dnn, mode, ops, xd->d, xd->d, xd->d, nullptr, xd->d,
                                                                pd->d, nullptr, &bws));
    DNN_CHECK(cudnnGetBatchNormalizationTrainingExReserveSpaceSize(g_dnn, mode, ops, nullptr, xd->d, &rs));
    auto ws = std::make_shared<DevMem>(std::max(fws, bws));
    auto reserve = std::make_shared<DevMem>(rs);
    auto train = [&, xd, pd, mode, ops, F, ws, reserve, fws, rs](std::size_t i) {
      DNN_CHECK(cudnnBatchNormalizationForwardTrainingEx(
          g_dnn, mode, ops, &one, &zero, xd->d, sets.at(i, 0), nullptr, nullptr, xd->d, sets.at(i, 1), pd->d, F(i, 4),
          F(i, 5), 0.01, F(i, 6), F(i, 7), eps, F(i, 8), F(i, 9), nullptr, ws->p, fws, reserve->p, rs));
    };
    if (op == BnOp::train) {
      launch = train;
    } else if (op == BnOp::infer) {
      launch = [&, xd, pd, mode, F](std::size_t i) {
        DNN_CHECK(cudnnBatchNormalizationForwardInference(g_dnn, mode, &one, &zero, xd->d, sets.at(i, 0), xd->d,
                                                          sets.at(i, 1), pd->d, F(i, 4), F(i, 5), F(i, 6), F(i, 7), eps));
      };
    } else {
      train(0);  // one set: the reserve space holds what backward reads from this forward
      launch = [&, xd, pd, mode, ops, F, ws, reserve, bws, rs](std::size_t i) {
        DNN_CHECK(cudnnBatchNormalizationBackwardEx(g_dnn, mode, ops, &one, &zero, &one, &zero, xd->d, sets.at(i, 0),
                                                    xd->d, sets.at(i, 1), xd->d, sets.at(i, 2), nullptr, nullptr, xd->d,
                                                    sets.at(i, 3), pd->d, F(i, 4), F(i, 5), F(i, 10), F(i, 11), eps,
                                                    F(i, 8), F(i, 9), nullptr, ws->p, bws, reserve->p, rs));
      };
    }
  }
#endif
  if (!cudnn) {
    typed(d, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      auto P = [&](std::size_t i, int k) { return static_cast<T*>(sets.at(i, k)); };
      auto train = [=, &sets](std::size_t i) {
        kernels::batchnorm_forward_train(P(i, 0), F(i, 4), F(i, 5), F(i, 6), F(i, 7), P(i, 1), F(i, 8), F(i, 9), rows, c,
                                         0.99f, eps, sets.at(i, 12), g_stream);
      };
      if (op == BnOp::train) {
        launch = train;
      } else if (op == BnOp::infer) {
        launch = [=](std::size_t i) {
          kernels::batchnorm_forward_infer(P(i, 0), F(i, 4), F(i, 5), F(i, 6), F(i, 7), P(i, 1), rows, c, eps, g_stream);
        };
      } else {
        for (std::size_t i = 0; i < sets.count(); ++i) train(i);
        launch = [=, &sets](std::size_t i) {
          kernels::batchnorm_backward(P(i, 2), P(i, 0), F(i, 4), F(i, 8), F(i, 9), P(i, 3), F(i, 10), F(i, 11), rows, c,
                                      false, sets.at(i, 12), g_stream);
        };
      }
    });
  }
  time_it(st, sets, launch, strict, op == BnOp::infer ? 0.0 : passes);
}

void dropout_case(benchmark::State& st, Dt d, std::int64_t n) {
  const std::size_t b = n * dt_size(d);
  Sets sets({b, b});
  for (std::size_t i = 0; i < sets.count(); ++i) fill(sets.at(i, 0), n, d, -1, 1, 80 + i);
  std::function<void(std::size_t)> launch;
  typed(d, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    launch = [&](std::size_t i) {
      kernels::dropout(static_cast<const T*>(sets.at(i, 0)), static_cast<T*>(sets.at(i, 1)), n, 0.5f, 7, 0, g_stream);
    };
  });
  time_it(st, sets, launch, 2.0 * b);
}

void register_cases() {
  add("copy/f32/copy/512MiB", [](benchmark::State& st) { copy_bench(st, 512u << 20); });
  std::vector<const char*> impls = {"tilenet"};
#ifdef TILENET_HAVE_CUDNN
  impls.push_back("cudnn");
#endif
  const std::pair<const char*, kernels::Pool2dShape> pools[] = {
      {"128x55x55x64_k3s2", {128, 55, 55, 64, 3, 3, 2, 2}},
      {"128x27x27x192_k3s2", {128, 27, 27, 192, 3, 3, 2, 2}},
      {"128x13x13x256_k3s2", {128, 13, 13, 256, 3, 3, 2, 2}}};
  const std::pair<const char*, PoolOp> pool_ops[] = {{"maxpool_fwd", PoolOp::max_fwd},
                                                     {"maxpool_bwd", PoolOp::max_bwd},
                                                     {"avgpool_fwd", PoolOp::avg_fwd},
                                                     {"avgpool_bwd", PoolOp::avg_bwd}};
  for (Dt d : {Dt::f32, Dt::f16}) {
    for (const auto& [shape, sh] : pools) {
      add(name("maxpool_fwd_train", d, "tilenet", shape),
          [d, sh = sh](benchmark::State& st) { pool_case(st, PoolOp::max_fwd_train, false, d, sh); });
      for (const auto& [op_name, op] : pool_ops)
        for (const char* impl : impls) {
          const bool dnn = std::string(impl) == "cudnn";
          add(name(op_name, d, impl, shape),
              [op = op, dnn, d, sh = sh](benchmark::State& st) { pool_case(st, op, dnn, d, sh); });
        }
    }
    for (auto [rows, cols] : {std::pair<std::int64_t, std::int64_t>{65536, 1000}, {8192, 32768}}) {
      const std::string shape = std::to_string(rows) + "x" + std::to_string(cols);
      for (auto [op_name, op] : {std::pair<const char*, SmOp>{"softmax_fwd", SmOp::fwd},
                                 {"log_softmax_fwd", SmOp::log_fwd},
                                 {"softmax_bwd", SmOp::bwd}})
        for (const char* impl : impls) {
          const bool dnn = std::string(impl) == "cudnn";
          add(name(op_name, d, impl, shape),
              [op = op, dnn, d, rows = rows, cols = cols](benchmark::State& st) { softmax_case(st, op, dnn, d, rows, cols); });
        }
      add(name("softmax_xent", d, "tilenet", shape),
          [d, rows = rows, cols = cols](benchmark::State& st) { softmax_case(st, SmOp::xent, false, d, rows, cols); });
    }
    for (auto [op_name, op] : {std::pair<const char*, BnOp>{"batchnorm_fwd_train", BnOp::train},
                               {"batchnorm_fwd_infer", BnOp::infer},
                               {"batchnorm_bwd", BnOp::bwd}})
      for (const char* impl : impls) {
        const bool dnn = std::string(impl) == "cudnn";
        add(name(op_name, d, impl, "128x56x56x256"),
            [op = op, dnn, d](benchmark::State& st) { bn_case(st, op, dnn, d, 128, 56, 56, 256); });
      }
    add(name("dropout", d, "tilenet", "64Mi"), [d](benchmark::State& st) { dropout_case(st, d, std::int64_t{64} << 20); });
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (!cuda_available()) {
    std::printf("bench_cnn_ops: no CUDA device; nothing to measure\n");
    return 0;
  }
  TILENET_CUDA_CHECK(cudaSetDevice(0));
  TILENET_CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
  g_copy_gbps = measure_copy_gbps(512u << 20);
  benchmark::AddCustomContext("copy_GB/s", std::to_string(g_copy_gbps));
#ifdef TILENET_HAVE_CUDNN
  DNN_CHECK(cudnnCreate(&g_dnn));
  DNN_CHECK(cudnnSetStream(g_dnn, g_stream));
  benchmark::AddCustomContext("cudnn_version", std::to_string(cudnnGetVersion()));
#endif
  register_cases();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
