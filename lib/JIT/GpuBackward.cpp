//===- GpuBackward.cpp - running a GPU kernel's backward ------------------===//
//
// Kernel::backward on the GPU (runtime/cuda/attnc/sm80_backward.cuh, and
// sm90_backward.cuh for the sm90_wgmma family), on the caller's stream: the
// output recomputed in f32 where the backward needs it exactly (before an
// output_mod, or for params' gradients, which sum over every pair and so
// amplify the rounding of a 16-bit out), then the rows' preprocessing (dO
// through output_mod, delta, lse in base 2), the key-tile kernel (dk, dv; dq
// summed in f32) and dq's conversion. The scratch is one stream-ordered
// allocation, zeroed.
//
//===----------------------------------------------------------------------===//

#include "JIT/CudaDriver.h"
#include "JIT/KernelImpl.h"
#include "Support/Error.h"

#include "attnc/launch_plan.h"

using namespace attnc;
using attnc_cuda::GradSlot;
using attnc_cuda::LaunchPlan;
using attnc_cuda::LaunchProblem;
using attnc_cuda::TensorDims;

namespace {

void loadBackward(const Kernel::Impl &k) {
  std::call_once(k.loadBackwardOnce, [&k] {
    const mlir::attn::CUDAKernelSpec &spec = k.cudaSpec;
    Kernel::Impl::LoadedBackward &l = k.loadedBackward;
    struct Entry {
      void **fn;
      std::string name;
      int64_t sharedBytes;
    };
    for (const Entry &e :
         {Entry{&l.recompute, spec.backwardName + "_recompute",
                spec.recomputeSharedBytes},
          Entry{&l.rows, spec.backwardName + "_rows", 0},
          Entry{&l.main, spec.backwardName, spec.backwardSharedBytes},
          Entry{&l.dq, spec.backwardName + "_dq", 0}}) {
      auto fn = cuda::loadFunction(k.backwardCubin, e.name, int(e.sharedBytes));
      if (!fn) {
        l.error = llvm::toString(fn.takeError());
        return;
      }
      *e.fn = *fn;
    }
  });
}

/// What the backward's kernels need of a gradient's view: a contiguous
/// head dim, rows of whole 16-byte chunks where they are copied by
/// cp.async (dout), of 4 bytes where pairs are stored.
llvm::Error checkGradView(const char *what, const TensorDims &t,
                          int64_t align) {
  if (t.stride[3] != 1 && t.size[3] != 1)
    return makeError(llvm::Twine(what) +
                     "'s head dim must be contiguous (stride 1) on the GPU");
  for (int d = 0; d < 3; ++d)
    if (t.stride[d] % align != 0)
      return makeError(llvm::Twine(what) + "'s stride " + llvm::Twine(d) +
                       " must be a multiple of " + llvm::Twine(align) +
                       " elements on the GPU; got " + llvm::Twine(t.stride[d]));
  if (reinterpret_cast<uintptr_t>(t.data) % (align * 2) != 0)
    return makeError(llvm::Twine(what) + " must be " + llvm::Twine(align * 2) +
                     "-byte aligned on the GPU");
  return llvm::Error::success();
}

/// The tensor maps of q, k and v (as the views are) and of dO (the
/// caller's dout, or the packed scratch copy after output_mod's gradient),
/// in boxes of the backward's tiles.
llvm::Error encodeBackwardMaps(attnc_cuda::BackwardMaps &maps,
                               const TensorDims (&views)[4],
                               const attnc_cuda::BackwardArgs &a,
                               const CallSizes &s) {
  TensorDims dO = {};
  const int64_t packed[4] = {s.H * s.N * s.Dv, s.N * s.Dv, s.Dv, 1};
  dO.data = a.dopre ? static_cast<const void *>(a.dopre) : a.dout;
  for (int d = 0; d < 4; ++d) {
    dO.size[d] = d == 0 ? s.B : d == 1 ? s.H : d == 2 ? s.N : s.Dv;
    dO.stride[d] = a.dopre ? packed[d] : d == 3 ? 1 : a.dos[d];
  }
  const TensorDims *tensor[4] = {&views[0], &views[1], &views[2], &dO};
  attnc_cuda::TensorMap *map[4] = {&maps.q, &maps.k, &maps.v, &maps.dout};
  const char *name[4] = {"q", "k", "v", "dout"};
  for (int t = 0; t < 4; ++t) {
    const int rows =
        t == 1 || t == 2 ? attnc_cuda::kBwdTileKv : attnc_cuda::kBwdTileQ;
    attnc_cuda::TensorMapShape m =
        attnc_cuda::tensor_map_shape(*tensor[t], rows);
    if (llvm::Error e =
            cuda::encodeTensorMap(map[t], m.base, m.sizes, m.strides, m.box))
      return makeError(std::string(name[t]) + ": " +
                       llvm::toString(std::move(e)));
  }
  return llvm::Error::success();
}

} // namespace

llvm::Error
attnc::runBackwardOnGPU(const Kernel::Impl &k, const BackwardArgs &args,
                        const CallSizes &s,
                        const std::vector<MemRefDescriptor> &tensorParams,
                        const std::vector<ScalarStorage> &scalarParams,
                        const std::vector<float *> &grads) {
  const mlir::attn::CUDAKernelSpec &spec = k.cudaSpec;
  TensorDims views[4] = {dims(args.q), dims(args.k), dims(args.v),
                         dims(args.out)};
  if (LaunchProblem p = attnc_cuda::check_views(views))
    return makeError(attnc_cuda::describe(p));
  const TensorDims dout = dims(args.dout), dq = dims(args.dq),
                   dk = dims(args.dk), dv = dims(args.dv);
  if (llvm::Error e = checkGradView("dout", dout, 8))
    return e;
  for (auto [what, t] : {std::make_pair("dq", &dq), std::make_pair("dk", &dk),
                         std::make_pair("dv", &dv)})
    if (llvm::Error e = checkGradView(what, *t, 2))
      return e;
  for (const MemRefDescriptor &m : tensorParams)
    if (LaunchProblem p = attnc_cuda::check_param_rank(int64_t(m.rank)))
      return makeError(attnc_cuda::describe(p));
  loadBackward(k);
  if (!k.loadedBackward.error.empty())
    return makeError(k.loadedBackward.error);

  // The forward's call, for the recomputation's tiles.
  LaunchPlan plan;
  const TensorDims lseDims = args.lse ? dims(*args.lse) : TensorDims{};
  if (LaunchProblem p = attnc_cuda::plan_forward(
          plan, views, args.lse ? &lseDims : nullptr,
          attnc_cuda::kRecomputeTile, attnc_cuda::kRecomputeTile))
    return makeError(attnc_cuda::describe(p));
  const bool anyGrad = llvm::any_of(grads, [](float *g) { return g; });
  const bool outputMod = spec.hasOutputMod;
  const bool recomputeOut = outputMod || anyGrad;

  // Scratch, in 4-byte words: the status head, lse2 and delta, dq's f32
  // sums and turns, the recomputed output and row sums (f32) and dO after
  // output_mod (16-bit), each region whole 16-byte chunks (dO is read by
  // the copy engine; the output in pairs).
  auto chunks = [](int64_t words) { return (words + 3) / 4 * 4; };
  const int64_t rows = s.B * s.H * s.N;
  const int bm = int(spec.backwardTileQ), bn = int(spec.backwardTileKv);
  const int64_t rowWords =
      s.B * s.H * attnc_cuda::backward_row_pitch(int(s.N), bm);
  const int64_t head = attnc_cuda::kScratchHeadWords;
  const int64_t dqWords = rows * s.D;
  const int64_t tilesQ = (s.N + bm - 1) / bm;
  const int64_t turnWords = args.deterministic ? chunks(s.B * s.H * tilesQ) : 0;
  // The recomputed output, and its rows' weight sums (row_sum).
  const int64_t outWords = recomputeOut ? chunks(rows * (s.Dv + 1)) : 0;
  const int64_t dopreWords = outputMod ? (rows * s.Dv + 1) / 2 : 0;
  const int64_t words =
      head + 2 * rowWords + dqWords + turnWords + outWords + dopreWords;
  cuda::Stream stream = args.stream;
  auto scratch = cuda::allocateAsync(size_t(words) * 4, stream);
  if (!scratch)
    return scratch.takeError();
  float *base = reinterpret_cast<float *>(uintptr_t(*scratch));
  attnc_cuda::BackwardArgs a = {};
  a.f = plan.args;
  a.f.status = reinterpret_cast<int *>(base);
  a.lse2 = base + head;
  a.delta = a.lse2 + rowWords;
  a.dqAccum = a.delta + rowWords;
  a.dqTurns = args.deterministic ? reinterpret_cast<int *>(a.dqAccum + dqWords)
                                 : nullptr;
  float *afterTurns = a.dqAccum + dqWords + turnWords;
  a.f.partialOut = recomputeOut ? afterTurns : nullptr;
  a.f.partialLse = recomputeOut ? afterTurns + rows * s.Dv : nullptr;
  a.dopre = outputMod
                ? reinterpret_cast<attnc_cuda::u16 *>(afterTurns + outWords)
                : nullptr;
  a.dout = static_cast<const attnc_cuda::u16 *>(dout.data);
  a.dq = static_cast<attnc_cuda::u16 *>(const_cast<void *>(dq.data));
  a.dk = static_cast<attnc_cuda::u16 *>(const_cast<void *>(dk.data));
  a.dv = static_cast<attnc_cuda::u16 *>(const_cast<void *>(dv.data));
  for (int d = 0; d < 3; ++d) {
    a.dos[d] = dout.stride[d];
    a.dqs[d] = dq.stride[d];
    a.dks[d] = dk.stride[d];
    a.dvs[d] = dv.stride[d];
  }
  a.tilesQ = int(tilesQ);
  a.tilesKv = int((s.M + bn - 1) / bn);

  std::vector<attnc_cuda::ParamSlot> slots =
      makeParamSlots(k, tensorParams, scalarParams, a.f.status);
  std::vector<GradSlot> gradSlots(std::max<size_t>(1, grads.size()),
                                  GradSlot{nullptr});
  for (size_t i = 0; i < grads.size(); ++i)
    gradSlots[i].ptr = grads[i];

  // Zeroed: the status, lse2 and delta (rows past N included), dq's sums,
  // its turns and the gradients the kernels add to.
  llvm::Error error = cuda::zeroAsync(
      *scratch, size_t(head + 2 * rowWords + dqWords + turnWords), stream);
  for (size_t i = 0; i < grads.size() && !error; ++i)
    if (grads[i]) {
      auto it = args.paramGrads.find(k.params[i].name);
      error = cuda::zeroAsync(reinterpret_cast<uintptr_t>(grads[i]),
                              size_t(it->second.numElements()), stream);
    }
  auto launch = [&](void *fn, int64_t ctas, int threads, int64_t shared,
                    void **kernelArgs) {
    if (error || ctas == 0)
      return;
    if (ctas > INT32_MAX) {
      error = makeError("the backward's grid is too large for this call");
      return;
    }
    unsigned grid[3] = {unsigned(ctas), 1, 1};
    error = cuda::launch(fn, grid, unsigned(threads), unsigned(shared), stream,
                         kernelArgs);
  };
  if (recomputeOut) {
    attnc_cuda::FlashArgs f = a.f;
    f.lse = nullptr; // the forward's lse stays as it was given
    void *kernelArgs[] = {&f, slots.data()};
    launch(k.loadedBackward.recompute, plan.forwardCtas,
           attnc_cuda::kRecomputeWarps * 32, spec.recomputeSharedBytes,
           kernelArgs);
  }
  void *kernelArgs[] = {&a, slots.data(), gradSlots.data()};
  const int rowsPerCta = attnc_cuda::kBwdRowThreads / 32;
  launch(k.loadedBackward.rows, (rows + rowsPerCta - 1) / rowsPerCta,
         attnc_cuda::kBwdRowThreads, 0, kernelArgs);
  // sm90_wgmma's key-tile kernel reads q, k, v and dO through tensor maps.
  attnc_cuda::BackwardMaps maps;
  if (!error && spec.tensorMaps)
    error = encodeBackwardMaps(maps, views, a, s);
  void *mainArgs[] = {&a, slots.data(), gradSlots.data(), &maps};
  launch(k.loadedBackward.main, s.B * s.Hkv * a.tilesKv,
         int(spec.backwardThreads), spec.backwardSharedBytes, mainArgs);
  const int64_t pairs = rows * (s.D / 2);
  void *dqArgs[] = {&a};
  launch(k.loadedBackward.dq,
         (pairs + attnc_cuda::kBwdRowThreads - 1) / attnc_cuda::kBwdRowThreads,
         attnc_cuda::kBwdRowThreads, 0, dqArgs);

  llvm::Expected<GpuStatus> status =
      finishGPUCall(*scratch, stream, args.synchronize, std::move(error));
  if (!status)
    return status.takeError();
  return statusError(k, args.params, *status, "the gradients are not valid");
}
