//===- Backward.cpp - checking and running a backward kernel --------------===//
//
// Kernel::backward: the arguments checked as Kernel::run checks them; on
// the GPU then GpuBackward.cpp's kernels, on the CPU the backward kernel's
// two phases (lib/Conversion/AttnToCPU/Backward.cpp) on threads: every
// query row (dO through output_mod, delta, dq, param gradients), then every
// key (dk, dv). The param gradients are summed in zeroed f32 scratch and
// copied to the caller's views.
//
//===----------------------------------------------------------------------===//

#include "JIT/KernelImpl.h"
#include "Support/Error.h"
#include "attnc/cpu_run.h"

using namespace attnc;

bool Kernel::hasBackward() const {
  return impl->backwardEntry != nullptr || !impl->cudaSpec.backwardName.empty();
}

namespace {

/// One thread's argument list for the backward's packed entry.
struct BackwardWorker {
  std::vector<MemRefDescriptor> tensors, params, grads;
  std::vector<ScalarStorage> scalars;
  MemRefDescriptor status;
  int64_t phase = 0, begin = 0, end = 0;
  std::vector<void *> packed;

  BackwardWorker(const Kernel::Impl &k, std::vector<MemRefDescriptor> tensors,
                 std::vector<MemRefDescriptor> params,
                 std::vector<ScalarStorage> scalars,
                 std::vector<MemRefDescriptor> grads, int32_t *statusSlot)
      : tensors(std::move(tensors)), params(std::move(params)),
        grads(std::move(grads)), scalars(std::move(scalars)),
        status(TensorView::contiguous(statusSlot, DType::I32,
                                      {ATTNC_STATUS_WORDS})) {
    for (MemRefDescriptor &d : this->tensors)
      d.pack(packed);
    packParams(k, this->params, this->scalars, packed);
    for (MemRefDescriptor &d : this->grads)
      d.pack(packed);
    status.pack(packed);
    packed.push_back(&phase);
    packed.push_back(&begin);
    packed.push_back(&end);
  }
  BackwardWorker(const BackwardWorker &) = delete;
};

struct BackwardWork {
  void (*entry)(void **);
  std::vector<std::unique_ptr<BackwardWorker>> workers;
  int64_t phase = 0;
};

void runBackwardItems(void *context, int thread, int64_t begin, int64_t end) {
  BackwardWork &work = *static_cast<BackwardWork *>(context);
  BackwardWorker &args = *work.workers[thread];
  args.phase = work.phase;
  args.begin = begin;
  args.end = end;
  work.entry(args.packed.data());
}

bool isFloat(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

/// The shape of param `p`'s gradient: the tensor's ([1] for a scalar).
std::vector<int64_t> gradShape(const MemRefDescriptor *tensor) {
  return tensor
             ? std::vector<int64_t>(tensor->sizes, tensor->sizes + tensor->rank)
             : std::vector<int64_t>{1};
}

/// The GPU's backward writes the gradients in place: each must be
/// contiguous f32 device memory of its param's shape.
llvm::Error backwardOnGPU(const Kernel::Impl &k, const BackwardArgs &args,
                          const CallSizes &sizes,
                          const std::vector<MemRefDescriptor> &paramTensors,
                          const std::vector<ScalarStorage> &paramScalars) {
  std::vector<float *> grads(k.params.size(), nullptr);
  size_t tensorIndex = 0;
  for (auto [i, p] : llvm::enumerate(k.params)) {
    const MemRefDescriptor *tensor =
        p.isTensor ? &paramTensors[tensorIndex++] : nullptr;
    auto it = args.paramGrads.find(p.name);
    if (it == args.paramGrads.end())
      continue;
    std::string what = "the gradient of param '" + p.name + "'";
    if (!isFloat(p.dtype))
      return makeError("'" + p.name + "' is not a float param of '" + k.name +
                       "': it has no gradient");
    std::vector<int64_t> shape = gradShape(tensor);
    if (auto e = checkTensor(what.c_str(), it->second, DType::F32, shape.size(),
                             "(f32, the param's shape)", Device::CUDA))
      return e;
    if (it->second.shape != shape)
      return makeError(what + " must have shape " + shapeString(shape) +
                       "; got " + shapeString(it->second.shape));
    std::vector<int64_t> dense(shape.size());
    attnc_cpu_dense_strides(shape.data(), int(shape.size()), dense.data());
    if (it->second.strides != dense)
      return makeError(what + " must be contiguous on the GPU");
    grads[i] = static_cast<float *>(it->second.data);
  }
  for (const auto &entry : args.paramGrads) {
    const std::string &name = entry.first;
    if (llvm::none_of(k.params,
                      [&](const ParamInfo &p) { return p.name == name; }))
      return makeError("'" + name + "' is not a float param of '" + k.name +
                       "': it has no gradient");
  }
  return runBackwardOnGPU(k, args, sizes, paramTensors, paramScalars, grads);
}

} // namespace

llvm::Error Kernel::backward(const BackwardArgs &args) const {
  const Impl &k = *impl;
  if (!k.backwardEntry && k.cudaSpec.backwardName.empty())
    return makeError("'" + k.name +
                     "' was compiled without its backward; compile it with "
                     "CompileOptions::backward");
  if (k.ragged)
    return makeError("the backward takes a dense batch; '" + k.name +
                     "' was compiled for ragged batches");
  if (k.pagedKv)
    return makeError("the backward takes contiguous k and v; '" + k.name +
                     "' was compiled for a paged KV cache");
  if (args.deterministic && !args.paramGrads.empty())
    return makeError("a deterministic backward cannot return params' "
                     "gradients: they are summed in no fixed order (ask for "
                     "none, or leave BackwardArgs::deterministic off)");
  llvm::Expected<CallSizes> checked =
      checkInputs(k, args.q, args.k, args.v, args.out, /*paged=*/nullptr);
  if (!checked)
    return checked.takeError();
  const auto [B, H, Hkv, N, M, D, Dv, numPages, pageSize, ragged, totalQ,
              totalK] = *checked;
  (void)ragged, (void)totalQ, (void)totalK;
  const Device device = k.isGPU() ? Device::CUDA : Device::CPU;
  struct Same {
    const char *name;
    const TensorView &view;
    const TensorView &like;
    const char *layout;
  };
  for (const Same &t : {Same{"dout", args.dout, args.out, "[B, H, N, Dv]"},
                        Same{"dq", args.dq, args.q, "[B, H, N, D]"},
                        Same{"dk", args.dk, args.k, "[B, Hkv, M, D]"},
                        Same{"dv", args.dv, args.v, "[B, Hkv, M, Dv]"}}) {
    if (auto e = checkTensor(t.name, t.view, k.dtype, 4, t.layout, device))
      return e;
    if (t.view.shape != t.like.shape)
      return shapeMismatch(t.name, t.view, t.layout, t.like.shape);
  }
  if (k.hasLse && !args.lse)
    return makeError("the backward of '" + k.name +
                     "' needs the forward's lse (softmax recomputes its "
                     "weights from it)");
  if (!k.hasLse && args.lse)
    return makeError("'" + k.name +
                     "' defines no lse (its normalizer is not softmax); pass "
                     "no lse");
  if (args.lse) {
    if (auto e =
            checkTensor("lse", *args.lse, DType::F32, 3, "[B, H, N]", device))
      return e;
    if (args.lse->shape != std::vector<int64_t>{B, H, N})
      return shapeMismatch("lse", *args.lse, "[B, H, N]", {B, H, N});
  }
  std::vector<MemRefDescriptor> paramTensors;
  std::vector<ScalarStorage> paramScalars;
  if (auto e = checkParams(k, args.params, *checked, device, paramTensors,
                           paramScalars))
    return e;

  if (k.isGPU())
    return backwardOnGPU(k, args, *checked, paramTensors, paramScalars);

  // The float params' gradients: zeroed f32 scratch of each param's shape.
  std::vector<std::vector<float>> gradStorage;
  std::vector<MemRefDescriptor> grads;
  std::vector<const ParamInfo *> gradParams;
  size_t tensorIndex = 0;
  for (const ParamInfo &p : k.params) {
    const MemRefDescriptor *tensor =
        p.isTensor ? &paramTensors[tensorIndex++] : nullptr;
    if (!isFloat(p.dtype))
      continue;
    std::vector<int64_t> shape = gradShape(tensor);
    if (auto it = args.paramGrads.find(p.name); it != args.paramGrads.end()) {
      std::string what = "the gradient of param '" + p.name + "'";
      if (auto e =
              checkTensor(what.c_str(), it->second, DType::F32, shape.size(),
                          "(f32, the param's shape)", device))
        return e;
      if (it->second.shape != shape)
        return makeError(what + " must have shape " + shapeString(shape) +
                         "; got " + shapeString(it->second.shape));
    }
    gradStorage.emplace_back(
        attnc_cpu_elements(shape.data(), int(shape.size())), 0.0f);
    grads.emplace_back(
        TensorView::contiguous(gradStorage.back().data(), DType::F32, shape));
    gradParams.push_back(&p);
  }
  for (const auto &entry : args.paramGrads) {
    const std::string &name = entry.first;
    if (llvm::none_of(gradParams,
                      [&](const ParamInfo *p) { return p->name == name; }))
      return makeError("'" + name + "' is not a float param of '" + k.name +
                       "': it has no gradient");
  }

  KernelTensor q(args.q, true), kk(args.k, true), v(args.v, true),
      out(args.out, true), dout(args.dout, true), dq(args.dq, false),
      dk(args.dk, false), dv(args.dv, false);
  std::optional<KernelTensor> lse;
  if (args.lse)
    lse.emplace(*args.lse, true);
  if (!q.ok || !kk.ok || !v.ok || !out.ok || !dout.ok || !dq.ok || !dk.ok ||
      !dv.ok || (lse && !lse->ok))
    return makeError("out of memory for a dense copy of a strided tensor");
  // dO through output_mod and delta = rowsum(dO * O), from phase 0 to 1.
  std::vector<float> dopre(B * H * N * Dv), delta(B * H * N);
  std::vector<MemRefDescriptor> tensors;
  for (KernelTensor *t : {&q, &kk, &v, &out, &dout, &dq, &dk, &dv})
    tensors.emplace_back(t->view);
  if (lse)
    tensors.emplace_back(lse->view);
  tensors.emplace_back(
      TensorView::contiguous(dopre.data(), DType::F32, {B, H, N, Dv}));
  tensors.emplace_back(
      TensorView::contiguous(delta.data(), DType::F32, {B, H, N}));

  const int64_t rows = B * H * N, keys = B * Hkv * M;
  int threads = attnc_cpu_thread_count(args.threads, std::max(rows, keys));
  std::vector<int32_t> status(size_t(threads) * ATTNC_STATUS_WORDS, 0);
  BackwardWork work{k.backwardEntry, {}};
  for (int t = 0; t < threads; ++t)
    work.workers.push_back(std::make_unique<BackwardWorker>(
        k, tensors, paramTensors, paramScalars, grads,
        &status[size_t(t) * ATTNC_STATUS_WORDS]));
  work.phase = 0;
  attnc_cpu_run(0, rows, std::min<int64_t>(threads, rows), runBackwardItems,
                &work);
  work.phase = 1;
  attnc_cpu_run(0, keys, std::min<int64_t>(threads, keys), runBackwardItems,
                &work);
  if (llvm::Error e =
          statusError(k, args.params, status, "the gradients are not valid"))
    return e;
  dq.release(true);
  dk.release(true);
  dv.release(true);
  for (auto [i, p] : llvm::enumerate(gradParams)) {
    auto it = args.paramGrads.find(p->name);
    if (it == args.paramGrads.end())
      continue;
    std::vector<int64_t> dense(it->second.shape.size());
    attnc_cpu_dense_strides(it->second.shape.data(), int(dense.size()),
                            dense.data());
    attnc_cpu_copy_strided(it->second.data, it->second.strides.data(),
                           gradStorage[i].data(), dense.data(),
                           it->second.shape.data(), int(dense.size()),
                           sizeof(float));
  }
  return llvm::Error::success();
}
