// train_alexnet: AlexNet (alexnet_model.h) with tilenet, two modes.
//   --synthetic: ImageNet-shaped random batches (N x 3 x 224 x 224 as NHWC, 1000 classes) resident
//     on the device; times each training step (CUDA events, median after warm-up) and prints last
//       images_per_s=... step_ms=... peak_mem_mb=...
//   --data DIR: an IDX set (Fashion-MNIST) or CIFAR-10 binary batches, resident on the device as
//     small images; every batch is gathered, bilinearly resized to SIZE x SIZE x 3 and normalised on
//     the device (resize.h), then trained; each epoch ends with a test-set evaluation. Prints last
//       test_accuracy=... test_loss=... epoch_time_s=... images_per_s=... peak_mem_mb=...
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "nn/callbacks.h"
#include "nn/data/cifar10.h"
#include "nn/data/idx.h"
#include "nn/progress.h"
#include "optim/optimizers.h"
#include "samples/alexnet/alexnet_model.h"
#include "samples/alexnet/resize.h"
#include "samples/common/flags.h"
#include "samples/common/history_plot.h"
#include "samples/common/sample_support.h"
#include "tensor/error.h"
#include "tensor/stream.h"

using namespace tilenet;
namespace fs = std::filesystem;

namespace {

struct Options {
  std::string data, device, precision = "fp32", optimizer = "sgd", save, history, autotune = "on";
  bool synthetic = false, bn = false;
  int size = 224, classes = 0, epochs = 2, steps = 30, warmup = 10, verbose = 1;
  std::int64_t batch_size = 128, train_limit = 0, test_limit = 0;
  std::uint64_t seed = 42;
  double lr = 0.01, momentum = 0.9;
};

// CUDA events for timing, destroyed on every way out (a failed step throws).
class TimingEvents {
 public:
  explicit TimingEvents(std::size_t n) {
    ev_.reserve(n);
    try {
      for (std::size_t i = 0; i < n; ++i) {
        cudaEvent_t e = nullptr;
        TILENET_CUDA_CHECK(cudaEventCreate(&e));
        ev_.push_back(e);
      }
    } catch (...) {  // the destructor does not run for a constructor that throws
      destroy();
      throw;
    }
  }
  ~TimingEvents() { destroy(); }
  TimingEvents(const TimingEvents&) = delete;
  TimingEvents& operator=(const TimingEvents&) = delete;
  cudaEvent_t operator[](std::size_t i) const { return ev_[i]; }

 private:
  void destroy() {
    for (cudaEvent_t e : ev_)
      if (cudaEventDestroy(e) != cudaSuccess) (void)cudaGetLastError();
    ev_.clear();
  }
  std::vector<cudaEvent_t> ev_;
};

// Synthetic throughput: the same batch every step (the data pipeline is not what is measured).
int run_synthetic(nn::Sequential& model, const Options& o, Device dev) {
  const int classes = o.classes > 0 ? o.classes : 1000;
  Tensor x = Tensor::uniform({o.batch_size, o.size, o.size, 3}, -1.0f, 1.0f, o.seed, dev);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(o.batch_size));
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>((i * 7919 + o.seed) % classes);
  Tensor y = Tensor::from_ints(labels, {o.batch_size}, dev);
  for (int i = 0; i < o.warmup; ++i) model.train_on_batch(x, y);
  std::vector<double> ms;
  if (dev.is_cuda()) {
    cuda::synchronize(dev.index);
    const cudaStream_t s = cuda::current_stream(dev.index);
    TimingEvents ev(2 * static_cast<std::size_t>(o.steps));
    for (int i = 0; i < o.steps; ++i) {
      TILENET_CUDA_CHECK(cudaEventRecord(ev[2 * i], s));
      model.train_on_batch(x, y);
      TILENET_CUDA_CHECK(cudaEventRecord(ev[2 * i + 1], s));
    }
    cuda::synchronize(dev.index);
    for (int i = 0; i < o.steps; ++i) {
      float t = 0;
      TILENET_CUDA_CHECK(cudaEventElapsedTime(&t, ev[2 * i], ev[2 * i + 1]));
      ms.push_back(t);
    }
  } else {
    for (int i = 0; i < o.steps; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      model.train_on_batch(x, y);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  const nn::Logs logs = model.read_train_metrics();
  const double loss = logs.count("loss") ? logs.at("loss") : NAN;
  if (!std::isfinite(loss)) {  // a diverged run has no step time worth reporting
    std::fprintf(stderr, "train_alexnet: --synthetic: the mean training loss is %g, not finite\n", loss);
    return 1;
  }
  if (const optim::LossScaler* ls = model.loss_scaler())
    std::printf("mixed precision: %lld of %d steps skipped for inf/nan gradients, loss scale %g\n",
                static_cast<long long>(ls->skipped_steps()), o.warmup + o.steps, static_cast<double>(ls->current_scale()));
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  const double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  if (o.verbose > 0)
    std::printf("synthetic: %d timed steps after %d warm-up, batch %lld, min %.3f ms, max %.3f ms, loss %.4f\n",
                o.steps, o.warmup, static_cast<long long>(o.batch_size), sorted.front(), sorted.back(), loss);
  if (o.verbose > 1) samples::print_autotune_report(std::cout);
  samples::print_memory_line(dev);
  std::printf("images_per_s=%.1f step_ms=%.3f peak_mem_mb=%.0f\n", static_cast<double>(o.batch_size) * 1000.0 / median,
              median, samples::peak_mem_mb(dev));
  return 0;
}

nn::data::LabeledImages load_set(const std::string& dir, bool train, std::int64_t limit) {
  const bool idx = fs::exists(fs::path(dir) / "train-images-idx3-ubyte") ||
                   fs::exists(fs::path(dir) / "train-images-idx3-ubyte.gz");
  nn::data::LabeledImages s = idx ? nn::data::load_mnist(dir, train) : nn::data::load_cifar10(dir, train);
  if (limit > 0 && limit < s.x.dim(0)) s = {s.x.slice(0, limit), s.y.slice(0, limit)};
  return s;
}

// Per-channel mean and 1/std of the training images (host), for the resize's normalisation.
samples::ChannelNorm channel_norm(const Tensor& x) {
  const std::vector<float> v = x.to_vector();
  const int c = static_cast<int>(x.dim(3));
  std::vector<double> sum(c, 0.0), sq(c, 0.0);
  for (std::size_t i = 0; i < v.size(); ++i) sum[i % c] += v[i], sq[i % c] += static_cast<double>(v[i]) * v[i];
  samples::ChannelNorm norm;
  const double per = static_cast<double>(v.size()) / c;
  for (int k = 0; k < 3; ++k) {
    const int src = c == 1 ? 0 : k;
    const double mean = sum[src] / per, var = std::max(sq[src] / per - mean * mean, 1e-12);
    norm.mean[k] = static_cast<float>(mean);
    norm.inv_std[k] = static_cast<float>(1.0 / std::sqrt(var));
  }
  return norm;
}

// Gathers rows index[0..n) of x (null: rows 0..n-1), resizes them to out ([n, S, S, 3]) on x's device.
void resize_batch(const Tensor& x, const std::int32_t* index, std::int64_t n, Tensor& out,
                  const samples::ChannelNorm& norm) {
  samples::ResizeShape sh{x.dim(0), static_cast<int>(n), static_cast<int>(x.dim(1)), static_cast<int>(x.dim(2)),
                          static_cast<int>(x.dim(3)), static_cast<int>(out.dim(1)), static_cast<int>(out.dim(2)), 3};
  if (x.is_cuda())
    samples::resize_bilinear(sh, x.data<float>(), index, out.data<float>(), norm, cuda::current_stream(x.device().index));
  else
    samples::resize_bilinear_ref(sh, x.data<float>(), index, out.data<float>(), norm);
}

int run_data(nn::Sequential& model, const Options& o, Device dev, const nn::data::LabeledImages& train,
             const nn::data::LabeledImages& test) {
  const samples::ChannelNorm norm = channel_norm(train.x);
  const Tensor x_train = train.x.to(dev), x_test = test.x.to(dev), y_test = test.y.to(dev);
  const std::vector<std::int32_t> y_host = train.y.to_ints();
  const std::int64_t n = x_train.dim(0), bs = o.batch_size, nb = (n + bs - 1) / bs;
  Tensor xbuf = Tensor::empty({bs, o.size, o.size, 3}, DType::f32, dev);

  nn::History h;
  std::vector<double> ips;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    if (o.verbose > 0) std::cout << "Epoch " << epoch + 1 << "/" << o.epochs << "\n" << std::flush;
    nn::Progbar bar(nb, o.verbose, std::cout, nn::stdout_is_terminal());
    // One permutation per epoch: uploaded once (indices and the labels in that order).
    const std::vector<std::int32_t> perm = nn::Dataset::permutation(n, o.seed, epoch);
    std::vector<std::int32_t> y_perm(perm.size());
    for (std::size_t i = 0; i < perm.size(); ++i) y_perm[i] = y_host[static_cast<std::size_t>(perm[i])];
    const Tensor perm_dev = Tensor::from_ints(perm, {n}, dev), y_epoch = Tensor::from_ints(y_perm, {n}, dev);
    model.read_train_metrics();  // reset the running sums
    // Mixed precision: steps skipped for inf/NaN gradients (a device read, once per epoch).
    const std::int64_t skipped_before = model.loss_scaler() ? model.loss_scaler()->skipped_steps() : 0;
    for (std::int64_t b = 0; b < nb; ++b) {
      const std::int64_t lo = b * bs, cnt = std::min(bs, n - lo);
      Tensor xb = xbuf.slice(0, cnt);
      resize_batch(x_train, perm_dev.data<std::int32_t>() + lo, cnt, xb, norm);
      model.train_on_batch(xb, y_epoch.slice(lo, lo + cnt));
      if (b + 1 < nb && bar.refresh_due()) {
        nn::Logs l = model.read_train_metrics(false);
        bar.update(b + 1, {{"loss", l["loss"]}, {"accuracy", l["accuracy"]}});
      }
    }
    nn::Logs logs = model.read_train_metrics();
    const double train_s = bar.elapsed_s();
    double vloss = 0, vacc = 0;
    nn::EvaluateOptions eo;
    eo.batch_size = bs;
    for (std::int64_t lo = 0; lo < x_test.dim(0); lo += bs) {
      const std::int64_t cnt = std::min(bs, x_test.dim(0) - lo);
      Tensor xb = xbuf.slice(0, cnt);
      resize_batch(x_test.slice(lo, lo + cnt), nullptr, cnt, xb, norm);
      const nn::Logs l = model.evaluate(xb, y_test.slice(lo, lo + cnt), eo);
      vloss += l.at("loss") * static_cast<double>(cnt);
      vacc += l.at("accuracy") * static_cast<double>(cnt);
    }
    logs["val_loss"] = vloss / static_cast<double>(x_test.dim(0));
    logs["val_accuracy"] = vacc / static_cast<double>(x_test.dim(0));
    bar.finish({{"loss", logs["loss"]}, {"accuracy", logs["accuracy"]}, {"val_loss", logs["val_loss"]},
                {"val_accuracy", logs["val_accuracy"]}});
    h.epoch.push_back(epoch);
    for (const auto& [k, v] : logs) h.history[k].push_back(v);
    h.learning_rate.push_back(model.optimizer().learning_rate());
    h.epoch_time_s.push_back(bar.elapsed_s());
    h.skipped_steps.push_back(model.loss_scaler() ? model.loss_scaler()->skipped_steps() - skipped_before : 0);
    ips.push_back(static_cast<double>(n) / train_s);
  }

  if (!o.save.empty()) model.save_weights(o.save);
  if (!o.history.empty())
    samples::write_history_files(o.history, h, "train_alexnet on " + fs::path(o.data).filename().string());
  const std::size_t first = h.epoch_time_s.size() > 1 ? 1 : 0;
  double epoch_s = 0, img_s = 0;
  for (std::size_t i = first; i < h.epoch_time_s.size(); ++i) epoch_s += h.epoch_time_s[i], img_s += ips[i];
  const double k = static_cast<double>(h.epoch_time_s.size() - first);
  if (o.verbose > 1) samples::print_autotune_report(std::cout);
  samples::print_memory_line(dev);
  std::printf("test_accuracy=%.4f test_loss=%.4f epoch_time_s=%.3f images_per_s=%.1f peak_mem_mb=%.0f\n",
              h["val_accuracy"].back(), h["val_loss"].back(), epoch_s / k, img_s / k, samples::peak_mem_mb(dev));
  return 0;
}

int run(int argc, char** argv) {
  Options o;
  samples::Flags flags("train_alexnet", "(--synthetic | --data DIR) [flags]",
                       "AlexNet training throughput on synthetic ImageNet-shaped batches, or training on an IDX\n"
                       "(Fashion-MNIST) or CIFAR-10 binary set resized on the device to SIZE x SIZE x 3.");
  flags.add_switch("synthetic", &o.synthetic, "random ImageNet-shaped batches (1000 classes); prints step time");
  flags.add("data", &o.data, "DIR", "IDX folder (MNIST file names) or CIFAR-10 binary folder (data_batch_*.bin)");
  flags.add("size", &o.size, "N", "input height and width (227: conv1 'valid', torchvision's shapes exactly)");
  flags.add("classes", &o.classes, "N", "output classes (default: 1000 synthetic, 10 with --data)");
  flags.add_switch("bn", &o.bn, "BatchNormalization after each convolution");
  flags.add("precision", &o.precision, "fp32|mixed", "mixed: fp16 Tensor Core compute, fp32 master weights",
            {"fp32", "mixed"});
  flags.add("device", &o.device, "cuda|cpu", "default: cuda when a GPU is present", {"cuda", "cpu"});
  flags.add("autotune", &o.autotune, "on|off",
            "on CUDA, time the candidate convolution kernels at each layer's first step and keep the fastest "
            "(off: the chooser's rule)",
            {"on", "off"});
  flags.add("batch-size", &o.batch_size, "N", "images per step");
  flags.add("steps", &o.steps, "N", "timed steps (--synthetic)");
  flags.add("warmup", &o.warmup, "N", "untimed steps first (--synthetic)");
  flags.add("epochs", &o.epochs, "N", "epochs (--data)");
  flags.add("train-limit", &o.train_limit, "N", "first N training images only (0: all)");
  flags.add("test-limit", &o.test_limit, "N", "first N test images only (0: all)");
  flags.add("optimizer", &o.optimizer, "NAME", "sgd (with --momentum), adam, adamw or rmsprop",
            {"sgd", "adam", "adamw", "rmsprop"});
  flags.add("lr", &o.lr, "X", "learning rate");
  flags.add("momentum", &o.momentum, "X", "SGD momentum");
  flags.add("seed", &o.seed, "N", "weights, data order, dropout");
  flags.add("save", &o.save, "PATH", "write the trained weights (safetensors, --data)");
  flags.add("history", &o.history, "FILE", "per-epoch history .csv or .json and an .svg plot (--data)");
  flags.add("verbose", &o.verbose, "0|1|2", "0 silent, 1 progress bar, 2 one line per epoch");
  if (!flags.parse(argc, argv)) return 0;

  if (o.synthetic == !o.data.empty()) throw samples::FlagError("give exactly one of --synthetic and --data DIR");
  if (o.size < 63) throw samples::FlagError("--size must be >= 63 (three 3/2 max-pools need it)");
  if (o.batch_size < 1 || o.steps < 1 || o.warmup < 0 || o.epochs < 1 || o.train_limit < 0 || o.test_limit < 0)
    throw samples::FlagError("--batch-size, --steps and --epochs must be >= 1; --warmup and the limits >= 0");
  if (o.verbose < 0 || o.verbose > 2) throw samples::FlagError("--verbose must be 0, 1 or 2");
  if (o.lr <= 0) throw samples::FlagError("--lr must be positive");
  if (flags.given("classes") && o.classes < 1)
    throw samples::FlagError("--classes must be >= 1, got " + std::to_string(o.classes) +
                             " (leave it out for the default: 1000 synthetic, 10 with --data)");
  if (o.optimizer == "sgd" && !(o.momentum >= 0 && o.momentum <= 1)) {  // SGD's range, before any data is loaded
    std::ostringstream msg;
    msg << "--momentum must be in [0, 1], got " << o.momentum;
    throw samples::FlagError(msg.str());
  }
  if (!o.history.empty()) {
    try {
      samples::check_history_path(o.history);
    } catch (const std::invalid_argument& e) {
      throw samples::FlagError(std::string("--history: ") + e.what());
    }
  }
  if (!o.data.empty() && !fs::is_directory(o.data)) throw samples::FlagError("--data: no folder '" + o.data + "'");
  const Device dev =
      samples::pick_device(o.device, "train_alexnet", "very slow: use a small --size and --batch-size");

  samples::set_conv_autotune(o.autotune, dev);
  nn::data::LabeledImages train, test;
  if (!o.synthetic) {
    train = load_set(o.data, true, o.train_limit);
    test = load_set(o.data, false, o.test_limit);
    if (train.x.dim(3) != 1 && train.x.dim(3) != 3)
      throw IoError("train_alexnet: " + o.data + " holds images with " + std::to_string(train.x.dim(3)) +
                    " channels; 1 or 3 are supported");
  }
  const int classes = o.classes > 0 ? o.classes : o.synthetic ? 1000 : 10;
  nn::Sequential model("alexnet", o.seed);
  samples::build_alexnet(model, o.size, classes, o.bn);
  model.to(dev);
  std::shared_ptr<optim::Optimizer> opt;
  if (o.optimizer == "sgd")
    opt = std::make_shared<optim::SGD>(static_cast<float>(o.lr), static_cast<float>(o.momentum));
  else
    opt = optim::make_optimizer(o.optimizer, static_cast<float>(o.lr));
  nn::CompileOptions copts;
  copts.mixed_precision = o.precision == "mixed";
  model.compile(opt, "sparse_categorical_crossentropy", {"accuracy"}, copts);
  if (o.verbose > 0) {
    std::cout << "train_alexnet: " << (o.synthetic ? "synthetic" : o.data) << ", " << o.size << "x" << o.size
              << "x3, " << classes << " classes" << (o.bn ? ", batch norm" : "") << ", " << dev.str() << ", "
              << o.precision << ", " << opt->name() << " lr=" << o.lr << ", batch " << o.batch_size << "\n";
    if (o.verbose > 1 || !o.synthetic) model.summary();
  }
  return o.synthetic ? run_synthetic(model, o, dev) : run_data(model, o, dev, train, test);
}

}  // namespace

int main(int argc, char** argv) {
  return samples::run_main("train_alexnet", [&] { return run(argc, argv); });
}
