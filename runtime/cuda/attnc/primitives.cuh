//===- primitives.cuh - PTX, memory and math primitives --------*- CUDA -*-===//
//
// The hardware details the kernels are written over, each small and named:
// cp.async, ldmatrix, mma.sync m16n8k16, the f32 -> 16-bit packs, ex2, tanh
// and div approximations, shared-memory addresses, the vector types of 8-
// and 16-byte accesses; and the math helpers that generated hooks call
// (floordiv, ceildiv, bf16 and f16 rounding).
//
// Inline PTX is used for cp.async, ldmatrix, mma.sync and the f32 -> bf16
// packs: libcu++'s cuda::ptx does not cover them, and its headers would need
// a file-system include path at run time.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_PRIMITIVES_CUH
#define ATTNC_CUDA_PRIMITIVES_CUH

#include "attnc/abi.h" // u16, u32, i64

namespace attnc_cuda {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }
__device__ __forceinline__ float pos_inf() { return __int_as_float(0x7f800000); }

// Integer +, - and * wrap around (two's complement) as on the CPU and in
// the reference; signed overflow in C++ is undefined, so through unsigned.
__device__ __forceinline__ int wrap_add(int a, int b) { return int(u32(a) + u32(b)); }
__device__ __forceinline__ int wrap_sub(int a, int b) { return int(u32(a) - u32(b)); }
__device__ __forceinline__ int wrap_mul(int a, int b) { return int(u32(a) * u32(b)); }
__device__ __forceinline__ long long wrap_add(long long a, long long b) { return (long long)(u64(a) + u64(b)); }
__device__ __forceinline__ long long wrap_sub(long long a, long long b) { return (long long)(u64(a) - u64(b)); }
__device__ __forceinline__ long long wrap_mul(long long a, long long b) { return (long long)(u64(a) * u64(b)); }
__device__ __forceinline__ int wrap_abs(int a) { return a < 0 ? int(0u - u32(a)) : a; }
__device__ __forceinline__ long long wrap_abs(long long a) { return a < 0 ? (long long)(0ull - u64(a)) : a; }
template <class T> __device__ __forceinline__ T floordiv(T a, T b) {
  T q = a / b;
  return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
}
template <class T> __device__ __forceinline__ T ceildiv(T a, T b) {
  T q = a / b;
  return (q * b != a && ((a < 0) == (b < 0))) ? q + 1 : q;
}
__device__ __forceinline__ float round_bf16(float x) {
  u16 h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(x));
  return __uint_as_float(u32(h) << 16);
}
__device__ __forceinline__ float round_f16(float x) {
  float y;
  asm("{ .reg .b16 t; cvt.rn.f16.f32 t, %1; cvt.f32.f16 %0, t; }" : "=f"(y) : "f"(x));
  return y;
}

//===----------------------------------------------------------------------===//
// Instructions
//===----------------------------------------------------------------------===//

__device__ __forceinline__ u32 smem_addr(const void *p) { return u32(__cvta_generic_to_shared(p)); }

/// 16 bytes global -> shared; zero-filled when !valid (rows past the end).
__device__ __forceinline__ void cp_async16(u32 dst, const void *src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(u32 (&r)[4], u32 addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(u32 (&r)[4], u32 addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

template <bool F16> __device__ __forceinline__ void mma16816(float (&c)[4], const u32 (&a)[4], u32 b0, u32 b1) {
  if constexpr (F16)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, "
                 "%1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/// Two floats as a packed pair, `lo` in the low half.
template <bool F16> __device__ __forceinline__ u32 pack2(float lo, float hi) {
  u32 r;
  if constexpr (F16)
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  else
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}

/// The low and high 16-bit values of a packed pair, as floats.
template <bool F16> __device__ __forceinline__ float unpack_lo(u32 w) {
  if constexpr (F16) {
    float f;
    asm("{ .reg .b16 l, h; mov.b32 {l, h}, %1; cvt.f32.f16 %0, l; }" : "=f"(f) : "r"(w));
    return f;
  }
  return __uint_as_float(w << 16);
}
template <bool F16> __device__ __forceinline__ float unpack_hi(u32 w) {
  if constexpr (F16) {
    float f;
    asm("{ .reg .b16 l, h; mov.b32 {l, h}, %1; cvt.f32.f16 %0, h; }" : "=f"(f) : "r"(w));
    return f;
  }
  return __uint_as_float(w & 0xffff0000u);
}

__device__ __forceinline__ float tanh_approx(float x) {
  float y;
  asm("tanh.approx.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

/// a / b within 2 ulp over the whole range (div.full; __fdividef gives 0
/// for |b| > 2^126).
__device__ __forceinline__ float fdiv(float a, float b) {
  float y;
  asm("div.full.f32 %0, %1, %2;" : "=f"(y) : "f"(a), "f"(b));
  return y;
}

/// 8- and 16-byte shared and global accesses (the CUDA headers' float2,
/// float4 and uint4 without the headers).
struct alignas(8) F32x2 {
  float x, y;
};
struct alignas(16) F32x4 {
  float v[4];
};
struct alignas(16) U32x4 {
  u32 w[4];
};

/// Hides a value's origin from the optimiser: products of it inside the
/// key-tile loop are then recomputed per tile instead of being hoisted out
/// of the loop and held in registers the accumulators need.
template <class T> __device__ __forceinline__ T opaque(T x) {
  if constexpr (sizeof(T) == 8)
    asm volatile("" : "+l"(x));
  else
    asm volatile("" : "+r"(x));
  return x;
}

__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

/// 2^(x - top) for a logit x of a row whose greatest is `top` (base 2), in
/// softmax's limit where both are +inf: 1 (a share of the row), not NaN.
__device__ __forceinline__ float limit_ex2(float x, float top) { return x == top ? 1.f : ex2(x - top); }

} // namespace attnc_cuda

#endif // ATTNC_CUDA_PRIMITIVES_CUH
