// attn-translate --attn-to-cuda on dialect input: the schedule attribute, and
// nothing else, picks the template's Config (tiles, warps, stages).
// RUN: attn-translate --split-input-file --verify-diagnostics --attn-to-cuda %s | FileCheck %s

// CHECK: struct scaled_variant {
// CHECK: static constexpr int kNormalizer = ATTNC_NORMALIZE_SIGMOID;
// CHECK: static constexpr float kScale = 0.125f;
// CHECK: static constexpr float kBias = -2.0f;
// CHECK: static constexpr bool kHasScoreMod = false;
// CHECK: static constexpr bool kHasMask = false;
// Head dims 64/64, tile_q 64, tile_kv 32, 4 warps, 3 stages.
// CHECK: typedef attnc_cuda::Config<64, 64, 64, 32, 4, 3, false> scaled_config;
// CHECK: attnc_cuda::FlashForward<scaled_variant, scaled_config>::run(a, P);
// CHECK: extern "C" int scaled_cuda(attnc_memref4 *q, attnc_memref4 *k, attnc_memref4 *v, attnc_memref4 *out, attnc_memref1 *status, void *stream) {
attn.variant @scaled(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  %out = flash sigmoid(%q, %k, %v) bias -2.0 {schedule = #attn.schedule<sm80_mma, tile_q = 64, tile_kv = 32, warps = 4, stages = 3>} : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> (tensor<?x?x?x64xbf16>)
  return %out : tensor<?x?x?x64xbf16>
}

// -----

// A mask becomes a device function over the fragment's indices; softmax
// returns lse.
// CHECK: struct causal_variant {
// CHECK: static constexpr int kNormalizer = ATTNC_NORMALIZE_SOFTMAX;
// CHECK: static constexpr bool kHasMask = true;
// CHECK: typedef attnc_cuda::Config<128, 128, 128, 48, 8, 2, true> causal_config;
// CHECK: extern "C" int causal_cuda(attnc_memref4 *q, attnc_memref4 *k, attnc_memref4 *v, attnc_memref4 *out, attnc_memref3 *lse, attnc_memref1 *status, void *stream) {
attn.variant @causal(%q: tensor<?x?x?x128xf16>, %k: tensor<?x?x?x128xf16>, %v: tensor<?x?x?x128xf16>) -> (tensor<?x?x?x128xf16>, tensor<?x?x?xf32>) {
  %out, %lse = flash softmax(%q, %k, %v) {schedule = #attn.schedule<sm80_mma, tile_q = 128, tile_kv = 48, warps = 8, stages = 2>} : (tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>) -> (tensor<?x?x?x128xf16>, tensor<?x?x?xf32>) mask {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %0 = arith.cmpi sge, %q_idx, %kv_idx : index
    attn.yield %0 : i1
  }
  return %out, %lse : tensor<?x?x?x128xf16>, tensor<?x?x?xf32>
}

// -----

// split_kv: the Config's last argument, and the combine kernel beside the
// forward kernel; the AOT entry passes it and the most splits.
// CHECK: typedef attnc_cuda::Config<128, 128, 16, 64, 1, 3, false, true> decode_config;
// CHECK: attnc_cuda::FlashForward<decode_variant, decode_config>::run(a, P);
// CHECK: decode_combine(const attnc_cuda::FlashArgs a, const decode_variant::Params P) {
// CHECK-NEXT: attnc_cuda::combine_splits<decode_variant, decode_config>(a, P);
// CHECK: return call.launch(P, decode_kernel, nullptr, false, false, decode_combine, 96, static_cast<cudaStream_t>(stream));
attn.variant @decode(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>, tensor<?x?x?xf32>) {
  %out, %lse = flash softmax(%q, %k, %v) {schedule = #attn.schedule<split_kv, tile_q = 16, tile_kv = 64, warps = 1, stages = 3, splits = 96>} : (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>, tensor<?x?x?xf32>)
  return %out, %lse : tensor<?x?x?x128xbf16>, tensor<?x?x?xf32>
}

// -----

attn.variant @cpu(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  // expected-error @below {{the CUDA backend has no kernel family 'cpu_tiles'}}
  %out = flash sigmoid(%q, %k, %v) {schedule = #attn.schedule<cpu_tiles, tile_q = 64, tile_kv = 32, vector_width = 8>} : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> (tensor<?x?x?x64xbf16>)
  return %out : tensor<?x?x?x64xbf16>
}

// -----

attn.variant @unscheduled(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  // expected-error @below {{attn.flash has no schedule; run attn-select-schedule}}
  %out = flash sigmoid(%q, %k, %v) : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> (tensor<?x?x?x64xbf16>)
  return %out : tensor<?x?x?x64xbf16>
}
