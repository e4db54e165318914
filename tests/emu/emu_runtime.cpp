// The CPU emulator's scheduler and the slice of the CUDA runtime API the library's launchers call
// (tests/emu/cuda_emu.h explains the model). Linked instead of libcudart into the emulation tests.
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_emu.h"
#include "emu_internal.h"

dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace {
// The GPU tests' full sizes would take hours here: the emulated tests always run in small mode.
const int g_small_mode = setenv("TILENET_TEST_SMALL", "1", 0);
}  // namespace

// ---- user-level context switch ----------------------------------------------------------------------
// x86-64: a hand-written switch (callee-saved registers, MXCSR and the x87 control word), about
// 20x cheaper than swapcontext, which makes two signal-mask system calls per switch. Elsewhere:
// ucontext.
#if defined(__x86_64__)
extern "C" void tilenet_emu_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .globl tilenet_emu_switch
  .type tilenet_emu_switch, @function
tilenet_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size tilenet_emu_switch, .-tilenet_emu_switch
)");
namespace tilenet_emu {
namespace {
struct Context {
  void* sp = nullptr;
};
void switch_context(Context& from, Context& to) { tilenet_emu_switch(&from.sp, to.sp); }
// A fresh context that starts in entry() (which must never return) on [stack, stack + bytes).
void make_context(Context& c, unsigned char* stack, std::size_t bytes, void (*entry)()) {
  auto* top = reinterpret_cast<std::uint64_t*>(reinterpret_cast<std::uintptr_t>(stack + bytes) & ~std::uintptr_t{15});
  std::uint32_t mxcsr = 0;
  std::uint16_t fpucw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  *--top = 0;                                       // entry's (never used) return address
  *--top = reinterpret_cast<std::uint64_t>(entry);  // where the first switch's ret goes
  for (int i = 0; i < 6; ++i) *--top = 0;           // rbp, rbx, r12..r15
  *--top = mxcsr | (static_cast<std::uint64_t>(fpucw) << 32);
  c.sp = top;
}
}  // namespace
}  // namespace tilenet_emu
#else
namespace tilenet_emu {
namespace {
struct Context {
  ucontext_t uc;
};
void switch_context(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
void make_context(Context& c, unsigned char* stack, std::size_t bytes, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = bytes;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
}  // namespace
}  // namespace tilenet_emu
#endif

namespace tilenet_emu {
namespace {

constexpr std::size_t kStackBytes = 256 * 1024;
constexpr std::size_t kDefaultSmem = 48 * 1024, kMaxSmem = 227 * 1024;
constexpr unsigned kFull = 0xffffffffu;

enum class State { kRun, kBlockBarrier, kWarpOp, kPoll, kDone };

struct Copy {
  void* dst;
  int bytes;
  alignas(16) unsigned char data[16];
};

struct Thread {
  Context ctx;
  dim3 idx;
  int linear = 0;
  State state = State::kRun;
  Combine op = nullptr;
  int pred = 0;  // this thread's __syncthreads_count predicate
  detail::AsyncGroups<Copy> copies;      // cp.async: a copy lands when its group is waited for
  std::uint64_t poll_epoch = 0;           // kPoll: the block's barrier epoch when it started waiting
  detail::HopperThread hopper;
};

struct Block {
  std::vector<Thread> threads;
  std::vector<LaneSlot> slots;  // one per thread, indexed by linear thread id
  unsigned char* window = nullptr;  // 1024-aligned; dynamic shared memory starts 128 bytes in
  std::size_t window_bytes = 0;
  unsigned char* smem = nullptr;
  detail::HopperBlock hopper;
  Context scheduler;
  const std::function<void()>* body = nullptr;
  std::string error;
  int barrier_count = 0;  // predicates counted at the last __syncthreads release
};

// Stacks for up to 1024 threads, mapped once (a guard page below each) and reused by every block.
struct StackPool {
  static constexpr std::size_t kGuard = 4096, kEach = kStackBytes + kGuard, kMax = 1024;
  unsigned char* base = nullptr;
  unsigned char* get(std::size_t i) {
    if (i >= kMax) throw std::runtime_error("emu: more than 1024 threads in a block");
    if (base == nullptr) {
      void* p = mmap(nullptr, kMax * kEach, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED) throw std::runtime_error("emu: cannot map thread stacks");
      base = static_cast<unsigned char*>(p);
      for (std::size_t k = 0; k < kMax; ++k) mprotect(base + k * kEach, kGuard, PROT_NONE);
    }
    return base + i * kEach + kGuard;
  }
};

StackPool g_stacks;
Block* g_block = nullptr;
Thread* g_cur = nullptr;
cudaError_t g_last_error = cudaSuccess;
std::map<const void*, std::size_t> g_smem_optin;
std::vector<unsigned char> g_smem_storage;
struct Alloc {
  void* base;
  std::size_t total, bytes, body;
};
std::map<const void*, Alloc> g_allocs;

std::string where(const Thread& t) {
  std::ostringstream os;
  os << "block (" << blockIdx.x << "," << blockIdx.y << "," << blockIdx.z << ") thread (" << t.idx.x << ","
     << t.idx.y << "," << t.idx.z << ")";
  return os.str();
}

void yield_to_scheduler() { switch_context(g_cur->ctx, g_block->scheduler); }

void land(const Copy& c) {
  std::memcpy(c.dst, c.data, static_cast<std::size_t>(c.bytes));
  detail::note_generic_write(c.dst, static_cast<std::size_t>(c.bytes));
}

void thread_entry() {
  Thread* t = g_cur;
  try {
    (*g_block->body)();
  } catch (const std::exception& e) {
    if (g_block->error.empty()) g_block->error = where(*t) + ": " + e.what();
  }
  // A thread's outstanding copies still land (the hardware finishes them); the kernel just never
  // waited for them.
  t->copies.commit();
  t->copies.retire(0, land);
  t->state = State::kDone;
  yield_to_scheduler();  // never resumed
  std::abort();
}

int warp_size_of(const Block& b, int warp) {
  const int n = static_cast<int>(b.threads.size());
  return std::min(32, n - warp * 32);
}

// Releases warp w if the participants of the collective its first waiting lane named have all
// arrived. Returns whether it did.
bool release_warp(Block& b, int w) {
  const int size = warp_size_of(b, w);
  unsigned waiting = 0, live = 0;
  for (int l = 0; l < size; ++l) {
    const Thread& t = b.threads[w * 32 + l];
    if (t.state != State::kDone) live |= 1u << l;
    if (t.state == State::kWarpOp) waiting |= 1u << l;
  }
  if (waiting == 0) return false;
  const int first = __builtin_ctz(waiting);
  const unsigned mask = b.slots[w * 32 + first].mask;
  const Combine op = b.threads[w * 32 + first].op;
  if ((mask & waiting) != mask) {
    const unsigned dead = mask & ~live;
    if (dead != 0) {
      std::ostringstream os;
      os << "warp " << w << ": a collective names lanes that have exited (mask 0x" << std::hex << mask << ", exited 0x"
         << dead << ")";
      throw std::runtime_error(os.str());
    }
    return false;  // others still on their way
  }
  for (int l = 0; l < 32; ++l)
    if (mask & (1u << l)) {
      const Thread& t = b.threads[w * 32 + l];
      if (t.op != op || b.slots[w * 32 + l].mask != mask)
        throw std::runtime_error("warp " + std::to_string(w) +
                                 ": lanes wait at different collectives (or with different masks) at once");
    }
  op(&b.slots[w * 32], mask);
  for (int l = 0; l < 32; ++l)
    if (mask & (1u << l)) b.threads[w * 32 + l].state = State::kRun;
  return true;
}

// The order warps run in (TILENET_EMU_ORDER=ascending, the default, or descending): each warp runs
// as far as it can (through its warp collectives) before the next one starts, so a warp races
// ahead of the others up to the next __syncthreads. Data another warp has not produced yet is
// then still missing (a missing barrier shows as a wrong result), which round-robin scheduling
// would hide; the two orders expose producers on either side of the consumer.
bool descending_order() {
  static const bool d = [] {
    const char* v = std::getenv("TILENET_EMU_ORDER");
    return v != nullptr && std::string(v) == "descending";
  }();
  return d;
}

void run_block(Block& b) {
  const int nthreads = static_cast<int>(b.threads.size()), nwarps = (nthreads + 31) / 32;
  for (;;) {
    bool progress = false;
    for (int wi = 0; wi < nwarps; ++wi) {
      const int w = descending_order() ? nwarps - 1 - wi : wi;
      for (;;) {
        bool ran = false;
        for (int i = w * 32; i < std::min(nthreads, w * 32 + 32); ++i) {
          Thread& t = b.threads[static_cast<std::size_t>(i)];
          if (t.state == State::kPoll && t.poll_epoch != b.hopper.epoch) t.state = State::kRun;
          if (t.state != State::kRun) continue;
          g_cur = &t;
          threadIdx = t.idx;
          switch_context(b.scheduler, t.ctx);
          g_cur = nullptr;
          ran = true;
          if (!b.error.empty()) return;
          if (!b.hopper.snapshots.empty()) {
            b.error = detail::check_operand_writes(i);
            if (!b.error.empty()) return;
          }
        }
        const bool released = release_warp(b, w);
        if (!ran && !released) break;
        progress = true;
      }
    }
    if (progress) continue;
    int live = 0, at_barrier = 0, polling = 0;
    for (const Thread& t : b.threads) {
      if (t.state != State::kDone) ++live;
      if (t.state == State::kBlockBarrier) ++at_barrier;
      if (t.state == State::kPoll) ++polling;
    }
    if (live == 0) return;
    if (at_barrier == live) {
      // Each released thread reads barrier_count before it can reach the next barrier.
      b.barrier_count = 0;
      detail::note_block_barrier();
      for (Thread& t : b.threads)
        if (t.state == State::kBlockBarrier) {
          b.barrier_count += t.pred != 0;
          t.state = State::kRun;
        }
      continue;
    }
    std::ostringstream os;
    const int at_collective = live - at_barrier - polling;
    os << "deadlock: of " << live << " live threads, " << at_barrier << " wait at __syncthreads, " << polling
       << " on mbarrier phases that never complete, " << at_collective
       << " at warp collectives that not all of their lanes reach (first not at __syncthreads:";
    for (const Thread& t : b.threads)
      if (t.state == State::kWarpOp || t.state == State::kPoll) {
        os << " " << where(t);
        break;
      }
    os << ")";
    b.error = os.str();
    return;
  }
}

cudaError_t check_config(const LaunchConfig& c) {
  const unsigned long long threads = 1ULL * c.block.x * c.block.y * c.block.z;
  if (threads == 0 || threads > 1024 || c.block.x > 1024 || c.block.y > 1024 || c.block.z > 64)
    return cudaErrorInvalidConfiguration;
  if (c.grid.x == 0 || c.grid.y == 0 || c.grid.z == 0 || c.grid.x > 0x7fffffffu || c.grid.y > 65535 ||
      c.grid.z > 65535)
    return cudaErrorInvalidConfiguration;
  if (c.smem > kMaxSmem) return cudaErrorInvalidValue;
  if (c.smem > kDefaultSmem && c.fn != nullptr) {
    const auto it = g_smem_optin.find(c.fn);
    if (it == g_smem_optin.end() || it->second < c.smem) return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}

}  // namespace

// Runs every block of a launch submit() has checked.
void run_grid(const LaunchConfig& cfg, const std::function<void()>& body) {
  if (g_block != nullptr) throw std::runtime_error("emu: a kernel launched from inside a kernel");
  const int nthreads = static_cast<int>(cfg.block.x * cfg.block.y * cfg.block.z);
  Block b;
  b.threads.resize(static_cast<std::size_t>(nthreads));
  b.slots.resize(static_cast<std::size_t>(nthreads));
  b.body = &body;
  b.window_bytes = 128 + std::max<std::size_t>(cfg.smem, 16);
  g_smem_storage.assign(b.window_bytes + 1024, 0);
  b.window = g_smem_storage.data() + (1024 - reinterpret_cast<std::uintptr_t>(g_smem_storage.data()) % 1024) % 1024;
  b.smem = b.window + 128;
  blockDim = cfg.block;
  gridDim = cfg.grid;
  g_block = &b;
  struct Reset {
    ~Reset() {
      g_block = nullptr;
      g_cur = nullptr;
    }
  } reset;
  for (unsigned bz = 0; bz < cfg.grid.z; ++bz)
    for (unsigned by = 0; by < cfg.grid.y; ++by)
      for (unsigned bx = 0; bx < cfg.grid.x; ++bx) {
        blockIdx = dim3(bx, by, bz);
        std::memset(b.smem, 0xff, cfg.smem);
        b.hopper = detail::HopperBlock();
        for (int i = 0; i < nthreads; ++i) {
          Thread& t = b.threads[static_cast<std::size_t>(i)];
          t.linear = i;
          t.idx = dim3(i % cfg.block.x, (i / cfg.block.x) % cfg.block.y, i / (cfg.block.x * cfg.block.y));
          t.state = State::kRun;
          t.op = nullptr;
          t.copies = {};
          t.hopper = detail::HopperThread();
          make_context(t.ctx, g_stacks.get(static_cast<std::size_t>(i)), kStackBytes, thread_entry);
        }
        run_block(b);
        if (b.error.empty()) {
          std::vector<const detail::HopperThread*> hopper(b.threads.size());
          for (std::size_t i = 0; i < b.threads.size(); ++i) hopper[i] = &b.threads[i].hopper;
          b.error = detail::check_warpgroups(hopper);
          if (!b.error.empty())
            b.error = "block (" + std::to_string(bx) + "," + std::to_string(by) + "," + std::to_string(bz) + "): " + b.error;
        }
        if (!b.error.empty()) throw std::runtime_error("emulated kernel failed: " + b.error);
      }
}

// Stream capture: operations issued to the capturing stream are recorded, not run; a graph
// launch replays them in order.
namespace {
cudaStream_t g_capture_stream = nullptr;
bool g_capturing = false;
std::vector<std::function<void()>> g_captured;
struct Graph {
  std::vector<std::function<void()>> ops;
};
// Runs op now, or records it when `stream` is being captured. Returns whether it was recorded.
bool run_or_record(cudaStream_t stream, std::function<void()> op) {
  if (g_capturing && stream == g_capture_stream) {
    g_captured.push_back(std::move(op));
    return true;
  }
  op();
  return false;
}
}  // namespace

void submit(const LaunchConfig& cfg, std::function<void()> body) {
  const cudaError_t err = check_config(cfg);
  if (err != cudaSuccess) {
    g_last_error = err;
    return;
  }
  run_or_record(cfg.stream, [cfg, body] { run_grid(cfg, body); });
}

void* dynamic_smem_base() { return g_block->smem; }

unsigned shared_address(const void* p) {
  const auto* c = static_cast<const unsigned char*>(p);
  if (g_block != nullptr && c >= g_block->window && c < g_block->window + g_block->window_bytes)
    return static_cast<unsigned>(c - g_block->window);
  return static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(p));
}

namespace detail {
HopperThread& hopper_thread() { return g_cur->hopper; }
HopperBlock& hopper_block() { return g_block->hopper; }
int thread_linear() { return g_cur->linear; }
void wait_for_barrier_phase() {
  g_cur->poll_epoch = g_block->hopper.epoch;
  g_cur->state = State::kPoll;
  yield_to_scheduler();
}
unsigned char* smem_window(std::size_t* bytes) {
  *bytes = g_block->window_bytes;
  return g_block->window;
}
}  // namespace detail

int lane_id() { return g_cur->linear % 32; }

void syncthreads() { (void)syncthreads_count(0); }

int syncthreads_count(int pred) {
  g_cur->pred = pred;
  g_cur->state = State::kBlockBarrier;
  yield_to_scheduler();
  return g_block->barrier_count;
}

void trap(const char* what) { throw std::runtime_error(std::string("trap: ") + what); }

void warp_collective(Combine op, unsigned mask, const void* in, std::size_t in_bytes, void* out,
                     std::size_t out_bytes) {
  Thread& t = *g_cur;
  LaneSlot& s = g_block->slots[static_cast<std::size_t>(t.linear)];
  const int lane = t.linear % 32;
  if (!(mask & (1u << lane))) trap("a warp collective whose mask leaves out the calling lane");
  std::memcpy(s.in, in, in_bytes);
  s.mask = mask;
  t.op = op;
  t.state = State::kWarpOp;
  yield_to_scheduler();
  std::memcpy(out, s.out, out_bytes);
}

namespace {
struct ShflIn {
  std::uint64_t bits;
  int kind, arg, width;
};
void combine_shfl(LaneSlot* lanes, unsigned mask) {
  for (int l = 0; l < 32; ++l) {
    if (!(mask & (1u << l))) continue;
    ShflIn in;
    std::memcpy(&in, lanes[l].in, sizeof in);
    const int w = in.width, seg = l / w * w;
    int src = l;
    switch (in.kind) {
      case kShflIdx: src = seg + (in.arg % w + w) % w; break;
      case kShflXor: src = l ^ in.arg; break;
      case kShflDown: src = l + in.arg; break;
      case kShflUp: src = l - in.arg; break;
    }
    if (src < seg || src >= seg + w) src = l;  // outside the segment: own value
    if (!(mask & (1u << src))) throw std::runtime_error("shuffle reads a lane outside its mask");
    ShflIn from;
    std::memcpy(&from, lanes[src].in, sizeof from);
    std::memcpy(lanes[l].out, &from.bits, sizeof from.bits);
  }
}
void combine_vote(LaneSlot* lanes, unsigned mask) {
  unsigned ballot = 0;
  for (int l = 0; l < 32; ++l)
    if ((mask & (1u << l)) && lanes[l].in[0]) ballot |= 1u << l;
  for (int l = 0; l < 32; ++l)
    if (mask & (1u << l)) std::memcpy(lanes[l].out, &ballot, sizeof ballot);
}
void combine_nothing(LaneSlot*, unsigned) {}
}  // namespace

void syncwarp(unsigned mask) {
  char none = 0;
  warp_collective(combine_nothing, mask, &none, 1, &none, 0);
}

std::uint64_t shfl(unsigned mask, std::uint64_t bits, int kind, int arg, int width) {
  if (width <= 0 || width > 32 || (width & (width - 1)) != 0) trap("shuffle width must be a power of two <= 32");
  const ShflIn in{bits, kind, arg, width};
  std::uint64_t out = 0;
  warp_collective(combine_shfl, mask, &in, sizeof in, &out, sizeof out);
  return out;
}

unsigned vote(unsigned mask, int pred) {
  const unsigned char p = pred != 0;
  unsigned out = 0;
  warp_collective(combine_vote, mask, &p, 1, &out, sizeof out);
  return out;
}

// ---- cp.async -------------------------------------------------------------------------------------
void cp_async(void* smem, const void* gmem, int bytes, int src_bytes) {
  if (src_bytes < 0 || src_bytes > bytes) trap("cp.async src-size outside 0..cp-size");
  if (reinterpret_cast<std::uintptr_t>(smem) % static_cast<unsigned>(bytes) != 0 ||
      (src_bytes > 0 && reinterpret_cast<std::uintptr_t>(gmem) % static_cast<unsigned>(bytes) != 0))
    trap("cp.async with a misaligned address");
  detail::check_async_write(smem, static_cast<std::size_t>(bytes), "cp.async");
  Copy c;
  c.dst = smem;
  c.bytes = bytes;
  std::memset(c.data, 0, sizeof c.data);
  if (src_bytes > 0) std::memcpy(c.data, gmem, static_cast<std::size_t>(src_bytes));  // global data is read-only
  g_cur->copies.issue(c);
}
void cp_async_commit() { g_cur->copies.commit(); }
void cp_async_wait(int pending) { g_cur->copies.retire(static_cast<std::size_t>(pending), land); }

// ---- fp16 ---------------------------------------------------------------------------------------------
float half_bits_to_float(unsigned short h) {
  const unsigned sign = (h >> 15) & 1u, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  float v;
  if (exp == 0)
    v = std::ldexp(static_cast<float>(man), -24);
  else if (exp == 31)
    v = man ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else
    v = std::ldexp(static_cast<float>(man | 0x400u), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}
unsigned short float_to_half_bits(float f) {
  const __half h = __float2half_rn(f);
  unsigned short b;
  std::memcpy(&b, &h, sizeof b);
  return b;
}

// ---- ldmatrix and mma.sync --------------------------------------------------------------------------
namespace {
template <bool kTrans>
void combine_ldmatrix(LaneSlot* lanes, unsigned) {
  const unsigned short* rows[32];
  for (int l = 0; l < 32; ++l) std::memcpy(&rows[l], lanes[l].in, sizeof rows[l]);
  for (int l = 0; l < 32; ++l) {
    unsigned r[4];
    for (int j = 0; j < 4; ++j) {
      unsigned short e0, e1;
      if (!kTrans) {
        const unsigned short* row = rows[8 * j + l / 4];
        e0 = row[2 * (l % 4)];
        e1 = row[2 * (l % 4) + 1];
      } else {
        e0 = rows[8 * j + 2 * (l % 4)][l / 4];
        e1 = rows[8 * j + 2 * (l % 4) + 1][l / 4];
      }
      r[j] = static_cast<unsigned>(e0) | (static_cast<unsigned>(e1) << 16);
    }
    std::memcpy(lanes[l].out, r, sizeof r);
  }
}

struct MmaIn {
  unsigned a[4], b[2];
  float c[4];
};
float lo(unsigned v) { return half_bits_to_float(static_cast<unsigned short>(v & 0xffffu)); }
float hi(unsigned v) { return half_bits_to_float(static_cast<unsigned short>(v >> 16)); }

void combine_mma(LaneSlot* lanes, unsigned) {
  float A[16][16], B[16][8], C[16][8];
  for (int l = 0; l < 32; ++l) {
    MmaIn in;
    std::memcpy(&in, lanes[l].in, sizeof in);
    const int g = l / 4, t = l % 4;
    A[g][2 * t] = lo(in.a[0]), A[g][2 * t + 1] = hi(in.a[0]);
    A[g + 8][2 * t] = lo(in.a[1]), A[g + 8][2 * t + 1] = hi(in.a[1]);
    A[g][2 * t + 8] = lo(in.a[2]), A[g][2 * t + 9] = hi(in.a[2]);
    A[g + 8][2 * t + 8] = lo(in.a[3]), A[g + 8][2 * t + 9] = hi(in.a[3]);
    B[2 * t][g] = lo(in.b[0]), B[2 * t + 1][g] = hi(in.b[0]);
    B[2 * t + 8][g] = lo(in.b[1]), B[2 * t + 9][g] = hi(in.b[1]);
    C[g][2 * t] = in.c[0], C[g][2 * t + 1] = in.c[1];
    C[g + 8][2 * t] = in.c[2], C[g + 8][2 * t + 1] = in.c[3];
  }
  for (int l = 0; l < 32; ++l) {
    const int g = l / 4, t = l % 4;
    float d[4];
    const int rr[4] = {g, g, g + 8, g + 8}, cc[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
    for (int e = 0; e < 4; ++e) {
      double s = C[rr[e]][cc[e]];
      for (int k = 0; k < 16; ++k) s += static_cast<double>(A[rr[e]][k]) * B[k][cc[e]];
      d[e] = static_cast<float>(s);
    }
    std::memcpy(lanes[l].out, d, sizeof d);
  }
}
}  // namespace

void ldmatrix_x4(unsigned (&r)[4], const void* smem, bool trans) {
  if (reinterpret_cast<std::uintptr_t>(smem) % 16 != 0) trap("ldmatrix row address not 16-byte aligned");
  if (trans)
    warp_collective(combine_ldmatrix<true>, kFull, &smem, sizeof smem, r, sizeof r);
  else
    warp_collective(combine_ldmatrix<false>, kFull, &smem, sizeof smem, r, sizeof r);
}

void mma_16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  MmaIn in;
  std::memcpy(in.a, a, sizeof in.a);
  in.b[0] = b0;
  in.b[1] = b1;
  std::memcpy(in.c, d, sizeof in.c);
  warp_collective(combine_mma, kFull, &in, sizeof in, d, sizeof d);
}

}  // namespace tilenet_emu

// ---- WMMA ---------------------------------------------------------------------------------------------
namespace nvcuda::wmma::emu_detail {
namespace {
struct WmmaIn {
  __half a[8], b[8];
  float c[8];
};
void combine_wmma(tilenet_emu::LaneSlot* lanes, unsigned) {
  float A[16][16], B[16][16], C[16][16];
  for (int l = 0; l < 32; ++l) {
    WmmaIn in;
    std::memcpy(&in, lanes[l].in, sizeof in);
    for (int i = 0; i < 8; ++i) {
      const int e = l * 8 + i;
      A[e / 16][e % 16] = to_f(in.a[i]);
      B[e / 16][e % 16] = to_f(in.b[i]);
      C[e / 16][e % 16] = in.c[i];
    }
  }
  for (int l = 0; l < 32; ++l) {
    float d[8];
    for (int i = 0; i < 8; ++i) {
      const int e = l * 8 + i, r = e / 16, c = e % 16;
      double s = C[r][c];
      for (int k = 0; k < 16; ++k) s += static_cast<double>(A[r][k]) * B[k][c];
      d[i] = static_cast<float>(s);
    }
    std::memcpy(lanes[l].out, d, sizeof d);
  }
}
}  // namespace

void check_tile(const void* p, unsigned ldm, std::size_t elem_bytes, const char* op) {
  if (reinterpret_cast<std::uintptr_t>(p) % 32 != 0) tilenet_emu::trap((std::string(op) + ": pointer not 256-bit aligned").c_str());
  if ((ldm * elem_bytes) % 16 != 0) tilenet_emu::trap((std::string(op) + ": ldm not a multiple of 16 bytes").c_str());
}

void mma(float (&d)[8], const __half (&a)[8], const __half (&b)[8], const float (&c)[8]) {
  WmmaIn in;
  std::memcpy(in.a, a, sizeof in.a);
  std::memcpy(in.b, b, sizeof in.b);
  std::memcpy(in.c, c, sizeof in.c);
  tilenet_emu::warp_collective(combine_wmma, 0xffffffffu, &in, sizeof in, d, sizeof d);
}
}  // namespace nvcuda::wmma::emu_detail

// ---- the CUDA runtime API, as far as the launchers and error paths use it -----------------------------
extern "C" {

cudaError_t cudaGetLastError() {
  const cudaError_t e = tilenet_emu::g_last_error;
  tilenet_emu::g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return tilenet_emu::g_last_error; }
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    default: return "cudaError (emulated)";
  }
}
const char* cudaGetErrorString(cudaError_t e) { return cudaGetErrorName(e); }
cudaError_t cudaGetDevice(int* dev) {
  *dev = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int) { return cudaSuccess; }
// An H100-like device: 132 SMs, compute capability 9.0, 227 KB of opt-in shared memory.
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr attr, int) {
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *v = 132; break;
    case cudaDevAttrComputeCapabilityMajor: *v = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *v = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = 227 * 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *v = 48 * 1024; break;
    case cudaDevAttrMaxThreadsPerBlock: *v = 1024; break;
    case cudaDevAttrL2CacheSize: *v = 50 * 1024 * 1024; break;
    default: return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void* fn, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaSuccess;
  if (value < 0 || static_cast<std::size_t>(value) > tilenet_emu::kMaxSmem) return cudaErrorInvalidValue;
  tilenet_emu::g_smem_optin[fn] = static_cast<std::size_t>(value);
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* s) {
  *s = tilenet_emu::g_capturing && stream == tilenet_emu::g_capture_stream ? cudaStreamCaptureStatusActive
                                                                            : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
// Every launch runs to completion before it returns: streams are names only.
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = reinterpret_cast<cudaStream_t>(new int(0));  // a distinct handle per stream
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete reinterpret_cast<int*>(s);
  return cudaSuccess;
}
cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode*) { return cudaSuccess; }
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaMemGetInfo(std::size_t* free_b, std::size_t* total_b) {
  *free_b = *total_b = 0;
  return cudaSuccess;
}

// Device memory is host memory laid out to catch what compute-sanitizer would: it starts as 0xFF
// bytes (NaN in fp32 and fp16: an uninitialised read shows), its end (rounded up to 256 bytes, the
// alignment cudaMalloc gives) abuts an inaccessible page (an overrun faults at once), and the
// rounding slack must still hold its poison at cudaFree (an overrun inside it is reported).
cudaError_t cudaMalloc(void** p, std::size_t bytes) {
  const std::size_t page = 4096, body = (std::max<std::size_t>(bytes, 1) + 255) / 256 * 256;
  const std::size_t pages = (body + page - 1) / page, total = (pages + 1) * page;
  void* base = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return tilenet_emu::g_last_error = cudaErrorMemoryAllocation;
  unsigned char* guard = static_cast<unsigned char*>(base) + pages * page;
  mprotect(guard, page, PROT_NONE);
  unsigned char* data = guard - body;
  std::memset(data, 0xff, body);
  tilenet_emu::g_allocs[data] = tilenet_emu::Alloc{base, total, bytes, body};
  *p = data;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  const auto it = tilenet_emu::g_allocs.find(p);
  if (it == tilenet_emu::g_allocs.end()) return cudaErrorInvalidValue;
  const tilenet_emu::Alloc a = it->second;
  const unsigned char* d = static_cast<const unsigned char*>(p);
  for (std::size_t i = a.bytes; i < a.body; ++i)
    if (d[i] != 0xff) {
      std::fprintf(stderr, "emu: a write %zu bytes past the end of a %zu-byte cudaMalloc buffer\n", i - a.bytes + 1,
                   a.bytes);
      std::abort();
    }
  munmap(a.base, a.total);
  tilenet_emu::g_allocs.erase(it);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind) {
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  tilenet_emu::run_or_record(s, [=] { cudaMemcpy(dst, src, bytes, kind); });
  return cudaSuccess;
}
cudaError_t cudaMemcpyPeerAsync(void* dst, int, const void* src, int, std::size_t bytes, cudaStream_t s) {
  return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s);
}
cudaError_t cudaMemset(void* dst, int v, std::size_t bytes) {
  std::memset(dst, v, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int v, std::size_t bytes, cudaStream_t s) {
  tilenet_emu::run_or_record(s, [=] { cudaMemset(dst, v, bytes); });
  return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  if (tilenet_emu::g_capturing) return cudaErrorIllegalState;
  tilenet_emu::g_capturing = true;
  tilenet_emu::g_capture_stream = s;
  tilenet_emu::g_captured.clear();
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  if (!tilenet_emu::g_capturing || s != tilenet_emu::g_capture_stream) return cudaErrorIllegalState;
  tilenet_emu::g_capturing = false;
  *g = reinterpret_cast<cudaGraph_t>(new tilenet_emu::Graph{std::move(tilenet_emu::g_captured)});
  tilenet_emu::g_captured.clear();
  return cudaSuccess;
}
cudaError_t cudaGraphGetNodes(cudaGraph_t g, cudaGraphNode_t* nodes, std::size_t* n) {
  if (nodes != nullptr) return cudaErrorInvalidValue;
  *n = reinterpret_cast<tilenet_emu::Graph*>(g)->ops.size();
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
  *e = reinterpret_cast<cudaGraphExec_t>(new tilenet_emu::Graph(*reinterpret_cast<tilenet_emu::Graph*>(g)));
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
  const auto* graph = reinterpret_cast<tilenet_emu::Graph*>(e);
  tilenet_emu::run_or_record(s, [graph] {
    for (const auto& op : graph->ops) op();
  });
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  delete reinterpret_cast<tilenet_emu::Graph*>(e);
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete reinterpret_cast<tilenet_emu::Graph*>(g);
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  static int token;
  *e = reinterpret_cast<cudaEvent_t>(&token);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, 0); }
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
// Emulated time means nothing: every interval is 1 ms.
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t, cudaEvent_t) {
  *ms = 1.0f;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
cudaError_t cudaStreamGetDevice(cudaStream_t, int* dev) {
  *dev = 0;
  return cudaSuccess;
}
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* a, const void*) {
  std::memset(a, 0, sizeof *a);
  a->maxThreadsPerBlock = 1024;
  a->numRegs = 64;
  a->maxDynamicSharedSizeBytes = 48 * 1024;
  return cudaSuccess;
}
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, const void*, int block, std::size_t smem) {
  const int by_threads = block > 0 ? 2048 / block : 0;
  const int by_smem = static_cast<int>((228 * 1024) / (smem + 1024));
  *n = std::max(0, std::min({by_threads, by_smem, 32}));
  return cudaSuccess;
}

}  // extern "C"

