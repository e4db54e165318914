// nvcuda::wmma for the CPU emulation (tests/emu/cuda_emu.h): 16x16x16 fragments of __half inputs
// and float (or __half) accumulators. The fragment layout is the emulator's own (lane l holds
// elements 8l .. 8l+7 of the tile in row-major order): kernels may only rely on what the CUDA
// documentation promises, i.e. element-wise operations on x[] and the load/store/mma functions.
// mma_sync is a warp collective; loads and stores check the documented alignment (256-bit
// pointers, ldm a multiple of 16 bytes).
#pragma once

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "the emulator has the 16x16x16 shape only");
  static constexpr int num_elements = 8;
  T x[8];
};

namespace emu_detail {
void check_tile(const void* p, unsigned ldm, std::size_t elem_bytes, const char* op);
void mma(float (&d)[8], const __half (&a)[8], const __half (&b)[8], const float (&c)[8]);
inline float to_f(float v) { return v; }
inline float to_f(__half v) { return tilenet_emu::half_bits_to_float(tilenet_emu::to_bits(v) & 0xffffu); }
template <typename T>
T from_f(float v);
template <>
inline float from_f<float>(float v) {
  return v;
}
template <>
inline __half from_f<__half>(float v) {
  return tilenet_emu::from_bits<__half>(tilenet_emu::float_to_half_bits(v));
}
// Element i of this lane's fragment in the 16x16 tile at p (leading dimension ldm), row-major or
// column-major.
template <typename T>
T& element(T* p, unsigned ldm, int i, bool by_rows) {
  const int e = tilenet_emu::lane_id() * 8 + i, r = e / 16, c = e % 16;
  return by_rows ? p[r * ldm + c] : p[c * ldm + r];
}
}  // namespace emu_detail

template <typename Use, typename T, typename L, typename V>
void fill_fragment(fragment<Use, 16, 16, 16, T, L>& f, const V& v) {
  for (auto& x : f.x) x = static_cast<T>(v);
}

// matrix_a: rows m, columns k. matrix_b: rows k, columns n. row_major: (r, c) at p[r * ldm + c].
template <typename Use, typename T, typename L>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, L>& f, const T* p, unsigned ldm) {
  static_assert(!std::is_same<Use, accumulator>::value, "accumulator loads take a layout_t");
  emu_detail::check_tile(p, ldm, sizeof(T), "wmma::load_matrix_sync");
  for (int i = 0; i < 8; ++i) f.x[i] = emu_detail::element(p, ldm, i, std::is_same<L, row_major>::value);
}
template <typename T>
void load_matrix_sync(fragment<accumulator, 16, 16, 16, T>& f, const T* p, unsigned ldm, layout_t layout) {
  emu_detail::check_tile(p, ldm, sizeof(T), "wmma::load_matrix_sync");
  for (int i = 0; i < 8; ++i) f.x[i] = emu_detail::element(p, ldm, i, layout == mem_row_major);
}
template <typename T>
void store_matrix_sync(T* p, const fragment<accumulator, 16, 16, 16, T>& f, unsigned ldm, layout_t layout) {
  emu_detail::check_tile(p, ldm, sizeof(T), "wmma::store_matrix_sync");
  for (int i = 0; i < 8; ++i) emu_detail::element(p, ldm, i, layout == mem_row_major) = f.x[i];
}
template <typename LA, typename LB, typename TC>
void mma_sync(fragment<accumulator, 16, 16, 16, TC>& d, const fragment<matrix_a, 16, 16, 16, __half, LA>& a,
              const fragment<matrix_b, 16, 16, 16, __half, LB>& b, const fragment<accumulator, 16, 16, 16, TC>& c) {
  float cf[8], df[8];
  for (int i = 0; i < 8; ++i) cf[i] = emu_detail::to_f(c.x[i]);
  emu_detail::mma(df, a.x, b.x, cf);
  for (int i = 0; i < 8; ++i) d.x[i] = emu_detail::from_f<TC>(df[i]);
}

}  // namespace nvcuda::wmma
