// What the emulator's Hopper primitives (hopper_emu.cpp) share with its scheduler
// (emu_runtime.cpp): per-thread and per-block state and the calls that reach the running thread.
// Host code only; nothing here is part of the library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tilenet_emu::detail {

// One thread's asynchronous operations in commit groups (cp.async, wgmma): an operation is issued
// into the open group, a commit closes it, and a wait retires the oldest closed groups, running
// their operations, until at most `pending` remain.
template <typename Op>
struct AsyncGroups {
  std::vector<Op> open;
  std::vector<std::vector<Op>> closed;

  void issue(Op op) { open.push_back(std::move(op)); }
  void commit() {
    closed.push_back(std::move(open));
    open.clear();
  }
  template <typename F>
  void retire(std::size_t pending, F&& run) {
    while (closed.size() > pending) {
      for (const Op& op : closed.front()) run(op);
      closed.erase(closed.begin());
    }
  }
};

// One wgmma.mma_async as issued: it runs when a wgmma.wait_group retires its group.
struct WgmmaOp {
  float* d;
  int n;
  std::uint64_t desc_a, desc_b;
  int mn_major_a, mn_major_b;
  std::pair<std::size_t, std::size_t> reads[2];  // A's and B's bytes [first, second) of the window
  int ordinal;                                   // the issuing thread's wgmma count before this one
};

// A wgmma operand as it was when the warpgroup's first thread issued it: the bytes of its extent
// (from `lo`, window addresses), the 16-byte granules it actually reads as runs of adjacent ones,
// and those granules as the emulator last saw them (writes the rules allow are taken into `seen`;
// `bytes` stays as issued).
struct OperandCopy {
  std::size_t lo = 0;
  std::vector<unsigned char> bytes, seen;
  std::vector<std::pair<std::size_t, std::size_t>> runs;  // [first, last) granules (address / 16), ascending
};
// One warpgroup-wide wgmma: what every thread of the warpgroup computes from, which of its threads
// have retired it (the copy is dropped after the last), and whether a barrier has since ordered
// every thread after a retirement (from then on its operands may be overwritten).
struct WgmmaSnapshot {
  OperandCopy a, b;
  std::vector<bool> retired_by = std::vector<bool>(128);
  int retired = 0;
  bool synced = false;
};

struct HopperThread {
  AsyncGroups<WgmmaOp> wgmma;
  std::vector<std::size_t> unfenced;  // granules this thread wrote since its last fence.proxy.async
  bool fenced = false;                // a wgmma.fence came before the first wgmma
  int issued = 0;                     // wgmma.mma_async instructions issued
  std::uint64_t issued_hash = 0;      // and a hash of their shapes and descriptors
};

struct Mbarrier {
  unsigned count = 0, pending = 0;  // arrivals per phase, arrivals still missing in this one
  long long tx = 0;                 // transaction bytes still expected in this phase
  unsigned phase = 0;               // completed phases
};

struct HopperBlock {
  std::map<const void*, Mbarrier> bars;  // initialised in this block
  std::uint64_t epoch = 0;               // bumped whenever a barrier phase completes
  // Shared-memory byte ranges [first, second) of the window that issued, not yet retired wgmma
  // operands read, with the number of such operands (one per issuing thread).
  std::map<std::pair<std::size_t, std::size_t>, int> inflight_reads;
  // Generic-proxy writes not yet ordered for the async proxy: per 16-byte granule of the window,
  // the thread that wrote it through cp.async and has not run fence.proxy.async since (-1: none).
  std::vector<int> unfenced_writer;
  // The wgmma operands in flight, keyed by (warpgroup, ordinal of the wgmma in its threads).
  std::map<std::pair<int, int>, WgmmaSnapshot> snapshots;
};

HopperThread& hopper_thread();  // the running thread's
HopperBlock& hopper_block();    // the running block's
int thread_linear();            // the running thread's linear index in its block
// The running thread waits until some barrier phase of its block completes (a try_wait that
// failed); when no thread of the block can make progress any more, the block reports a deadlock.
void wait_for_barrier_phase();
// wgmma is a warpgroup-wide instruction: every thread of a warpgroup that issues one must issue
// the same sequence (same shapes and descriptors). Returns "" or what differs, after a block ran;
// threads[i] is the state of the block's thread i.
std::string check_warpgroups(const std::vector<const HopperThread*>& threads);
// A cp.async by the running thread landed `bytes` at `dst` (the generic proxy): until that thread
// runs fence.proxy.async, a wgmma (the async proxy) reading those bytes traps.
void note_generic_write(const void* dst, std::size_t bytes);
// Traps when an asynchronous write (cp.async, TMA) of `bytes` at `dst` in shared memory overlaps an
// operand that a wgmma in flight may still read: on the GPU the copy can land before the wgmma
// reads (a write-after-read race the emulator's ordering would otherwise hide). `what`: the writer.
void check_async_write(const void* dst, std::size_t bytes, const char* what);
// The block's shared-memory window (see shared_address in cuda_emu.h): its start and size.
unsigned char* smem_window(std::size_t* bytes);
// The window when p lies in it (with p's offset and the window's size), else null.
unsigned char* window_offset(const void* p, std::size_t* offset, std::size_t* window_bytes = nullptr);
// The swizzled window address of window address `a` (span 128, 64 or 32 bytes; else `a`).
std::size_t swizzle(std::size_t a, int span);
// Called by the scheduler each time thread `linear` of the running block yields: "" or the report
// of a write that thread made, since it last ran, into a wgmma operand in flight that it may not
// touch yet (see hopper_emu.cpp).
std::string check_operand_writes(int linear);
// Called when a __syncthreads releases the block or an mbarrier phase completes: every wgmma some
// thread had retired by then is complete for every thread the barrier orders after it.
void note_block_barrier();

}  // namespace tilenet_emu::detail
