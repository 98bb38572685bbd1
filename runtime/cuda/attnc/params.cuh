//===- params.cuh - reading a variant's params -----------------*- CUDA -*-===//
//
// How kernels and their hooks read params (ParamSlot): one element type
// per param type (ElemF32, ElemBF16, ...), load_param for a bounds-checked
// element and load_range for the least and greatest of a 1-D range.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_PARAMS_CUH
#define ATTNC_CUDA_PARAMS_CUH

#include "attnc/abi.h" // ParamSlot

namespace attnc_cuda {

//===----------------------------------------------------------------------===//
// Param access (bounds-checked; an out-of-bounds read yields 0 and records
// the param's number in `status`, a per-thread register that the kernel
// publishes once at its end: with no stores between them, the compiler can
// share the loads that several elements make, e.g. doc[q_idx] across a row;
// the call's first read out of bounds also writes which read and at
// what index to ParamSlot::status, from a cold branch)
//===----------------------------------------------------------------------===//

struct ElemF32 {
  typedef float value;
  static __device__ float read(const void *p, i64 i) { return static_cast<const float *>(p)[i]; }
};
struct ElemBF16 {
  typedef float value;
  static __device__ float read(const void *p, i64 i) {
    return __uint_as_float(u32(static_cast<const u16 *>(p)[i]) << 16);
  }
};
struct ElemF16 {
  typedef float value;
  static __device__ float read(const void *p, i64 i) {
    u16 h = static_cast<const u16 *>(p)[i];
    float f;
    asm("{ .reg .b16 t; mov.b16 t, %1; cvt.f32.f16 %0, t; }" : "=f"(f) : "h"(h));
    return f;
  }
};
struct ElemI32 {
  typedef int value;
  static __device__ int read(const void *p, i64 i) { return static_cast<const int *>(p)[i]; }
};
struct ElemI64 {
  typedef i64 value;
  static __device__ i64 read(const void *p, i64 i) { return static_cast<const i64 *>(p)[i]; }
};
struct ElemBool {
  typedef bool value;
  static __device__ bool read(const void *p, i64 i) { return static_cast<const unsigned char *>(p)[i] != 0; }
};

/// Records a read out of bounds of param `number` (1 + its position) by
/// read `read` (1 + its id) at `ix` in `words` (ParamSlot::status), if it
/// is the call's first: claims word 0, then writes the rest (the index's
/// dims past the param's rank are 0s, which the host does not read). Not
/// inlined: one small call per read site, where inlined stores cost spills
/// (measured). Inline asm with no "memory" clobber, so that to the compiler
/// these are no stores and the loads around them stay shareable (the
/// words are no param's).
inline __device__ __noinline__ void record_read(int *words, int number, int read, i64 i0, i64 i1, i64 i2, i64 i3) {
  if (!words)
    return;
  int old;
  asm volatile("atom.cas.b32 %0, [%1], 0, %2;" : "=r"(old) : "l"(words), "r"(number));
  if (old != 0)
    return;
  const i64 ix[4] = {i0, i1, i2, i3};
  asm volatile("st.u32 [%0], %1;" ::"l"(words + 1), "r"(read));
#pragma unroll
  for (int d = 0; d < 4; ++d)
    asm volatile("st.u32 [%0], %1;\n\tst.u32 [%0+4], %2;" ::"l"(words + 2 + 2 * d), "r"(u32(u64(ix[d]))),
                 "r"(u32(u64(ix[d]) >> 32)));
}

/// Param `number` (1 + its position) at `idx`, for read `read` (1 + the
/// `attn.read` id of its attn.load; 0 without one).
template <class E, class... I>
__device__ __forceinline__ typename E::value load_param(const ParamSlot &s, int number, int read, int &status,
                                                        I... idx) {
  const i64 ix[] = {i64(idx)...};
  i64 offset = 0;
  bool ok = true;
#pragma unroll
  for (int d = 0; d < int(sizeof...(I)); ++d) {
    // One unsigned compare per index: a negative one wraps past any extent.
    // (Unsigned arithmetic: the offset of an index out of bounds may wrap.)
    const u64 i = u64(ix[d]);
    ok &= i < u64(s.size[d]);
    offset += i64(i * u64(s.stride[d]));
  }
  // The read is unconditional (an out-of-bounds one reads element 0; the
  // host points empty tensors at valid memory), so the compiler may share
  // it between elements and schedule it early.
  typename E::value v = E::read(s.ptr, ok ? offset : 0);
  // The thread's first read out of bounds says where (off the hot path).
  if (__builtin_expect(!ok && !status, 0))
    record_read(s.status, number, read, ix[0], sizeof...(I) > 1 ? ix[1 % sizeof...(I)] : 0,
                sizeof...(I) > 2 ? ix[2 % sizeof...(I)] : 0, sizeof...(I) > 3 ? ix[3 % sizeof...(I)] : 0);
  status = ok || status ? status : number;
  return ok ? v : typename E::value(0);
}

/// The least and greatest element of a 1-D param over [first, last], the
/// range clamped to its extent (attn.load_range); a range wholly past the
/// end reads the last element, as the reference does.
template <class E>
__device__ __forceinline__ void load_range(const ParamSlot &s, i64 first, i64 last, typename E::value &lo,
                                           typename E::value &hi) {
  first = first < 0 ? 0 : first;
  last = last >= s.size[0] ? s.size[0] - 1 : last;
  lo = hi = E::read(s.ptr, (first < last ? first : last) * s.stride[0]);
  for (i64 i = first + 1; i <= last; ++i) {
    typename E::value x = E::read(s.ptr, i * s.stride[0]);
    lo = x < lo ? x : lo;
    hi = x > hi ? x : hi;
  }
}

} // namespace attnc_cuda

#endif // ATTNC_CUDA_PARAMS_CUH
