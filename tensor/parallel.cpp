#include "tensor/parallel.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace tilenet {
namespace {

thread_local bool t_in_parallel = false;

class Pool {
 public:
  static Pool& instance() {
    static Pool* p = new Pool();  // never destroyed: worker threads may outlive static destructors
    return *p;
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void run(int chunks, const std::function<void(int)>& task) {
    std::unique_lock<std::mutex> lock(run_mu_);  // one parallel region at a time
    {
      std::lock_guard<std::mutex> g(mu_);
      task_ = &task;
      next_ = 0;
      total_ = chunks;
      pending_ = chunks;
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> g(mu_);
    done_cv_.wait(g, [&] { return pending_ == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  Pool() {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("TILENET_CPU_THREADS")) n = std::atoi(env);
    n = std::max(1, std::min(n, 64));
    for (int i = 1; i < n; ++i) workers_.emplace_back([this] { loop(); });
    for (auto& w : workers_) w.detach();
  }

  void loop() {
    std::uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> g(mu_);
        cv_.wait(g, [&] { return generation_ != seen && task_ != nullptr; });
        seen = generation_;
      }
      work();
    }
  }

  void work() {
    t_in_parallel = true;
    for (;;) {
      int i;
      const std::function<void(int)>* task;
      {
        std::lock_guard<std::mutex> g(mu_);
        if (!task_ || next_ >= total_) break;
        i = next_++;
        task = task_;
      }
      try {
        (*task)(i);
      } catch (...) {
        std::lock_guard<std::mutex> g(mu_);
        if (!error_) error_ = std::current_exception();
      }
      std::lock_guard<std::mutex> g(mu_);
      if (--pending_ == 0) done_cv_.notify_all();
    }
    t_in_parallel = false;
  }

  std::vector<std::thread> workers_;
  std::mutex run_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* task_ = nullptr;
  int next_ = 0, total_ = 0, pending_ = 0;
  std::uint64_t generation_ = 0;
  std::exception_ptr error_;
};

}  // namespace

int cpu_threads() { return Pool::instance().size(); }

void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& fn) {
  if (end <= begin) return;
  const std::int64_t n = end - begin;
  grain = std::max<std::int64_t>(1, grain);
  const int threads = t_in_parallel ? 1 : cpu_threads();
  const std::int64_t chunks = std::min<std::int64_t>(threads * 4, (n + grain - 1) / grain);
  if (chunks <= 1) {
    fn(begin, end);
    return;
  }
  const std::int64_t step = (n + chunks - 1) / chunks;
  Pool::instance().run(static_cast<int>(chunks), [&](int c) {
    const std::int64_t b = begin + c * step;
    const std::int64_t e = std::min(end, b + step);
    if (b < e) fn(b, e);
  });
}

}  // namespace tilenet
