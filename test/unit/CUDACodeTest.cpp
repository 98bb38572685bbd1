//===- CUDACodeTest.cpp - a compiled GPU kernel's bytes, round trip -------===//
//
// The JIT keeps compiled GPU kernels (CUDACode) in its disk cache: every
// field of the launch spec must come back as it went in, else a kernel
// loaded from the cache launches differently from a fresh one.
//
//===----------------------------------------------------------------------===//

#include "Target/CUDATarget.h"

#include <catch2/catch.hpp>

using namespace attnc;

TEST_CASE("CUDACode: every spec field survives serialize and parse",
          "[target]") {
  CUDACode code;
  mlir::attn::CUDAKernelSpec &s = code.spec;
  s.kernelName = "v_kernel";
  s.blockMapName = "v_blockmap";
  s.headDim = 128, s.tileQ = 128, s.tileKv = 64, s.threads = 384;
  s.sharedBytes = 199736, s.numParams = 3;
  s.blockMapUsesBatch = true, s.blockMapUsesHead = true;
  s.combineName = "v_combine", s.maxSplits = 7, s.tensorMaps = true;
  s.pagedKv = true;
  s.backwardName = "v_backward", s.backwardSharedBytes = 148480;
  s.recomputeSharedBytes = 41984, s.hasOutputMod = true;
  s.backwardTileQ = 64, s.backwardTileKv = 128, s.backwardThreads = 256;
  code.source = "source";
  code.cubin = "cubin";
  code.blockMapCubin = "map";
  code.backwardCubin = "backward";
  std::optional<CUDACode> back = CUDACode::parse(code.serialize());
  REQUIRE(back);
  const mlir::attn::CUDAKernelSpec &t = back->spec;
  CHECK(t.kernelName == s.kernelName);
  CHECK(t.blockMapName == s.blockMapName);
  CHECK(t.headDim == s.headDim);
  CHECK(t.tileQ == s.tileQ);
  CHECK(t.tileKv == s.tileKv);
  CHECK(t.threads == s.threads);
  CHECK(t.sharedBytes == s.sharedBytes);
  CHECK(t.numParams == s.numParams);
  CHECK(t.blockMapUsesBatch);
  CHECK(t.blockMapUsesHead);
  CHECK(t.combineName == s.combineName);
  CHECK(t.maxSplits == s.maxSplits);
  CHECK(t.tensorMaps);
  CHECK(t.pagedKv);
  CHECK(t.backwardName == s.backwardName);
  CHECK(t.backwardSharedBytes == s.backwardSharedBytes);
  CHECK(t.recomputeSharedBytes == s.recomputeSharedBytes);
  CHECK(t.hasOutputMod);
  CHECK(t.backwardTileQ == 64);
  CHECK(t.backwardTileKv == 128);
  CHECK(t.backwardThreads == 256);
  CHECK(back->backwardCubin == "backward");
  CHECK(back->source == "source");
  CHECK(back->cubin == "cubin");
  CHECK(back->blockMapCubin == "map");
  // The defaults come back as defaults.
  CUDACode plain = code;
  plain.spec.tensorMaps = false;
  plain.spec.blockMapUsesHead = false;
  plain.spec.backwardName.clear();
  plain.backwardCubin.clear();
  std::optional<CUDACode> again = CUDACode::parse(plain.serialize());
  REQUIRE(again);
  CHECK(!again->spec.tensorMaps);
  CHECK(!again->spec.blockMapUsesHead);
  CHECK(again->spec.backwardName.empty());
  CHECK(again->backwardCubin.empty());
}
