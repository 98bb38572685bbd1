//===- Kernel.cpp - checking arguments and running a CPU kernel -----------===//
//
// Every argument is checked against the variant's signature before anything
// runs; tensors whose innermost stride is not 1 are copied to (and outputs
// back from) contiguous scratch; the (batch, head, query-tile) work items are
// handed to worker threads one at a time, which balances causal rows.
//
//===----------------------------------------------------------------------===//

#include "JIT/KernelImpl.h"
#include "Support/Error.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/StringExtras.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

using namespace attnc;

size_t attnc::getSizeInBytes(DType type) {
  switch (type) {
  case DType::Bool: return 1;
  case DType::F16:
  case DType::BF16: return 2;
  case DType::I32:
  case DType::F32: return 4;
  case DType::I64: return 8;
  }
  return 4;
}

std::string_view attnc::toString(DType type) {
  switch (type) {
  case DType::Bool: return "bool";
  case DType::I32: return "i32";
  case DType::I64: return "i64";
  case DType::F16: return "f16";
  case DType::BF16: return "bf16";
  case DType::F32: return "f32";
  }
  return "?";
}

TensorView TensorView::contiguous(void *data, DType dtype,
                                  std::vector<int64_t> shape, Device device) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;)
    strides[i - 1] = strides[i] * shape[i];
  return {data, dtype, std::move(shape), std::move(strides), device};
}

int64_t TensorView::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

const std::string &Kernel::getName() const { return impl->name; }
const std::vector<ParamInfo> &Kernel::getParams() const { return impl->params; }
bool Kernel::returnsLse() const { return impl->hasLse; }
DType Kernel::getDType() const { return impl->dtype; }
const std::string &Kernel::getTarget() const { return impl->target; }
const std::string &Kernel::getCudaSource() const { return impl->cudaSource; }
const std::string &Kernel::getCubin() const { return impl->cubin; }

namespace {

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Copies between two views of one shape, element by element.
void copyStrided(const TensorView &from, const TensorView &to) {
  size_t bytes = getSizeInBytes(from.dtype);
  size_t rank = from.shape.size();
  std::vector<int64_t> index(rank, 0);
  int64_t n = from.numElements();
  for (int64_t e = 0; e < n; ++e) {
    int64_t src = 0, dst = 0;
    for (size_t d = 0; d < rank; ++d) {
      src += index[d] * from.strides[d];
      dst += index[d] * to.strides[d];
    }
    std::memcpy(static_cast<char *>(to.data) + dst * bytes,
                static_cast<const char *>(from.data) + src * bytes, bytes);
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < from.shape[d])
        break;
      index[d] = 0;
    }
  }
}

/// A tensor the kernel can take: the caller's, or a contiguous copy when its
/// innermost stride is not 1 (the vector loads need unit stride).
struct KernelTensor {
  TensorView view;
  std::vector<char> scratch;
  const TensorView *original = nullptr;

  KernelTensor(const TensorView &given, bool needsUnitInnerStride, bool isInput)
      : view(given), original(&given) {
    if (!needsUnitInnerStride || given.strides.back() == 1 ||
        given.shape.back() == 1)
      return;
    scratch.resize(given.numElements() * getSizeInBytes(given.dtype));
    view = TensorView::contiguous(scratch.data(), given.dtype, given.shape);
    if (isInput)
      copyStrided(given, view);
  }
  void writeBack() const {
    if (!scratch.empty())
      copyStrided(view, *original);
  }
};

/// Checks the common shape of a tensor argument.
llvm::Error checkTensor(const char *what, const TensorView &t, DType dtype,
                        size_t rank, const char *layout, Device device) {
  if (!t.data)
    return makeError(llvm::Twine(what) + " has no data");
  if (t.device != device)
    return makeError(llvm::Twine(what) + " is in " +
                     (t.device == Device::CUDA ? "GPU" : "host") +
                     " memory; this kernel runs on the " +
                     (device == Device::CUDA ? "GPU" : "CPU"));
  if (t.shape.size() != rank)
    return makeError(llvm::Twine(what) + " must have rank " + llvm::Twine(rank) +
                     " " + layout + "; got rank " + llvm::Twine(t.shape.size()));
  if (t.strides.size() != rank)
    return makeError(llvm::Twine(what) + " has " + llvm::Twine(t.strides.size()) +
                     " strides for rank " + llvm::Twine(rank));
  if (t.dtype != dtype)
    return makeError(llvm::Twine(what) + " must be " + toString(dtype) +
                     "; got " + toString(t.dtype));
  for (int64_t d : t.shape)
    if (d < 1)
      return makeError(llvm::Twine(what) + " has an empty dimension: " +
                       shapeString(t.shape));
  return llvm::Error::success();
}

} // namespace

llvm::Error Kernel::run(const KernelArgs &args) const {
  const Impl &k = *impl;
  Device device = k.isGPU() ? Device::CUDA : Device::CPU;
  // q, k, v, out.
  if (auto e = checkTensor("q", args.q, k.dtype, 4, "[B, H, N, D]", device))
    return e;
  if (auto e = checkTensor("k", args.k, k.dtype, 4, "[B, Hkv, M, D]", device))
    return e;
  if (auto e = checkTensor("v", args.v, k.dtype, 4, "[B, Hkv, M, Dv]", device))
    return e;
  if (auto e = checkTensor("out", args.out, k.dtype, 4, "[B, H, N, Dv]", device))
    return e;
  int64_t B = args.q.shape[0], H = args.q.shape[1], N = args.q.shape[2],
          D = args.q.shape[3], Hkv = args.k.shape[1], M = args.k.shape[2],
          Dv = args.v.shape[3];
  auto mismatch = [&](const char *what, const TensorView &t, const char *layout,
                      std::vector<int64_t> expected) {
    return makeError(llvm::Twine(what) + " must have shape " + layout + " = " +
                     shapeString(expected) + "; got " + shapeString(t.shape));
  };
  if (args.k.shape != std::vector<int64_t>{B, Hkv, M, D})
    return mismatch("k", args.k, "[B, Hkv, M, D]", {B, Hkv, M, D});
  if (args.v.shape != std::vector<int64_t>{B, Hkv, M, Dv})
    return mismatch("v", args.v, "[B, Hkv, M, Dv]", {B, Hkv, M, Dv});
  if (H % Hkv != 0)
    return makeError("query heads H = " + llvm::Twine(H) +
                     " are not a multiple of key/value heads Hkv = " +
                     llvm::Twine(Hkv));
  if (args.out.shape != std::vector<int64_t>{B, H, N, Dv})
    return mismatch("out", args.out, "[B, H, N, Dv]", {B, H, N, Dv});
  if (k.headDim && (D != *k.headDim || Dv != *k.valueHeadDim))
    return makeError("this kernel was compiled for head dims D = " +
                     llvm::Twine(*k.headDim) + ", Dv = " +
                     llvm::Twine(*k.valueHeadDim) + "; got D = " +
                     llvm::Twine(D) + ", Dv = " + llvm::Twine(Dv));
  if (args.lse && !k.hasLse)
    return makeError("'" + k.name + "' does not define lse (its normalizer is "
                     "not softmax); pass no lse");
  std::vector<float> lseScratch;
  TensorView lseView;
  if (k.hasLse) {
    if (args.lse) {
      if (auto e = checkTensor("lse", *args.lse, DType::F32, 3, "[B, H, N]", device))
        return e;
      if (args.lse->shape != std::vector<int64_t>{B, H, N})
        return mismatch("lse", *args.lse, "[B, H, N]", {B, H, N});
      lseView = *args.lse;
    } else if (!k.isGPU()) {
      lseScratch.resize(B * H * N);
      lseView = TensorView::contiguous(lseScratch.data(), DType::F32, {B, H, N});
    }
  }

  // Params.
  std::map<std::string, int64_t> sizes = {{"B", B},  {"H", H}, {"Hkv", Hkv},
                                          {"N", N},  {"M", M}, {"D", D},
                                          {"Dv", Dv}};
  std::string declared;
  for (const ParamInfo &p : k.params)
    declared += (declared.empty() ? "" : ", ") + p.name;
  for (const auto &[name, value] : args.params)
    if (llvm::none_of(k.params, [&](const ParamInfo &p) { return p.name == name; }))
      return makeError("unknown param '" + name + "'; '" + k.name + "' takes " +
                       (declared.empty() ? std::string("none") : declared));
  std::vector<MemRefDescriptor> paramTensors;
  std::vector<ScalarStorage> paramScalars;
  paramTensors.reserve(k.params.size());
  paramScalars.reserve(k.params.size());
  for (const ParamInfo &p : k.params) {
    std::string type = std::string(toString(p.dtype));
    if (p.isTensor) {
      type += "[" + llvm::join(p.dims, ", ") + "]";
    }
    auto it = args.params.find(p.name);
    if (p.isTensor) {
      if (it == args.params.end())
        return makeError("missing param '" + p.name + "' (" + type + ")");
      if (!it->second.tensor)
        return makeError("param '" + p.name + "' is a tensor " + type +
                         "; got a scalar");
      const TensorView &t = *it->second.tensor;
      std::string what = "param '" + p.name + "'";
      if (auto e = checkTensor(what.c_str(), t, p.dtype, p.dims.size(),
                               ("(" + type + ")").c_str(), device))
        return e;
      for (size_t d = 0; d < p.dims.size(); ++d) {
        auto size = sizes.find(p.dims[d]);
        int64_t expected = size != sizes.end() ? size->second
                           : p.dims[d] == "?" ? t.shape[d]
                                              : std::stoll(p.dims[d]);
        if (t.shape[d] != expected)
          return makeError(what + " has shape " + shapeString(t.shape) +
                           "; its type " + type + " wants " +
                           llvm::Twine(expected).str() + " in dimension " +
                           std::to_string(d));
      }
      paramTensors.emplace_back(t);
    } else {
      if (it != args.params.end() && it->second.tensor)
        return makeError("param '" + p.name + "' is a scalar " + type +
                         "; got a tensor");
      if (it == args.params.end() && !p.defaultValue)
        return makeError("missing param '" + p.name + "' (" + type +
                         ", no default)");
      paramScalars.emplace_back(p.dtype, it != args.params.end()
                                             ? it->second.scalar
                                             : *p.defaultValue);
    }
  }

  if (k.isGPU())
    return runOnGPU(k, args, CallSizes{B, H, Hkv, N, M, D, Dv},
                    k.hasLse && args.lse ? &lseView : nullptr, paramTensors,
                    paramScalars);

  // Tensors the vector loads can take.
  KernelTensor q(args.q, true, true), kk(args.k, true, true),
      v(args.v, true, true), out(args.out, true, false);
  std::optional<KernelTensor> lse;
  if (k.hasLse)
    lse.emplace(lseView, true, false);
  MemRefDescriptor qd(q.view), kd(kk.view), vd(v.view), od(out.view);
  std::optional<MemRefDescriptor> ld;
  if (lse)
    ld.emplace(lse->view);

  int64_t numTiles = (N + k.tileQ - 1) / k.tileQ;
  int64_t work = B * H * numTiles;
  int threads = args.threads > 0 ? args.threads
                                 : std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<int>(std::min<int64_t>(threads, work));
  std::atomic<int64_t> next{0};
  std::vector<int32_t> status(threads, 0);

  auto worker = [&](int t) {
    // Each worker packs its own argument list: begin, end and status differ.
    std::vector<MemRefDescriptor> tensors = {qd, kd, vd, od};
    if (ld)
      tensors.push_back(*ld);
    std::vector<MemRefDescriptor> params = paramTensors;
    TensorView statusView = TensorView::contiguous(&status[t], DType::I32, {1});
    MemRefDescriptor statusDesc(statusView);
    int64_t begin = 0, end = 0;
    std::vector<void *> packed;
    for (MemRefDescriptor &d : tensors)
      d.pack(packed);
    size_t tensorParam = 0, scalarParam = 0;
    std::vector<ScalarStorage> scalars = paramScalars;
    for (const ParamInfo &p : k.params) {
      if (p.isTensor)
        params[tensorParam++].pack(packed);
      else
        packed.push_back(&scalars[scalarParam++]);
    }
    statusDesc.pack(packed);
    packed.push_back(&begin);
    packed.push_back(&end);
    while ((begin = next.fetch_add(1)) < work) {
      end = begin + 1;
      k.entry(packed.data());
    }
  };
  if (threads == 1) {
    worker(0);
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back(worker, t);
    for (std::thread &thread : pool)
      thread.join();
  }

  out.writeBack();
  if (lse)
    lse->writeBack();
  for (int32_t s : status)
    if (s != 0)
      return makeError("param '" + k.params[s - 1].name +
                       "' was read out of bounds (an index fell outside its "
                       "shape); the output is not valid");
  return llvm::Error::success();
}
