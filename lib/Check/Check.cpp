//===- Check.cpp - a kernel against the float64 reference -----------------===//

#include "Check/Check.h"
#include "Check/SavedTensors.h"
#include "Reference/ParamShapes.h"
#include "Support/Error.h"

#include "JIT/CudaDriver.h"

#include "Frontend/Frontend.h"
#include "Frontend/MLIRGen.h"
#include "Pipeline/Pipeline.h"
#include "dialect/AttnOps.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <tuple>

using namespace attnc;

Tolerance attnc::getTolerance(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return {2e-5, 2e-4};
  case DType::F16:
    return {2e-3, 1e-2};
  case DType::BF16:
    return {1e-2, 4e-2};
  default:
    return {0, 0};
  }
}

namespace {

/// Reads element `i` of a buffer of `dtype` as a double.
double load(const void *data, DType dtype, int64_t i) {
  switch (dtype) {
  case DType::F32:
    return static_cast<const float *>(data)[i];
  case DType::I32:
    return static_cast<const int32_t *>(data)[i];
  case DType::I64:
    return double(static_cast<const int64_t *>(data)[i]);
  case DType::Bool:
    return static_cast<const uint8_t *>(data)[i];
  case DType::BF16: {
    uint32_t bits = uint32_t(static_cast<const uint16_t *>(data)[i]) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  case DType::F16: {
    uint16_t bits = static_cast<const uint16_t *>(data)[i];
    llvm::APFloat v(dtype == DType::F16 ? llvm::APFloat::IEEEhalf()
                                        : llvm::APFloat::BFloat(),
                    llvm::APInt(16, bits));
    bool lost;
    v.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
              &lost);
    return v.convertToDouble();
  }
  }
  return 0;
}

/// Writes `value` rounded to `dtype` into element `i`.
void store(void *data, DType dtype, int64_t i, double value) {
  switch (dtype) {
  case DType::F32:
    static_cast<float *>(data)[i] = float(value);
    return;
  case DType::I32:
    static_cast<int32_t *>(data)[i] = int32_t(value);
    return;
  case DType::I64:
    static_cast<int64_t *>(data)[i] = int64_t(value);
    return;
  case DType::Bool:
    static_cast<uint8_t *>(data)[i] = value != 0;
    return;
  case DType::BF16: {
    // Round to nearest even on the f32 bits (f64 -> f32 first, as the
    // inputs are f32-exact draws; NaN stays a quiet NaN).
    float f = float(value);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    uint16_t out = std::isnan(f)
                       ? uint16_t(0x7fc0)
                       : uint16_t((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
    static_cast<uint16_t *>(data)[i] = out;
    return;
  }
  case DType::F16: {
    llvm::APFloat v(value);
    bool lost;
    v.convert(dtype == DType::F16 ? llvm::APFloat::IEEEhalf()
                                  : llvm::APFloat::BFloat(),
              llvm::APFloat::rmNearestTiesToEven, &lost);
    static_cast<uint16_t *>(data)[i] =
        uint16_t(v.bitcastToAPInt().getZExtValue());
    return;
  }
  }
}

/// A host tensor for the kernel: storage plus a view, possibly padded.
struct HostTensor {
  std::vector<char> storage;
  TensorView view;

  /// `gpuSlack`: 0 for the CPU, else the padding of a GPU tensor's rows.
  HostTensor(DType dtype, std::vector<int64_t> shape, bool strided,
             int64_t gpuSlack = 0) {
    size_t rank = shape.size();
    // Padded: each dimension gets 3 elements of slack and the innermost a
    // stride of 2, which the CPU runtime must copy rather than vector-load.
    // GPU kernels take a contiguous head dim: there the slack keeps rows as
    // aligned as the kernels require, and no more.
    std::vector<int64_t> strides(rank, 1);
    strides[rank - 1] = strided && !gpuSlack ? 2 : 1;
    int64_t slack = strided ? (gpuSlack ? gpuSlack : 3) : 0;
    for (size_t i = rank - 1; i-- > 0;)
      strides[i] = strides[i + 1] * shape[i + 1] + slack;
    int64_t extent = 1;
    for (size_t i = 0; i < rank; ++i)
      extent += (shape[i] - 1) * strides[i];
    storage.resize(extent * getSizeInBytes(dtype));
    view =
        TensorView{storage.data(), dtype, std::move(shape), std::move(strides)};
  }
  int64_t offsetOf(int64_t flat) const {
    int64_t offset = 0;
    for (size_t d = view.shape.size(); d-- > 0;) {
      offset += (flat % view.shape[d]) * view.strides[d];
      flat /= view.shape[d];
    }
    return offset;
  }
  /// Fills from `values` (row-major), rounding them to the dtype in place.
  void fill(std::vector<double> &values) {
    for (size_t i = 0; i < values.size(); ++i) {
      int64_t at = offsetOf(i);
      store(view.data, view.dtype, at, values[i]);
      values[i] = load(view.data, view.dtype, at);
    }
  }
  /// Uniform values in [-1, 1], made in this tensor's dtype directly.
  void fillRandom(uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> dist(-1, 1);
    for (int64_t i = 0, n = view.numElements(); i < n; ++i)
      store(view.data, view.dtype, offsetOf(i), dist(rng));
  }
  void poison() {
    double nan = std::numeric_limits<double>::quiet_NaN();
    for (int64_t i = 0, n = view.numElements(); i < n; ++i)
      store(view.data, view.dtype, offsetOf(i), nan);
  }
  double at(int64_t flat) const {
    return load(view.data, view.dtype, offsetOf(flat));
  }
};

/// A HostTensor's storage copied to the GPU; the view then points there.
struct DeviceCopy {
  cuda::DevicePtr ptr = 0;
  HostTensor *host = nullptr;
  TensorView view;

  static llvm::Expected<std::unique_ptr<DeviceCopy>> make(HostTensor &host) {
    auto copy = std::make_unique<DeviceCopy>();
    auto ptr = cuda::allocate(host.storage.size());
    if (!ptr)
      return ptr.takeError();
    copy->ptr = *ptr;
    copy->host = &host;
    copy->view = host.view;
    copy->view.data = reinterpret_cast<void *>(*ptr);
    copy->view.device = Device::CUDA;
    if (auto e =
            cuda::copyToDevice(*ptr, host.storage.data(), host.storage.size()))
      return e;
    return copy;
  }
  llvm::Error copyBack() {
    return cuda::copyToHost(host->storage.data(), ptr, host->storage.size());
  }
  llvm::Error copyIn() {
    return cuda::copyToDevice(ptr, host->storage.data(), host->storage.size());
  }
  ~DeviceCopy() { cuda::release(ptr); }
};

/// Where a check's tensors live for its kernel: the host tensors
/// themselves (CPU), or device copies of them (GPU), kept until the check
/// ends.
struct Placement {
  bool gpu = false;
  std::vector<std::unique_ptr<DeviceCopy>> copies;

  /// Points `view` at `t`, or at a device copy of it.
  llvm::Error place(HostTensor &t, TensorView &view) {
    if (!gpu) {
      view = t.view;
      return llvm::Error::success();
    }
    auto copy = DeviceCopy::make(t);
    if (!copy)
      return copy.takeError();
    copies.push_back(std::move(*copy));
    view = copies.back()->view;
    return llvm::Error::success();
  }
  /// The device copy place() made last (null on the CPU).
  DeviceCopy *last() { return gpu ? copies.back().get() : nullptr; }
};

DType toDType(mlir::Type type) {
  if (type.isF32())
    return DType::F32;
  if (type.isF16())
    return DType::F16;
  if (type.isBF16())
    return DType::BF16;
  if (type.isInteger(1))
    return DType::Bool;
  if (type.isInteger(32))
    return DType::I32;
  return DType::I64;
}

/// Compares one output array, noting the worst error and the first failure.
/// `noise` (optional): per element, the scale of the rounding noise of the
/// sum it is (RefGradients), of which `noiseFactor` more is allowed.
void compare(const char *what, const HostTensor &got, const RefArray &want,
             Tolerance tol, CheckResult &result,
             const RefArray *noise = nullptr, double noiseFactor = 0) {
  for (size_t i = 0; i < want.data.size(); ++i) {
    double g = got.at(i), w = want.data[i];
    bool bad;
    double error = 0;
    if (std::isnan(w))
      bad = !std::isnan(g); // a NaN score's row
    else if (std::isinf(w))
      bad = g != w;
    else {
      error = std::fabs(g - w);
      double allowed = tol.atol + tol.rtol * std::fabs(w) +
                       (noise ? noiseFactor * noise->data[i] : 0);
      bad = !(error <= allowed); // NaN is bad
      if (!std::isnan(error)) {
        result.maxAbsError = std::max(result.maxAbsError, error);
        result.maxRelError =
            std::max(result.maxRelError, error / std::max(std::fabs(w), 1e-3));
      }
    }
    if (!bad)
      continue;
    if (result.badElements++ == 0)
      result.firstBad = std::string(what) + "[" + std::to_string(i) +
                        "] = " + std::to_string(g) + ", reference " +
                        std::to_string(w) +
                        (std::isinf(g) && std::isfinite(w)
                             ? " (an f32 overflow: the kernel computes in "
                               "f32, whose range ends at 3.4e38, out as a "
                               "sum of weight * v; docs/language.md)"
                             : "");
    result.passed = false;
  }
}

/// Times `run` over `repeats` calls on the host; the median in seconds.
llvm::Expected<double> timeOnHost(int repeats,
                                  llvm::function_ref<llvm::Error()> run) {
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    auto start = std::chrono::steady_clock::now();
    if (llvm::Error e = run())
      return std::move(e);
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// The backward half of checkKernel: a random dL/dout, gradients poisoned,
/// the kernel's backward on the forward's own out and lse, then compared
/// with the reference's gradients of the fused variant.
llvm::Error checkBackward(const Kernel &kernel, mlir::ModuleOp module,
                          const RefInputs &in, const KernelArgs &forward,
                          const CheckOptions &options, CheckResult &result) {
  auto variant = *module.getBody()->getOps<mlir::attn::VariantOp>().begin();
  DType dtype = kernel.getDType();
  const TensorView &out = forward.out;
  Placement placement{kernel.getTarget() != "cpu", {}};
  const bool gpu = placement.gpu;
  // dout is read 16 bytes at a time on the GPU, the gradients stored in
  // 4-byte pairs (as the forward's q and out).
  const int64_t inSlack = gpu ? 8 : 0, outSlack = gpu ? 2 : 0;
  HostTensor dout(dtype, out.shape, options.strided, inSlack);
  std::vector<double> doutValues(dout.view.numElements());
  std::mt19937_64 rng(options.seed * 7 + 5);
  std::uniform_real_distribution<double> dist(-1, 1);
  for (double &x : doutValues)
    x = dist(rng);
  dout.fill(doutValues);
  HostTensor dq(dtype, forward.q.shape, options.strided, outSlack),
      dk(dtype, forward.k.shape, options.strided, outSlack),
      dv(dtype, forward.v.shape, options.strided, outSlack);
  for (HostTensor *t : {&dq, &dk, &dv})
    t->poison();
  BackwardArgs args;
  args.q = forward.q, args.k = forward.k, args.v = forward.v, args.out = out;
  if (llvm::Error e = placement.place(dout, args.dout))
    return e;
  std::vector<DeviceCopy *> results; // copied back after the backward
  for (auto [t, view] :
       {std::pair{&dq, &args.dq}, {&dk, &args.dk}, {&dv, &args.dv}}) {
    if (llvm::Error e = placement.place(*t, *view))
      return e;
    results.push_back(placement.last());
  }
  args.lse = forward.lse;
  args.params = forward.params;
  args.threads = options.threads;
  args.deterministic = options.deterministic;
  // Every float param's gradient, f32 of its shape, when checked (a bench
  // alone times dq, dk and dv, as for params that need no gradient).
  std::vector<std::unique_ptr<HostTensor>> grads(in.params.size());
  for (auto [i, arg] : llvm::enumerate(variant.getParams())) {
    if (!options.compare || options.deterministic ||
        !mlir::isa<mlir::FloatType>(mlir::getElementTypeOrSelf(arg.getType())))
      continue;
    std::vector<int64_t> shape = in.params[i].shape;
    if (shape.empty())
      shape = {1};
    grads[i] = std::make_unique<HostTensor>(DType::F32, shape, false);
    grads[i]->poison();
    TensorView view;
    if (llvm::Error e = placement.place(*grads[i], view))
      return e;
    results.push_back(placement.last());
    args.paramGrads.emplace(variant.getArgumentName(arg.getArgNumber()), view);
  }
  auto runBackward = [&]() -> llvm::Error {
    if (llvm::Error e = kernel.backward(args))
      return e;
    for (DeviceCopy *copy : results)
      if (copy)
        if (llvm::Error e = copy->copyBack())
          return e;
    return llvm::Error::success();
  };
  if (llvm::Error e = runBackward())
    return e;
  if (options.deterministic) {
    // A second call, from poison again, must give the same bits.
    std::vector<std::vector<char>> first;
    for (HostTensor *t : {&dq, &dk, &dv}) {
      first.push_back(t->storage);
      t->poison();
    }
    for (DeviceCopy *copy : results)
      if (copy)
        if (llvm::Error e = copy->copyIn())
          return e;
    if (llvm::Error e = runBackward())
      return e;
    const char *names[] = {"dq", "dk", "dv"};
    for (auto [i, t] : llvm::enumerate(std::array{&dq, &dk, &dv}))
      if (t->storage != first[i])
        return makeError(llvm::Twine("the deterministic backward gave "
                                     "another ") +
                         names[i] + " in a second call");
  }
  if (options.compare) {
    if (mlir::failed(
            mlir::attn::runPipeline(module, mlir::attn::buildFusePipeline)))
      return makeError("the check could not fuse the variant for the "
                       "reference's backward");
    RefArray upstream{out.shape, doutValues};
    llvm::Expected<RefGradients> ref =
        evaluateReferenceBackward(variant, in, upstream);
    if (!ref)
      return ref.takeError();
    Tolerance tol = getTolerance(dtype);
    // dq, dk and dv are sums over the pairs of a key or a query, whose
    // factors (p, dS) the kernels round to the 16-bit type for the MMAs, as
    // FlashAttention does: each term's rounding error is at most the unit
    // roundoff, and their sum grows as the root of the sum of the terms'
    // squares; four times that is far past a random walk's spread.
    const double roundoff = dtype == DType::BF16  ? 0x1p-8
                            : dtype == DType::F16 ? 0x1p-11
                                                  : 0;
    compare("dq", dq, ref->dq, tol, result, &ref->dqNoise, 4 * roundoff);
    compare("dk", dk, ref->dk, tol, result, &ref->dkNoise, 4 * roundoff);
    compare("dv", dv, ref->dv, tol, result, &ref->dvNoise, 4 * roundoff);
    for (auto [i, arg] : llvm::enumerate(variant.getParams()))
      if (grads[i]) {
        std::string what = "d" + variant.getArgumentName(arg.getArgNumber());
        RefArray want = ref->dparams[i];
        want.shape = grads[i]->view.shape;
        compare(what.c_str(), *grads[i], want, tol, result);
      }
  }
  if (options.repeats > 0) {
    args.synchronize = false;
    auto run = [&] { return kernel.backward(args); };
    llvm::Expected<double> median =
        gpu ? cuda::timeOnStream(args.stream, options.repeats, run)
            : timeOnHost(options.repeats, run);
    if (!median)
      return median.takeError();
    result.backwardMedianSeconds = *median;
  }
  return llvm::Error::success();
}
/// Where CheckOptions::pageSize puts each key: a shuffled page per
/// (sequence, slot) of the table, spare pages that no sequence uses, and
/// a random length per sequence.
struct PagedLayout {
  int64_t pageSize = 0, maxPages = 0, numPages = 0;
  std::vector<int64_t> table; // [B, maxPages], -1 past a sequence's pages
  std::vector<int64_t> lengths;

  static PagedLayout make(const AttnSizes &s, int64_t pageSize,
                          bool fullLengths, uint64_t seed) {
    PagedLayout l;
    l.pageSize = pageSize;
    l.maxPages = s.keys / pageSize;
    l.numPages = s.batch * l.maxPages + l.maxPages / 2 + 1;
    std::mt19937_64 rng(seed * 7 + 5);
    std::vector<int64_t> order(l.numPages);
    for (int64_t i = 0; i < l.numPages; ++i)
      order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    std::uniform_int_distribution<int64_t> length(1, s.keys);
    for (int64_t b = 0; b < s.batch; ++b)
      l.lengths.push_back(fullLengths || b == 0 ? s.keys : length(rng));
    l.table.assign(s.batch * l.maxPages, -1);
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t p = 0; p * pageSize < l.lengths[b]; ++p)
        l.table[b * l.maxPages + p] = order[b * l.maxPages + p];
    return l;
  }
  /// [num_pages, page_size, Hkv, D] for a logical [B, Hkv, M, D].
  std::vector<int64_t> pagesShape(const std::vector<int64_t> &logical) const {
    return {numPages, pageSize, logical[1], logical[3]};
  }
  /// Lays `logical` out in `pages` (NaN where no sequence's key is),
  /// rounding its values to the pages' dtype in place.
  void fill(HostTensor &pages, RefArray &logical) const {
    pages.poison();
    int64_t Hkv = logical.dim(1), M = logical.dim(2), D = logical.dim(3);
    const std::vector<int64_t> &st = pages.view.strides;
    for (int64_t b = 0; b < logical.dim(0); ++b)
      for (int64_t hk = 0; hk < Hkv; ++hk)
        for (int64_t j = 0; j < lengths[b]; ++j) {
          int64_t page = table[b * maxPages + j / pageSize];
          for (int64_t d = 0; d < D; ++d) {
            int64_t at =
                page * st[0] + (j % pageSize) * st[1] + hk * st[2] + d * st[3];
            double &value = logical.data[((b * Hkv + hk) * M + j) * D + d];
            store(pages.view.data, pages.view.dtype, at, value);
            value = load(pages.view.data, pages.view.dtype, at);
          }
        }
  }
};

/// A ragged batch's offsets, and how its sequences move between a dense
/// batch [S, heads, longest, dim] and the packed [1, heads, total, dim].
struct RaggedLayout {
  std::vector<int64_t> queries, keys; // per sequence
  std::vector<int64_t> cuQ, cuK;      // S + 1 offsets

  RaggedLayout(std::vector<int64_t> q, std::vector<int64_t> k)
      : queries(std::move(q)), keys(std::move(k)) {
    cuQ = {0}, cuK = {0};
    for (size_t s = 0; s < queries.size(); ++s) {
      cuQ.push_back(cuQ.back() + queries[s]);
      cuK.push_back(cuK.back() + keys[s]);
    }
  }
  /// The sequences' rows of `dense` packed along axis 2 (`cu` the offsets).
  static RefArray pack(const RefArray &dense, const std::vector<int64_t> &cu) {
    int64_t S = dense.dim(0), heads = dense.dim(1), longest = dense.dim(2);
    int64_t dim = dense.shape.size() > 3 ? dense.dim(3) : 1;
    RefArray packed;
    packed.shape = dense.shape;
    packed.shape[0] = 1, packed.shape[2] = cu.back();
    packed.data.assign(packed.numElements(), 0);
    for (int64_t s = 0; s < S; ++s)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < cu[s + 1] - cu[s]; ++i)
          for (int64_t d = 0; d < dim; ++d)
            packed.data[(h * cu.back() + cu[s] + i) * dim + d] =
                dense.data[((s * heads + h) * longest + i) * dim + d];
    return packed;
  }
  /// Sequence `s` of `dense`, its first `length` rows, as a batch of one.
  static RefArray slice(const RefArray &dense, int64_t s, int64_t length) {
    int64_t heads = dense.dim(1), longest = dense.dim(2), dim = dense.dim(3);
    RefArray one;
    one.shape = {1, heads, length, dim};
    if (dense.data.empty()) // a timing run's q, k and v have no values
      return one;
    one.data.reserve(one.numElements());
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < length; ++i)
        for (int64_t d = 0; d < dim; ++d)
          one.data.push_back(
              dense.data[((s * heads + h) * longest + i) * dim + d]);
    return one;
  }
  /// Writes sequence s's [1, heads, n, dim] result into `packed`.
  static void unpack(const RefArray &one, int64_t first, RefArray &packed) {
    int64_t heads = one.dim(1), n = one.dim(2);
    int64_t dim = one.shape.size() > 3 ? one.dim(3) : 1;
    int64_t total = packed.dim(2);
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t d = 0; d < dim; ++d)
          packed.data[(h * total + first + i) * dim + d] =
              one.data[(h * n + i) * dim + d];
  }

  /// Sequence `s` of `dense` as a batch of one: b = s, the call's N and M
  /// its lengths, a sequence without keys as one key not kept.
  RefInputs sequence(mlir::attn::VariantOp variant, const RefInputs &dense,
                     size_t s) const {
    RefInputs one;
    one.batchOffset = int64_t(s);
    int64_t keyRows = std::max<int64_t>(keys[s], 1);
    one.q = slice(dense.q, s, queries[s]);
    one.k = slice(dense.k, s, keyRows);
    one.v = slice(dense.v, s, keyRows);
    if (keys[s] == 0)
      one.keyLengths = {0};
    one.params = dense.params;
    for (auto [i, arg] : llvm::enumerate(variant.getParams())) {
      if (!variant.getArgAttr(arg.getArgNumber(), "attn.size"))
        continue;
      std::string name = variant.getArgumentName(arg.getArgNumber());
      if (name == "N")
        one.params[i].data = {double(queries[s])};
      else if (name == "M")
        one.params[i].data = {double(keys[s])};
    }
    return one;
  }

  /// The reference of every sequence, packed as the kernel writes them.
  llvm::Expected<RefOutputs> reference(mlir::attn::VariantOp variant,
                                       const RefInputs &dense, int64_t heads,
                                       int64_t valueDim, bool hasLse) const {
    RefOutputs packed;
    packed.out.shape = {1, heads, cuQ.back(), valueDim};
    packed.out.data.assign(packed.out.numElements(), 0);
    if (hasLse) {
      packed.lse.shape = {1, heads, cuQ.back()};
      packed.lse.data.assign(packed.lse.numElements(), 0);
    }
    for (size_t s = 0; s < queries.size(); ++s) {
      if (queries[s] == 0)
        continue;
      llvm::Expected<RefOutputs> ref =
          evaluateReference(variant, sequence(variant, dense, s));
      if (!ref)
        return ref.takeError();
      packed.keptPairs += ref->keptPairs;
      unpack(ref->out, cuQ[s], packed.out);
      if (hasLse)
        unpack(ref->lse, cuQ[s], packed.lse);
    }
    return packed;
  }

  /// The pairs every sequence's mask keeps.
  llvm::Expected<int64_t> countKept(mlir::attn::VariantOp variant,
                                    const RefInputs &dense) const {
    int64_t kept = 0;
    for (size_t s = 0; s < queries.size(); ++s) {
      if (queries[s] == 0 || keys[s] == 0)
        continue;
      llvm::Expected<int64_t> one =
          countKeptPairs(variant, sequence(variant, dense, s));
      if (!one)
        return one.takeError();
      kept += *one;
    }
    return kept;
  }
};

} // namespace

/// The params' shapes: `?` dims from --dim, else the loaded files, else
/// their reads (with the loaded scalars' values).
static llvm::Expected<ParamShapes>
sizeParamsForCheck(mlir::attn::VariantOp variant, const AttnSizes &s,
                   const CheckOptions &options,
                   const std::optional<Manifest> &manifest) {
  ParamSizing sizing;
  sizing.scalars = options.scalarParams;
  sizing.idRange = options.idRange;
  if (manifest) {
    sizing.dims = getSavedParamDims(*manifest, variant);
    for (mlir::BlockArgument arg : variant.getParams()) {
      std::string name = variant.getArgumentName(arg.getArgNumber());
      const Manifest::Entry *entry = manifest->find("param." + name);
      if (!entry || !entry->shape.empty() ||
          mlir::isa<mlir::RankedTensorType>(arg.getType()) ||
          sizing.scalars.count(name))
        continue;
      llvm::Expected<RefArray> value = loadTensor(*manifest, *entry);
      if (!value)
        return value.takeError();
      sizing.scalars[name] = value->data[0];
    }
  }
  for (const auto &[name, dims] : options.paramDims)
    sizing.dims[name] = dims;
  return sizeParams(variant, s, sizing);
}

/// A note per param with `?` dims: its shape and where they came from.
static void noteParamShapes(mlir::attn::VariantOp variant,
                            const ParamShapes &shapes,
                            const CheckOptions &options,
                            const std::optional<Manifest> &manifest,
                            std::vector<std::string> &notes) {
  for (auto [i, arg] : llvm::enumerate(variant.getParams())) {
    auto names = variant.getArgAttrOfType<mlir::ArrayAttr>(arg.getArgNumber(),
                                                           "attn.shape");
    if (!names || llvm::none_of(names, [](mlir::Attribute n) {
          return mlir::cast<mlir::StringAttr>(n).getValue() == "?";
        }))
      continue;
    std::string name = variant.getArgumentName(arg.getArgNumber());
    const char *from = options.paramDims.count(name) ? "--dim"
                       : manifest && manifest->find("param." + name)
                           ? "the loaded file"
                           : "the largest index its reads take";
    notes.push_back("param " + name + ": shape " + formatShape(shapes[i]) +
                    " (`?` dims: " + from + ")");
  }
}

llvm::Expected<CheckResult> attnc::checkKernel(const Kernel &kernel,
                                               std::string_view source,
                                               std::string_view variantName,
                                               const CheckOptions &options) {
  // The reference runs the unfused cascade, so the check covers attn-fuse too.
  SourceFile file(options.sourceName, std::string(source));
  DiagnosticEngine diags;
  auto specs = parseAndCheck(file, diags);
  if (!specs)
    return makeError(diags.render());
  const sema::VariantSpec *spec = nullptr;
  for (const sema::VariantSpec &s : *specs)
    if (s.name == variantName || (variantName.empty() && specs->size() == 1))
      spec = &s;
  if (!spec)
    return makeError("no variant '" + std::string(variantName) + "' to check");
  mlir::MLIRContext ctx;
  std::string errors;
  mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &d) {
    errors += d.str() + "\n";
    return mlir::success();
  });
  mlir::OwningOpRef<mlir::ModuleOp> module =
      buildModule(ctx, {*spec}, EmitOptions{});
  if (!module)
    return makeError(errors);
  auto variant = *module->getBody()->getOps<mlir::attn::VariantOp>().begin();

  // A ragged batch is drawn as a dense one of its longest lengths.
  const bool ragged = !options.raggedQueries.empty();
  std::optional<RaggedLayout> raggedLayout;
  AttnSizes s = options.sizes;
  if (ragged) {
    if (options.raggedKeys.size() != options.raggedQueries.size())
      return makeError("a ragged batch takes a key count for each of its " +
                       std::to_string(options.raggedQueries.size()) +
                       " sequences; got " +
                       std::to_string(options.raggedKeys.size()));
    if (options.pageSize > 0 || options.backward)
      return makeError("ragged batches take neither a paged KV cache nor "
                       "the backward yet");
    raggedLayout.emplace(options.raggedQueries, options.raggedKeys);
    s.batch = int64_t(options.raggedQueries.size());
    s.queries = s.keys = 1;
    for (size_t i = 0; i < options.raggedQueries.size(); ++i) {
      if (options.raggedQueries[i] < 0 || options.raggedKeys[i] < 0)
        return makeError("sequence lengths cannot be negative");
      s.queries = std::max(s.queries, options.raggedQueries[i]);
      s.keys = std::max(s.keys, options.raggedKeys[i]);
    }
    if (raggedLayout->cuQ.back() < 1 || raggedLayout->cuK.back() < 1)
      return makeError("a ragged batch needs at least one query and one key "
                       "in all (q and k have no empty dimension)");
    if (raggedLayout->cuQ.back() > std::numeric_limits<int32_t>::max() ||
        raggedLayout->cuK.back() > std::numeric_limits<int32_t>::max())
      return makeError("a ragged batch's offsets are 32-bit: at most 2^31 - "
                       "1 tokens in all");
  }
  std::optional<Manifest> manifest;
  if (!options.loadDir.empty()) {
    if (ragged)
      return makeError("--load takes a dense batch; not with --ragged");
    llvm::Expected<Manifest> read = readManifest(options.loadDir);
    if (!read)
      return read.takeError();
    manifest = std::move(*read);
  }
  llvm::Expected<ParamShapes> shapes =
      sizeParamsForCheck(variant, s, options, manifest);
  if (!shapes)
    return shapes.takeError();
  CheckResult result;
  noteParamShapes(variant, *shapes, options, manifest, result.notes);
  // The reference holds its inputs in doubles: refuse what would not fit
  // rather than fail to allocate. A run that neither compares, saves nor
  // loads makes q, k and v in their own dtype.
  const bool qkvAsDoubles =
      options.compare || !options.saveDir.empty() || manifest.has_value();
  const int64_t maxElements = int64_t(1) << 30;
  int64_t elements = countRandomInputs(s, *shapes, qkvAsDoubles);
  // The reference's own tensors, when it runs: the [B, H, N, M] scores and
  // weights (about four copies) and the outputs (about three), in doubles.
  // Products saturate: a huge shape is refused, never wrapped.
  auto product = [](std::initializer_list<int64_t> factors) {
    int64_t p = 1;
    for (int64_t f : factors)
      if (__builtin_mul_overflow(p, f, &p))
        return std::numeric_limits<int64_t>::max();
    return p;
  };
  auto sum = [](int64_t a, int64_t b) {
    int64_t r;
    return __builtin_add_overflow(a, b, &r)
               ? std::numeric_limits<int64_t>::max()
               : r;
  };
  if (qkvAsDoubles) {
    elements = sum(elements, product({4, s.batch, s.heads, s.queries, s.keys}));
    elements =
        sum(elements, product({3, s.batch, s.heads, s.queries, s.valueDim}));
  }
  auto gib = [](int64_t doubles) {
    return llvm::formatv("{0:f1} GiB", double(doubles) / (1 << 27)).str();
  };
  if (elements > maxElements) {
    // Suggest the longer of N and M cut by the excess (keys, in decode).
    int64_t factor = (elements + maxElements - 1) / maxElements;
    bool keys = s.keys >= s.queries;
    std::string hint = std::string(keys ? "M=" : "N=") +
                       std::to_string(std::max<int64_t>(
                           1, (keys ? s.keys : s.queries) / (factor + 1)));
    return makeError(
        "the check's reference would take " + gib(elements) +
        " as doubles (q, k, v, params, scores and outputs); the reference "
        "takes up to " +
        gib(maxElements) + ": use smaller sizes (e.g. " + hint +
        "), or time it with --bench alone, which needs no reference");
  }
  RefInputs in = makeRandomInputs(variant, s, options.seed, *shapes,
                                  options.idRange, qkvAsDoubles);
  if (llvm::Error e = setScalarParams(variant, options.scalarParams, in))
    return e;
  if (manifest)
    if (llvm::Error e = loadSavedInputs(*manifest, variant,
                                        options.scalarParams, in, result.notes))
      return e;
  DType dtype = kernel.getDType();
  bool gpu = kernel.getTarget() != "cpu";
  const bool paged = options.pageSize > 0;
  if (paged && s.keys % options.pageSize != 0)
    return makeError("a paged KV cache holds M = max_pages * page_size keys: "
                     "M = " +
                     std::to_string(s.keys) + " is not a multiple of " +
                     std::to_string(options.pageSize));
  PagedLayout layout;
  if (paged)
    layout = PagedLayout::make(s, options.pageSize, options.fullLengths,
                               options.seed);
  // q, k and v rows are read 16 bytes at a time (8 elements); out rows need
  // only 4-byte alignment, so that their slower store path is checked too.
  int64_t inSlack = gpu ? 8 : 0, outSlack = gpu ? 2 : 0;
  auto kvShape = [&](const RefArray &logical) {
    return paged ? layout.pagesShape(logical.shape) : logical.shape;
  };
  // Ragged: q, k, v, out and lse pack the sequences along axis 2.
  const int64_t packedB = ragged ? 1 : s.batch;
  const int64_t packedN = ragged ? raggedLayout->cuQ.back() : s.queries;
  const int64_t packedM = ragged ? raggedLayout->cuK.back() : s.keys;
  // The kernel's own q, k, v and out (dout and the gradients too with the
  // backward) in their dtype, with or without the reference: refused past
  // the same 8 GiB rather than killed for memory.
  const int64_t tensorBytes =
      product({int64_t(getSizeInBytes(dtype)), options.backward ? 2 : 1,
               sum(product({packedB, s.heads, packedN, s.headDim + s.valueDim}),
                   product({ragged ? 1 : s.batch, s.kvHeads, packedM,
                            s.headDim + s.valueDim}))});
  if (tensorBytes > maxElements * 8)
    return makeError("q, k, v and out would take " + gib(tensorBytes / 8) +
                     " in " + std::string(toString(dtype)) +
                     "; a run takes up to " + gib(maxElements) +
                     " of them: use smaller sizes");
  HostTensor q(dtype, {packedB, s.heads, packedN, s.headDim}, options.strided,
               inSlack),
      k(dtype,
        ragged ? std::vector<int64_t>{1, s.kvHeads, packedM, s.headDim}
               : kvShape(in.k),
        options.strided, inSlack),
      v(dtype,
        ragged ? std::vector<int64_t>{1, s.kvHeads, packedM, s.valueDim}
               : kvShape(in.v),
        options.strided, inSlack),
      out(dtype, {packedB, s.heads, packedN, s.valueDim}, options.strided,
          outSlack);
  if (qkvAsDoubles && ragged) {
    // Rounded to the dtype in the dense arrays the reference reads, then
    // packed.
    for (RefArray *dense : {&in.q, &in.k, &in.v}) {
      HostTensor rounding(dtype, dense->shape, false);
      rounding.fill(dense->data);
    }
    RefArray pq = RaggedLayout::pack(in.q, raggedLayout->cuQ),
             pk = RaggedLayout::pack(in.k, raggedLayout->cuK),
             pv = RaggedLayout::pack(in.v, raggedLayout->cuK);
    q.fill(pq.data);
    k.fill(pk.data);
    v.fill(pv.data);
  } else if (qkvAsDoubles) {
    q.fill(in.q.data);
    if (paged) {
      layout.fill(k, in.k);
      layout.fill(v, in.v);
    } else {
      k.fill(in.k.data);
      v.fill(in.v.data);
    }
  } else {
    q.fillRandom(options.seed * 3 + 1);
    k.fillRandom(options.seed * 3 + 2);
    v.fillRandom(options.seed * 3 + 3);
  }
  out.poison();
  std::optional<HostTensor> lse;
  if (kernel.returnsLse()) {
    lse.emplace(DType::F32, std::vector<int64_t>{packedB, s.heads, packedN},
                options.strided, inSlack);
    lse->poison();
  }
  // GPU kernels read and write device copies of the same storage.
  Placement placement{gpu, {}};
  KernelArgs args;
  args.threads = options.threads;
  TensorView lseView;
  for (auto [t, view] : {std::pair{&q, &args.q},
                         {&k, &args.k},
                         {&v, &args.v},
                         {&out, &args.out}})
    if (auto e = placement.place(*t, *view))
      return e;
  DeviceCopy *outCopy = placement.last(), *lseCopy = nullptr;
  std::optional<HostTensor> table, lengths;
  if (paged) {
    in.keyLengths = layout.lengths;
    table.emplace(DType::I32, std::vector<int64_t>{s.batch, layout.maxPages},
                  false);
    lengths.emplace(DType::I32, std::vector<int64_t>{s.batch}, false);
    for (size_t i = 0; i < layout.table.size(); ++i)
      store(table->view.data, DType::I32, i, layout.table[i]);
    for (size_t b = 0; b < layout.lengths.size(); ++b)
      store(lengths->view.data, DType::I32, b, double(layout.lengths[b]));
    PagedKV pagedArgs;
    if (auto e = placement.place(*table, pagedArgs.pageTable))
      return e;
    if (auto e = placement.place(*lengths, pagedArgs.seqLens))
      return e;
    args.paged = pagedArgs;
  }
  std::optional<HostTensor> cuQ, cuK;
  if (ragged) {
    RaggedBatch offsets;
    for (auto [cu, values, view] :
         {std::make_tuple(&cuQ, &raggedLayout->cuQ, &offsets.cuSeqlensQ),
          std::make_tuple(&cuK, &raggedLayout->cuK, &offsets.cuSeqlensK)}) {
      cu->emplace(DType::I32, std::vector<int64_t>{int64_t(values->size())},
                  false);
      for (size_t i = 0; i < values->size(); ++i)
        store((*cu)->view.data, DType::I32, i, double((*values)[i]));
      if (auto e = placement.place(**cu, *view))
        return e;
    }
    args.ragged = offsets;
  }
  if (lse) {
    if (auto e = placement.place(*lse, lseView))
      return e;
    args.lse = &lseView;
    lseCopy = placement.last();
  }
  std::vector<HostTensor> params;
  params.reserve(in.params.size());
  for (auto [i, arg] : llvm::enumerate(variant.getParams())) {
    std::string name = variant.getArgumentName(arg.getArgNumber());
    RefArray &value = in.params[i];
    if (value.shape.empty()) {
      // A call size is the kernel's to set.
      if (!variant.getArgAttr(arg.getArgNumber(), "attn.size"))
        args.params.emplace(name, ParamValue(value.data[0]));
      continue;
    }
    auto tensor = mlir::cast<mlir::RankedTensorType>(arg.getType());
    params.emplace_back(toDType(tensor.getElementType()), value.shape, false);
    params.back().fill(value.data);
    TensorView view;
    if (auto e = placement.place(params.back(), view))
      return e;
    args.params.emplace(name, ParamValue(view));
  }

  if (llvm::Error e = kernel.run(args))
    return e;
  if (outCopy)
    if (auto e = outCopy->copyBack())
      return e;
  if (lseCopy)
    if (auto e = lseCopy->copyBack())
      return e;
  if (!options.saveDir.empty()) {
    auto values = [](const HostTensor &t) {
      RefArray a{t.view.shape, std::vector<double>(t.view.numElements())};
      for (size_t i = 0; i < a.data.size(); ++i)
        a.data[i] = t.at(i);
      return a;
    };
    std::vector<std::pair<std::string, RefArray>> saved = {
        {"q", ragged ? values(q) : in.q},
        {"k", ragged ? values(k) : in.k},
        {"v", ragged ? values(v) : in.v},
        {"out", values(out)}};
    if (ragged) {
      auto offsets = [](const std::vector<int64_t> &cu) {
        return RefArray{{int64_t(cu.size())},
                        std::vector<double>(cu.begin(), cu.end())};
      };
      saved.push_back({"cu_seqlens_q", offsets(raggedLayout->cuQ)});
      saved.push_back({"cu_seqlens_k", offsets(raggedLayout->cuK)});
    }
    if (lse)
      saved.push_back({"lse", values(*lse)});
    for (auto [i, arg] : llvm::enumerate(variant.getParams()))
      saved.push_back({"param." + variant.getArgumentName(arg.getArgNumber()),
                       in.params[i]});
    if (llvm::Error e = saveTensors(options.saveDir, saved))
      return e;
  }
  if (options.compare) {
    llvm::Expected<RefOutputs> ref =
        ragged ? raggedLayout->reference(variant, in, s.heads, s.valueDim,
                                         bool(lse))
               : evaluateReference(variant, in);
    if (!ref)
      return ref.takeError();
    result.keptPairs = ref->keptPairs;
    Tolerance tol = getTolerance(dtype);
    compare("out", out, ref->out, tol, result);
    if (lse)
      compare("lse", *lse, ref->lse, tol, result);
  }
  if (!options.compare && options.countPairs) {
    llvm::Expected<int64_t> kept = ragged ? raggedLayout->countKept(variant, in)
                                          : countKeptPairs(variant, in);
    if (!kept)
      return kept.takeError();
    result.keptPairs = *kept;
  }
  if (options.repeats > 0 && gpu) {
    args.synchronize = false;
    auto median = cuda::timeOnStream(args.stream, options.repeats,
                                     [&] { return kernel.run(args); });
    if (!median)
      return median.takeError();
    result.medianSeconds = *median;
  } else if (options.repeats > 0) {
    llvm::Expected<double> median =
        timeOnHost(options.repeats, [&] { return kernel.run(args); });
    if (!median)
      return median.takeError();
    result.medianSeconds = *median;
  }
  if (options.backward) {
    if (llvm::Error e =
            checkBackward(kernel, *module, in, args, options, result))
      return e;
  }
  return result;
}
