// The emulator's wgmma (sm_90a): wgmma.mma_async reading its operands through shared-memory matrix
// descriptors, its fences, commit groups and waits, and the races around it. The layouts follow the
// PTX ISA (wgmma "matrix descriptor" and "canonical layouts" sections):
//   - K-major operand, 128B swizzle: element (mn, k) at start + (mn / 8) * SBO + (mn % 8) * 128 + 2k
//     (LBO unused); MN-major: start + (mn / 64) * LBO + (k / 8) * SBO + (k % 8) * 128 + 2 (mn % 64);
//     then the 128-byte swizzle of hopper_emu.cpp on the window address;
//   - accumulator: thread t of the warpgroup, register 4j + e holds row 16 (t / 32) + (t % 32) / 4
//     + 8 (e / 2), column 8j + 2 (t % 4) + e % 2.
// Races the emulator's ordering would hide are trapped instead:
//   - any change (a plain st.shared too, or a copy landing) to a byte a wgmma reads, made by a thread
//     that had not retired that wgmma itself, while no barrier had yet ordered it after a thread that
//     had. The warpgroup's first issue copies the operands and every thread computes from the copy
//     (the GPU reads them once); the bytes are compared each time a thread yields to the scheduler
//     and when it retires the wgmma, so the writer is the thread that just ran. A completed
//     mbarrier phase counts as a barrier (approximately: the emulator does not track who arrived);
//   - a wgmma reading bytes a thread wrote with cp.async (the generic proxy) without a
//     fence.proxy.async after it (wgmma reads through the async proxy);
//   - (in hopper_emu.cpp) an asynchronous copy into an operand some thread has not retired.
// Only fp16 operands and 128B-swizzled descriptors with base offset 0 are emulated; anything else
// traps with a message rather than computing something plausible.
// Host code only; nothing here is part of the library.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "cuda_emu.h"
#include "emu_internal.h"

namespace tilenet_emu {
namespace {

using detail::swizzle;
using detail::window_offset;

// The block's error names the thread (emu_runtime.cpp's thread_entry).
[[noreturn]] void fail(const std::string& what) { trap(what.c_str()); }

// fp16 bits -> float for every bit pattern, made once (a wgmma reads each operand many times).
const std::array<float, 65536>& half_table() {
  static const auto* t = [] {
    auto* a = new std::array<float, 65536>;
    for (unsigned h = 0; h < 65536; ++h) (*a)[h] = half_bits_to_float(static_cast<unsigned short>(h));
    return a;
  }();
  return *t;
}

struct Operand {
  const unsigned char* window;
  std::size_t window_bytes;
  std::size_t start, lbo, sbo;
  bool mn_major;

  Operand(std::uint64_t desc, bool mn, const char* which) : mn_major(mn) {
    window = detail::smem_window(&window_bytes);
    start = static_cast<std::size_t>(desc & 0x3FFFu) << 4;
    lbo = static_cast<std::size_t>((desc >> 16) & 0x3FFFu) << 4;
    sbo = static_cast<std::size_t>((desc >> 32) & 0x3FFFu) << 4;
    const unsigned base_offset = (desc >> 49) & 7u, layout = static_cast<unsigned>(desc >> 62);
    const std::string desc_of = std::string("wgmma: operand ") + which + "'s descriptor";
    if (layout != 1)
      fail(desc_of + " has layout type " + std::to_string(layout) + " (only 1, the 128-byte swizzle, is emulated)");
    if (base_offset != 0) fail(desc_of + " has a base offset (not emulated)");
    if ((start & 0x380u) != 0)
      fail(desc_of + " starts at " + std::to_string(start) +
           ", not in the first 128-byte row of a 1024-byte swizzle pattern (base offset 0 needs that)");
  }
  // The bytes of the window the operand's mn_extent x 16 elements can occupy: from the first to the
  // last element's 128-byte row (the swizzle permutes 16-byte chunks within a row).
  std::pair<std::size_t, std::size_t> footprint(int mn_extent) const {
    const std::size_t last = mn_major ? start + ((mn_extent - 1) / 64) * lbo + sbo + 7 * 128 +
                                            (std::min(mn_extent, 64) - 1) * 2
                                      : start + ((mn_extent - 1) / 8) * sbo + 7 * 128 + 15 * 2;
    return {start & ~std::size_t{127}, (last | 127) + 1};
  }
  // The window address of element (mn, k) (A: mn = row m; B: mn = column n).
  std::size_t address(int mn, int k) const {
    const std::size_t plain = mn_major ? start + (mn / 64) * lbo + (k / 8) * sbo + (k % 8) * 128 + (mn % 64) * 2
                                       : start + (mn / 8) * sbo + (mn % 8) * 128 + k * 2;
    const std::size_t a = swizzle(plain, 128);
    if (a + 2 > window_bytes) fail("wgmma: an operand element lies outside the block's shared memory");
    return a;
  }
  // The operand's mn_extent x 16 elements as they are now: its footprint's bytes and the granules
  // the elements lie in.
  detail::OperandCopy snapshot(int mn_extent) const {
    detail::OperandCopy c;
    const auto [lo, hi] = footprint(mn_extent);
    if (hi > window_bytes) fail("wgmma: an operand lies outside the block's shared memory");
    c.lo = lo;
    c.bytes.assign(window + lo, window + hi);
    c.seen = c.bytes;
    // Eight elements adjacent along the contiguous dimension share a granule (the swizzle moves
    // whole granules).
    std::vector<std::size_t> granules;
    for (int mn = 0; mn < mn_extent; mn += mn_major ? 8 : 1)
      for (int k = 0; k < 16; k += mn_major ? 1 : 8) granules.push_back(address(mn, k) / 16);
    std::sort(granules.begin(), granules.end());
    for (const std::size_t g : granules)
      if (!c.runs.empty() && g <= c.runs.back().second)
        c.runs.back().second = g + 1;
      else
        c.runs.emplace_back(g, g + 1);
    return c;
  }
  // Element (mn, k) from the operand's snapshot `c`.
  float at(const detail::OperandCopy& c, int mn, int k) const {
    unsigned short h;
    std::memcpy(&h, c.bytes.data() + (address(mn, k) - c.lo), 2);
    return half_table()[h];
  }
};

// Adds (+1) or removes (-1) an issued wgmma's operands from the block's in-flight reads.
void track_reads(const detail::WgmmaOp& op, int delta) {
  auto& reads = detail::hopper_block().inflight_reads;
  for (const auto& range : op.reads) {
    const int left = reads[range] += delta;
    if (left <= 0) reads.erase(range);
  }
}

// Traps when a wgmma operand covers bytes a thread wrote through cp.async and has not fenced
// (fence.proxy.async) since: on the GPU the wgmma may read them stale.
void check_fenced(const detail::WgmmaOp& op) {
  const auto& writer = detail::hopper_block().unfenced_writer;
  if (writer.empty()) return;
  for (const auto& range : op.reads)
    for (std::size_t g = range.first / 16; g < range.second / 16 && g < writer.size(); ++g)
      if (writer[g] >= 0)
        fail("wgmma reads shared bytes " + std::to_string(16 * g) + ".." + std::to_string(16 * g + 15) +
             " that thread " + std::to_string(writer[g]) +
             " wrote with cp.async (the generic proxy) without a fence.proxy.async after it");
}

// The first granule of `c` whose bytes differ from what the emulator last saw (SIZE_MAX: none);
// with `accept`, every changed granule is taken as seen.
std::size_t changed_granule(detail::OperandCopy& c, bool accept) {
  std::size_t window_bytes = 0, first = SIZE_MAX;
  const unsigned char* window = detail::smem_window(&window_bytes);
  for (const auto& [lo, hi] : c.runs) {
    const unsigned char* now = window + 16 * lo;
    unsigned char* seen = c.seen.data() + (16 * lo - c.lo);
    if (std::memcmp(now, seen, 16 * (hi - lo)) == 0) continue;
    std::size_t g = lo;
    while (std::memcmp(now + 16 * (g - lo), seen + 16 * (g - lo), 16) == 0) ++g;
    if (!accept) return g;
    if (first == SIZE_MAX) first = g;
    std::memcpy(seen, now, 16 * (hi - lo));
  }
  return first;
}

std::string operand_race(int writer, std::size_t g, const char* which, const std::pair<int, int>& key,
                         const char* when) {
  return "thread " + std::to_string(writer) + " changed shared bytes " + std::to_string(16 * g) + ".." +
         std::to_string(16 * g + 15) + ", operand " + which + " of warpgroup " + std::to_string(key.first) +
         "'s wgmma #" + std::to_string(key.second) + ", " + when +
         ": the wgmma may still read them (a store or copy into an operand in flight; retire it with "
         "wgmma.wait_group in the writing thread, or in any thread followed by a barrier, first)";
}

// Thread `linear` of the block retires `op`. Its own writes into the operands since it last
// yielded come before this retirement: a race. Every thread computes from the issue-time copy.
void run_wgmma(const detail::WgmmaOp& op, int linear) {
  track_reads(op, -1);
  const int warpgroup = linear / 128, t = linear % 128;
  auto& snapshots = detail::hopper_block().snapshots;
  const std::pair<int, int> key{warpgroup, op.ordinal};
  const auto it = snapshots.find(key);
  if (it == snapshots.end()) fail("wgmma retired without a snapshot of its operands (emulator bug)");
  detail::WgmmaSnapshot& snap = it->second;
  if (!snap.synced)
    for (auto [copy, which] : {std::pair{&snap.a, "A"}, std::pair{&snap.b, "B"}}) {
      const std::size_t g = changed_granule(*copy, false);
      if (g != SIZE_MAX) fail(operand_race(linear, g, which, key, "before its own wgmma.wait_group retired it"));
    }
  snap.retired_by[static_cast<std::size_t>(t)] = true;
  const Operand a(op.desc_a, op.mn_major_a != 0, "A"), b(op.desc_b, op.mn_major_b != 0, "B");
  const int warp = t / 32, lane = t % 32;
  float arow[2][16];
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 16; ++k) arow[h][k] = a.at(snap.a, 16 * warp + lane / 4 + 8 * h, k);
  for (int j = 0; j < op.n / 8; ++j)
    for (int c = 0; c < 2; ++c) {
      const int col = 8 * j + 2 * (lane % 4) + c;
      float bcol[16];
      for (int k = 0; k < 16; ++k) bcol[k] = b.at(snap.b, col, k);
      for (int h = 0; h < 2; ++h) {
        float acc = op.d[4 * j + 2 * h + c];
        for (int k = 0; k < 16; ++k) acc += arow[h][k] * bcol[k];
        op.d[4 * j + 2 * h + c] = acc;
      }
    }
  const int threads = static_cast<int>(blockDim.x * blockDim.y * blockDim.z);
  if (++snap.retired == std::min(128, threads - 128 * warpgroup)) snapshots.erase(it);
}


}  // namespace

// ---- the device-side API (cuda_emu.h) ---------------------------------------------------------------
void wgmma(float* d, int n, std::uint64_t desc_a, std::uint64_t desc_b, int mn_major_a, int mn_major_b) {
  detail::HopperThread& h = detail::hopper_thread();
  if (!h.fenced) fail("wgmma.mma_async before any wgmma.fence");
  if (n < 8 || n > 256 || n % 8 != 0) fail("wgmma.mma_async: N must be a multiple of 8 in 8..256");
  const Operand a(desc_a, mn_major_a != 0, "A"), b(desc_b, mn_major_b != 0, "B");
  const detail::WgmmaOp op{d, n, desc_a, desc_b, mn_major_a, mn_major_b, {a.footprint(64), b.footprint(n)}, h.issued};
  // Every thread of the warpgroup issues the same wgmma, after the same barrier: one checks.
  if (detail::thread_linear() % 128 == 0) check_fenced(op);
  // The warpgroup's first thread to issue it takes the operands' snapshot (the GPU reads them once).
  auto& snapshots = detail::hopper_block().snapshots;
  const std::pair<int, int> key{detail::thread_linear() / 128, h.issued};
  if (snapshots.find(key) == snapshots.end()) {
    detail::WgmmaSnapshot snap;
    snap.a = a.snapshot(64);
    snap.b = b.snapshot(n);
    snapshots.emplace(key, std::move(snap));
  }
  track_reads(op, +1);
  h.wgmma.issue(op);
  for (const std::uint64_t v : {static_cast<std::uint64_t>(n * 4 + mn_major_a * 2 + mn_major_b), desc_a, desc_b})
    h.issued_hash = (h.issued_hash ^ v) * 0x100000001b3ULL;
  ++h.issued;
}

void wgmma_fence() { detail::hopper_thread().fenced = true; }

void fence_proxy_async() {
  detail::HopperThread& h = detail::hopper_thread();
  auto& writer = detail::hopper_block().unfenced_writer;
  const int me = detail::thread_linear();
  for (const std::size_t g : h.unfenced)
    if (writer[g] == me) writer[g] = -1;
  h.unfenced.clear();
}

void wgmma_commit() { detail::hopper_thread().wgmma.commit(); }

void wgmma_wait(int pending) {
  const int t = detail::thread_linear();
  detail::hopper_thread().wgmma.retire(static_cast<std::size_t>(pending),
                                       [t](const detail::WgmmaOp& op) { run_wgmma(op, t); });
}

namespace detail {
void note_generic_write(const void* dst, std::size_t bytes) {
  std::size_t lo = 0, window_bytes = 0;
  if (!window_offset(dst, &lo, &window_bytes)) return;
  auto& writer = hopper_block().unfenced_writer;
  if (writer.empty()) writer.assign((window_bytes + 15) / 16, -1);
  HopperThread& h = hopper_thread();
  const int me = thread_linear();
  for (std::size_t g = lo / 16; g < (lo + bytes + 15) / 16 && g < writer.size(); ++g)
    if (writer[g] != me) {  // already listed when it is this thread's
      writer[g] = me;
      h.unfenced.push_back(g);
    }
}

std::string check_operand_writes(int linear) {
  for (auto& [key, snap] : hopper_block().snapshots) {
    if (snap.synced) continue;
    const bool retired = key.first == linear / 128 && snap.retired_by[static_cast<std::size_t>(linear % 128)];
    for (auto [copy, which] : {std::pair{&snap.a, "A"}, std::pair{&snap.b, "B"}}) {
      const std::size_t g = changed_granule(*copy, retired);
      if (g != SIZE_MAX && !retired)
        return operand_race(linear, g, which, key,
                            "which it had not retired and no barrier had ordered it after (checked when it yielded)");
    }
  }
  return "";
}

// For an mbarrier phase, approximately: the emulator does not know which threads arrived after
// retiring.
void note_block_barrier() {
  for (auto& [key, snap] : hopper_block().snapshots)
    if (snap.retired > 0) snap.synced = true;
}

std::string check_warpgroups(const std::vector<const HopperThread*>& threads) {
  for (std::size_t w = 0; w * 128 < threads.size(); ++w) {
    const std::size_t first = w * 128, last = std::min(threads.size(), first + 128);
    for (std::size_t i = first + 1; i < last; ++i) {
      const HopperThread& a = *threads[first];
      const HopperThread& b = *threads[i];
      if (a.issued != b.issued || a.issued_hash != b.issued_hash)
        return "warpgroup " + std::to_string(w) + ": thread " + std::to_string(first) + " issued " +
               std::to_string(a.issued) + " wgmma, thread " + std::to_string(i) + " " + std::to_string(b.issued) +
               (a.issued == b.issued ? " with other shapes or descriptors" : "") +
               " (wgmma is warpgroup-wide: every thread must issue the same ones)";
    }
  }
  return "";
}
}  // namespace detail

}  // namespace tilenet_emu
