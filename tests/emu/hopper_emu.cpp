// The emulator's Hopper (sm_90a) memory primitives: mbarrier phases with transaction counts and TMA
// tiled loads through tensor maps (the driver's cuTensorMapEncodeTiled, emulated with its
// documented checks). wgmma is in wgmma_emu.cpp. The layouts follow the PTX ISA (mbarrier phase
// completion, cp.async.bulk.tensor) and CUDA's tensor-map documentation:
//   - swizzle: the 16-byte chunk bits [4:6] of a shared-memory address are XORed with its bits
//     [7:9] (128B; bits [4:5]/[7:8] for 64B, bit 4/7 for 32B), on the absolute window address, by
//     TMA when it writes and by wgmma when it reads.
// An asynchronous write (cp.async, TMA) into shared memory that an issued wgmma reads, before every
// thread of the warpgroup retired it, traps (a write after read the emulator's ordering would hide).
// Only what tilenet's kernels use is emulated; anything else traps with a message rather than
// computing something plausible. Host code only; nothing here is part of the library.
#include <cuda.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cuda_emu.h"
#include "emu_internal.h"

namespace tilenet_emu {
namespace {

using detail::Mbarrier;
using detail::swizzle;
using detail::window_offset;

// The block's error names the thread (emu_runtime.cpp's thread_entry).
[[noreturn]] void fail(const std::string& what) { trap(what.c_str()); }

// ---- mbarrier ---------------------------------------------------------------------------------------
Mbarrier& barrier(std::uint64_t* bar, const char* op) {
  auto& bars = detail::hopper_block().bars;
  const auto it = bars.find(bar);
  if (it == bars.end()) fail(std::string(op) + " on an mbarrier not initialised in this block");
  return it->second;
}

void complete_if_done(Mbarrier& m) {
  if (m.pending != 0 || m.tx != 0) return;
  ++m.phase;
  m.pending = m.count;
  ++detail::hopper_block().epoch;
  detail::note_block_barrier();
}

void complete_tx(std::uint64_t* bar, long long bytes) {
  Mbarrier& m = barrier(bar, "complete_tx");
  m.tx -= bytes;
  complete_if_done(m);
}

// ---- tensor maps ------------------------------------------------------------------------------------
// What the emulated cuTensorMapEncodeTiled keeps in the map's 128 opaque bytes.
struct EmuTensorMap {
  std::uint32_t magic, rank, elem_bytes, swizzle_bytes, nan_fill, pad;
  const unsigned char* base;
  std::uint64_t dims[5];
  std::uint64_t strides[4];  // bytes, dimensions 1..rank-1
  std::uint32_t box[5];
};
static_assert(sizeof(EmuTensorMap) <= sizeof(CUtensorMap), "the emulated map must fit CUtensorMap");
constexpr std::uint32_t kMapMagic = 0x544d4150;  // "TMAP"

int element_bytes(CUtensorMapDataType t) {
  switch (t) {
    case CU_TENSOR_MAP_DATA_TYPE_UINT8: return 1;
    case CU_TENSOR_MAP_DATA_TYPE_UINT16:
    case CU_TENSOR_MAP_DATA_TYPE_FLOAT16:
    case CU_TENSOR_MAP_DATA_TYPE_BFLOAT16: return 2;
    case CU_TENSOR_MAP_DATA_TYPE_UINT32:
    case CU_TENSOR_MAP_DATA_TYPE_INT32:
    case CU_TENSOR_MAP_DATA_TYPE_FLOAT32: return 4;
    case CU_TENSOR_MAP_DATA_TYPE_UINT64:
    case CU_TENSOR_MAP_DATA_TYPE_INT64:
    case CU_TENSOR_MAP_DATA_TYPE_FLOAT64: return 8;
    default: return 0;  // not emulated
  }
}

int swizzle_span(CUtensorMapSwizzle s) {
  switch (s) {
    case CU_TENSOR_MAP_SWIZZLE_NONE: return 0;
    case CU_TENSOR_MAP_SWIZZLE_32B: return 32;
    case CU_TENSOR_MAP_SWIZZLE_64B: return 64;
    case CU_TENSOR_MAP_SWIZZLE_128B: return 128;
    default: return -1;  // the atom variants: not emulated
  }
}

// The driver's checks (cuTensorMapEncodeTiled's documentation), then the map.
CUresult encode_tiled(CUtensorMap* map, CUtensorMapDataType type, cuuint32_t rank, void* global,
                      const cuuint64_t* dims, const cuuint64_t* strides, const cuuint32_t* box,
                      const cuuint32_t* elem_strides, CUtensorMapInterleave interleave, CUtensorMapSwizzle swz,
                      CUtensorMapL2promotion, CUtensorMapFloatOOBfill fill) {
  const int eb = element_bytes(type), span = swizzle_span(swz);
  if (map == nullptr || reinterpret_cast<std::uintptr_t>(map) % 64 != 0) return CUDA_ERROR_INVALID_VALUE;
  if (eb == 0 || span < 0 || interleave != CU_TENSOR_MAP_INTERLEAVE_NONE) return CUDA_ERROR_INVALID_VALUE;
  if (rank < 1 || rank > 5 || global == nullptr || reinterpret_cast<std::uintptr_t>(global) % 16 != 0)
    return CUDA_ERROR_INVALID_VALUE;
  EmuTensorMap m{};
  m.magic = kMapMagic;
  m.rank = rank;
  m.elem_bytes = static_cast<std::uint32_t>(eb);
  m.swizzle_bytes = static_cast<std::uint32_t>(span);
  m.nan_fill = fill == CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA;
  m.base = static_cast<const unsigned char*>(global);
  for (cuuint32_t d = 0; d < rank; ++d) {
    if (dims[d] == 0 || dims[d] > (1ULL << 32)) return CUDA_ERROR_INVALID_VALUE;
    if (box[d] == 0 || box[d] > 256) return CUDA_ERROR_INVALID_VALUE;
    if (elem_strides[d] != 1) return CUDA_ERROR_INVALID_VALUE;  // 2..8 are legal but not emulated
    m.dims[d] = dims[d];
    m.box[d] = box[d];
    if (d + 1 < rank) {
      if (strides[d] % 16 != 0 || strides[d] >= (1ULL << 40)) return CUDA_ERROR_INVALID_VALUE;
      m.strides[d] = strides[d];
    }
  }
  const std::uint64_t inner_bytes = static_cast<std::uint64_t>(box[0]) * eb;
  if (inner_bytes % 16 != 0) return CUDA_ERROR_INVALID_VALUE;
  if (span > 0 && inner_bytes > static_cast<std::uint64_t>(span)) return CUDA_ERROR_INVALID_VALUE;
  std::memset(map, 0, sizeof *map);
  std::memcpy(map, &m, sizeof m);
  return CUDA_SUCCESS;
}

}  // namespace

// ---- the device-side API (cuda_emu.h) ---------------------------------------------------------------
void mbar_init(std::uint64_t* bar, unsigned count) {
  if (reinterpret_cast<std::uintptr_t>(bar) % 8 != 0) fail("mbarrier.init on an address not 8-byte aligned");
  if (count == 0 || count >= (1u << 20)) fail("mbarrier.init count outside 1..2^20-1");
  Mbarrier m;
  m.count = m.pending = count;
  detail::hopper_block().bars[bar] = m;
}

void mbar_arrive(std::uint64_t* bar, unsigned tx_bytes) {
  Mbarrier& m = barrier(bar, "mbarrier.arrive");
  m.tx += tx_bytes;  // expect_tx comes before the arrival
  if (m.pending == 0) fail("mbarrier.arrive with no arrival pending");
  --m.pending;
  complete_if_done(m);
}

bool mbar_try_wait(std::uint64_t* bar, unsigned parity) {
  // The phase of parity P has completed when the current (incomplete) phase has the other parity.
  if ((barrier(bar, "mbarrier.try_wait").phase & 1u) != (parity & 1u)) return true;
  detail::wait_for_barrier_phase();
  return false;  // a try_wait that timed out: the caller asks again
}

void tma_load(void* smem, const void* map_ptr, std::uint64_t* bar, const int* coords, int rank) {
  if (reinterpret_cast<std::uintptr_t>(map_ptr) % 64 != 0) fail("cp.async.bulk.tensor: tensor map not 64-byte aligned");
  EmuTensorMap m;
  std::memcpy(&m, map_ptr, sizeof m);
  if (m.magic != kMapMagic) fail("cp.async.bulk.tensor: not a tensor map made by cuTensorMapEncodeTiled");
  if (static_cast<int>(m.rank) != rank) fail("cp.async.bulk.tensor: the instruction's rank is not the map's");
  std::size_t dst_addr = 0, window_bytes = 0;
  unsigned char* window = window_offset(smem, &dst_addr, &window_bytes);
  if (!window) fail("cp.async.bulk.tensor: destination outside shared memory");
  const std::size_t align = m.swizzle_bytes == 128 ? 1024 : 128;
  if (dst_addr % align != 0)
    fail("cp.async.bulk.tensor: destination not " + std::to_string(align) + "-byte aligned");
  const std::size_t inner_bytes = static_cast<std::size_t>(m.box[0]) * m.elem_bytes;
  if (m.swizzle_bytes != 0 && inner_bytes != m.swizzle_bytes)
    fail("cp.async.bulk.tensor: a swizzled box narrower than the swizzle span (not emulated)");
  std::size_t elems = 1;
  for (std::uint32_t d = 0; d < m.rank; ++d) elems *= m.box[d];
  const std::size_t bytes = elems * m.elem_bytes;
  if (dst_addr + bytes > window_bytes) fail("cp.async.bulk.tensor: the box overruns shared memory");
  detail::check_async_write(smem, bytes, "cp.async.bulk.tensor");
  for (std::size_t e = 0; e < elems; ++e) {
    std::size_t rest = e, src = 0;
    bool inside = true;
    for (std::uint32_t d = 0; d < m.rank; ++d) {
      const long long c = static_cast<long long>(coords[d]) + static_cast<long long>(rest % m.box[d]);
      rest /= m.box[d];
      if (c < 0 || static_cast<std::uint64_t>(c) >= m.dims[d]) inside = false;
      else src += static_cast<std::size_t>(c) * (d == 0 ? m.elem_bytes : m.strides[d - 1]);
    }
    unsigned char* out = window + swizzle(dst_addr + e * m.elem_bytes, static_cast<int>(m.swizzle_bytes));
    if (inside)
      std::memcpy(out, m.base + src, m.elem_bytes);
    else if (m.nan_fill)
      std::memset(out, 0xff, m.elem_bytes);
    else
      std::memset(out, 0, m.elem_bytes);
  }
  complete_tx(bar, static_cast<long long>(bytes));  // the whole box counts, out-of-bounds part included
}

namespace detail {
unsigned char* window_offset(const void* p, std::size_t* offset, std::size_t* window_bytes) {
  std::size_t bytes = 0;
  unsigned char* window = detail::smem_window(&bytes);
  const auto* q = static_cast<const unsigned char*>(p);
  if (window_bytes) *window_bytes = bytes;
  if (q < window || q >= window + bytes) return nullptr;
  *offset = static_cast<std::size_t>(q - window);
  return window;
}

std::size_t swizzle(std::size_t a, int span) {
  switch (span) {
    case 128: return a ^ (((a >> 7) & 7u) << 4);
    case 64: return a ^ (((a >> 7) & 3u) << 4);
    case 32: return a ^ (((a >> 7) & 1u) << 4);
    default: return a;
  }
}

void check_async_write(const void* dst, std::size_t bytes, const char* what) {
  std::size_t lo = 0;
  if (!window_offset(dst, &lo)) return;  // not shared memory: checked elsewhere
  const std::size_t hi = lo + bytes;
  for (const auto& [range, count] : hopper_block().inflight_reads)
    if (lo < range.second && range.first < hi)
      fail(std::string(what) + " writes shared bytes [" + std::to_string(lo) + ", " + std::to_string(hi) +
           ") that a wgmma in flight reads ([" + std::to_string(range.first) + ", " + std::to_string(range.second) +
           "), " + std::to_string(count) + " thread(s)): retire its group (wgmma.wait_group) before the copy");
}

}  // namespace detail

}  // namespace tilenet_emu

// The driver entry point the wgmma launcher asks for (it never links libcuda).
extern "C" cudaError_t cudaGetDriverEntryPointByVersion(const char* symbol, void** fn, unsigned int, unsigned long long,
                                                        cudaDriverEntryPointQueryResult* status) {
  const bool known = std::strcmp(symbol, "cuTensorMapEncodeTiled") == 0;
  *fn = known ? reinterpret_cast<void*>(&tilenet_emu::encode_tiled) : nullptr;
  if (status != nullptr) *status = known ? cudaDriverEntryPointSuccess : cudaDriverEntryPointSymbolNotFound;
  return cudaSuccess;
}
