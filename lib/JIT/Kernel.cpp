//===- Kernel.cpp - checking arguments and running a CPU kernel -----------===//
//
// Every argument is checked against the variant's signature before anything
// runs; then the CPU runtime (runtime/cpu/attnc/cpu_run.h, which AOT callers
// use too) stages tensors whose innermost stride is not 1 through dense
// copies and hands the (batch, head, query-tile) work items to threads.
//
//===----------------------------------------------------------------------===//

#include "JIT/KernelImpl.h"
#include "Support/Error.h"
#include "attnc/cpu_run.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <limits>
#include <memory>
#include <tuple>

using namespace attnc;

size_t attnc::getSizeInBytes(DType type) {
  switch (type) {
  case DType::Bool:
    return 1;
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::I32:
  case DType::F32:
    return 4;
  case DType::I64:
    return 8;
  }
  return 4;
}

std::string_view attnc::toString(DType type) {
  switch (type) {
  case DType::Bool:
    return "bool";
  case DType::I32:
    return "i32";
  case DType::I64:
    return "i64";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::F32:
    return "f32";
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
const std::vector<ParamInfo> &Kernel::getParams() const {
  return impl->callerParams;
}
bool Kernel::returnsLse() const { return impl->hasLse; }
int64_t Kernel::getBranchCount() const { return impl->branches; }
DType Kernel::getDType() const { return impl->dtype; }
const std::string &Kernel::getTarget() const { return impl->target; }
const std::string &Kernel::getCudaSource() const { return impl->cudaSource; }
const std::string &Kernel::getCubin() const { return impl->cubin; }

std::string attnc::shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void attnc::packParams(const Kernel::Impl &k,
                       std::vector<MemRefDescriptor> &tensors,
                       std::vector<ScalarStorage> &scalars,
                       std::vector<void *> &packed) {
  size_t tensor = 0, scalar = 0;
  for (const ParamInfo &p : k.params) {
    if (p.isTensor)
      tensors[tensor++].pack(packed);
    else
      packed.push_back(&scalars[scalar++]);
  }
}

llvm::Error attnc::shapeMismatch(const llvm::Twine &what, const TensorView &t,
                                 const llvm::Twine &layout,
                                 const std::vector<int64_t> &expected) {
  return makeError(what + " must have shape " + layout + " = " +
                   shapeString(expected) + "; got " + shapeString(t.shape));
}

namespace {

/// One thread's argument list for the packed entry: its begin, end and
/// status differ from the others'. Not movable: `packed` points into it.
/// cpu_decode kernels take the key splits' parts and their number after
/// the tensors; paged kernels, then the page table and lengths.
struct WorkerArgs {
  std::vector<MemRefDescriptor> tensors, params;
  std::vector<ScalarStorage> scalars;
  std::optional<MemRefDescriptor> parts;
  int64_t splits;
  std::vector<MemRefDescriptor> paging; // page table, lengths; or offsets
  std::optional<int64_t> maxQueries;    // ragged: the longest sequence's
  MemRefDescriptor status;
  int64_t begin = 0, end = 0;
  std::vector<void *> packed;

  WorkerArgs(const Kernel::Impl &k, std::vector<MemRefDescriptor> tensors,
             std::vector<MemRefDescriptor> params,
             std::vector<ScalarStorage> scalars,
             std::optional<MemRefDescriptor> parts, int64_t splits,
             std::vector<MemRefDescriptor> paging, int32_t *statusSlot,
             std::optional<int64_t> maxQueries)
      : tensors(std::move(tensors)), params(std::move(params)),
        scalars(std::move(scalars)), parts(parts), splits(splits),
        paging(std::move(paging)), maxQueries(maxQueries),
        status(TensorView::contiguous(statusSlot, DType::I32,
                                      {ATTNC_STATUS_WORDS})) {
    for (MemRefDescriptor &d : this->tensors)
      d.pack(packed);
    if (this->parts) {
      this->parts->pack(packed);
      packed.push_back(&this->splits);
    }
    for (MemRefDescriptor &d : this->paging)
      d.pack(packed);
    if (this->maxQueries)
      packed.push_back(&*this->maxQueries);
    packParams(k, this->params, this->scalars, packed);
    status.pack(packed);
    packed.push_back(&begin);
    packed.push_back(&end);
  }
  WorkerArgs(const WorkerArgs &) = delete;
};

/// What runItems needs: the entry and each thread's argument list.
struct Work {
  void (*entry)(void **);
  std::vector<std::unique_ptr<WorkerArgs>> workers;
};

/// The attnc_cpu_body of the JIT: items [begin, end) on thread `thread`.
void runItems(void *context, int thread, int64_t begin, int64_t end) {
  Work &work = *static_cast<Work *>(context);
  WorkerArgs &args = *work.workers[thread];
  args.begin = begin;
  args.end = end;
  work.entry(args.packed.data());
}

} // namespace

/// Checks a ragged batch's offsets against the packed lengths of `packed`
/// (its N and M); the call's sizes as a ragged kernel sees them.
static llvm::Expected<CallSizes> checkRagged(const RaggedBatch &ragged,
                                             Device device, CallSizes packed) {
  for (auto [what, t] : {std::pair<const char *, const TensorView *>(
                             "cu_seqlens_q", &ragged.cuSeqlensQ),
                         {"cu_seqlens_k", &ragged.cuSeqlensK}}) {
    if (auto e = checkTensor(what, *t, DType::I32, 1, "[S + 1]", device))
      return std::move(e);
    if (t->shape[0] < 2)
      return makeError(llvm::Twine(what) +
                       " must hold S + 1 >= 2 offsets (a first 0 and the end "
                       "of each sequence); got " +
                       shapeString(t->shape));
  }
  if (ragged.cuSeqlensK.shape[0] != ragged.cuSeqlensQ.shape[0])
    return makeError(
        "cu_seqlens_k has " + llvm::Twine(ragged.cuSeqlensK.shape[0]) +
        " offsets and cu_seqlens_q " + llvm::Twine(ragged.cuSeqlensQ.shape[0]) +
        ": both take one per sequence and one more");
  CallSizes sizes = packed;
  sizes.ragged = true;
  sizes.totalQ = packed.N, sizes.totalK = packed.M;
  sizes.B = ragged.cuSeqlensQ.shape[0] - 1;
  for (auto [what, t, total, longest, axis] :
       {std::make_tuple("cu_seqlens_q", &ragged.cuSeqlensQ, packed.N, &sizes.N,
                        "total_q (q's dimension 2)"),
        std::make_tuple("cu_seqlens_k", &ragged.cuSeqlensK, packed.M, &sizes.M,
                        "total_k (k's dimension 2)")}) {
    const int32_t *cu = static_cast<const int32_t *>(t->data);
    int64_t stride = t->strides[0], at = 0;
    if (attnc_cpu_check_offsets(cu, stride, sizes.B, total, longest, &at)) {
      std::string here = std::string(what) + "[" + std::to_string(at) +
                         "] = " + std::to_string(cu[at * stride]);
      if (at == 0 && cu[0] != 0)
        return makeError(here + "; the offsets start at 0");
      if (at > 0 && cu[at * stride] < cu[(at - 1) * stride])
        return makeError(here + " is less than " + what + "[" +
                         std::to_string(at - 1) +
                         "] = " + std::to_string(cu[(at - 1) * stride]) +
                         ": offsets must not decrease");
      return makeError(here + "; the last offset must be the packed length " +
                       axis + " = " + std::to_string(total));
    }
  }
  return sizes;
}

/// Checks the common shape of a tensor argument.
llvm::Error attnc::checkTensor(const char *what, const TensorView &t,
                               DType dtype, size_t rank, const char *layout,
                               Device device) {
  if (!t.data)
    return makeError(llvm::Twine(what) + " has no data");
  if (t.device != device)
    return makeError(llvm::Twine(what) + " is in " +
                     (t.device == Device::CUDA ? "GPU" : "host") +
                     " memory; this kernel runs on the " +
                     (device == Device::CUDA ? "GPU" : "CPU"));
  if (t.shape.size() != rank)
    return makeError(llvm::Twine(what) + " must have rank " +
                     llvm::Twine(rank) + " " + layout + "; got rank " +
                     llvm::Twine(t.shape.size()));
  if (t.strides.size() != rank)
    return makeError(llvm::Twine(what) + " has " +
                     llvm::Twine(t.strides.size()) + " strides for rank " +
                     llvm::Twine(rank));
  if (t.dtype != dtype)
    return makeError(llvm::Twine(what) + " must be " + toString(dtype) +
                     "; got " + toString(t.dtype));
  for (int64_t d : t.shape)
    if (d < 1)
      return makeError(llvm::Twine(what) +
                       " has an empty dimension: " + shapeString(t.shape));
  return llvm::Error::success();
}

llvm::Expected<CallSizes>
attnc::checkInputs(const Kernel::Impl &k, const TensorView &q,
                   const TensorView &kk, const TensorView &v,
                   const TensorView &out, const PagedKV *paged,
                   const RaggedBatch *ragged) {
  Device device = k.isGPU() ? Device::CUDA : Device::CPU;
  if (k.ragged && !ragged)
    return makeError("'" + k.name +
                     "' was compiled for ragged batches "
                     "(CompileOptions::ragged): pass KernelArgs::ragged, the "
                     "offsets cu_seqlens_q and cu_seqlens_k");
  if (!k.ragged && ragged)
    return makeError("'" + k.name +
                     "' takes a dense batch; compile it with "
                     "CompileOptions::ragged for packed sequences");
  if (auto e =
          checkTensor("q", q, k.dtype, 4,
                      k.ragged ? "[1, H, total_q, D]" : "[B, H, N, D]", device))
    return e;
  if (k.ragged && q.shape[0] != 1)
    return makeError("q of a ragged batch packs its sequences as [1, H, "
                     "total_q, D]; got " +
                     shapeString(q.shape));
  const char *kLayout = k.pagedKv  ? "[num_pages, page_size, Hkv, D]"
                        : k.ragged ? "[1, Hkv, total_k, D]"
                                   : "[B, Hkv, M, D]";
  const char *vLayout = k.pagedKv  ? "[num_pages, page_size, Hkv, Dv]"
                        : k.ragged ? "[1, Hkv, total_k, Dv]"
                                   : "[B, Hkv, M, Dv]";
  const char *outLayout = k.ragged ? "[1, H, total_q, Dv]" : "[B, H, N, Dv]";
  if (auto e = checkTensor("k", kk, k.dtype, 4, kLayout, device))
    return e;
  if (auto e = checkTensor("v", v, k.dtype, 4, vLayout, device))
    return e;
  if (auto e = checkTensor("out", out, k.dtype, 4, outLayout, device))
    return e;
  int64_t B = q.shape[0], H = q.shape[1], N = q.shape[2], D = q.shape[3],
          Hkv = kk.shape[1], M = kk.shape[2], Dv = v.shape[3];
  int64_t numPages = 0, pageSize = 0;
  if (k.pagedKv) {
    if (!paged)
      return makeError("'" + k.name +
                       "' was compiled for a paged KV cache "
                       "(CompileOptions::pagedKv): pass KernelArgs::paged, "
                       "its page table and sequence lengths");
    if (auto e = checkTensor("the page table", paged->pageTable, DType::I32, 2,
                             "[B, max_pages]", device))
      return e;
    if (auto e = checkTensor("the sequence lengths", paged->seqLens, DType::I32,
                             1, "[B]", device))
      return e;
    numPages = kk.shape[0], pageSize = kk.shape[1];
    Hkv = kk.shape[2];
    M = paged->pageTable.shape[1] * pageSize;
    if (paged->pageTable.shape[0] != B)
      return shapeMismatch("the page table", paged->pageTable, "[B, max_pages]",
                           {B, paged->pageTable.shape[1]});
    if (paged->seqLens.shape[0] != B)
      return shapeMismatch("the sequence lengths", paged->seqLens, "[B]", {B});
    if (kk.shape != std::vector<int64_t>{numPages, pageSize, Hkv, D})
      return shapeMismatch("k", kk, kLayout, {numPages, pageSize, Hkv, D});
    if (v.shape != std::vector<int64_t>{numPages, pageSize, Hkv, Dv})
      return shapeMismatch("v", v, vLayout, {numPages, pageSize, Hkv, Dv});
    if (M > std::numeric_limits<int32_t>::max())
      return makeError("max_pages * page_size = " + llvm::Twine(M) +
                       " keys exceed the 32-bit lengths");
    if (!k.isGPU()) {
      // The GPU's table is in device memory: its kernels check each entry
      // as they read it.
      int64_t batch = 0, slot = 0;
      int rc = attnc_cpu_check_pages(
          static_cast<const int32_t *>(paged->pageTable.data),
          paged->pageTable.strides.data(), paged->pageTable.shape[1],
          static_cast<const int32_t *>(paged->seqLens.data),
          paged->seqLens.strides[0], B, numPages, pageSize, &batch, &slot);
      const int32_t *lens = static_cast<const int32_t *>(paged->seqLens.data);
      const int32_t *table =
          static_cast<const int32_t *>(paged->pageTable.data);
      if (rc == ATTNC_CPU_BAD_LENGTH)
        return makeError("sequence length " + llvm::Twine(batch) + " is " +
                         llvm::Twine(lens[batch * paged->seqLens.strides[0]]) +
                         "; it must be between 0 and max_pages * page_size = " +
                         llvm::Twine(M));
      if (rc == ATTNC_CPU_BAD_PAGE)
        return makeError(
            "page table entry [" + llvm::Twine(batch) + ", " +
            llvm::Twine(slot) + "] is " +
            llvm::Twine(table[batch * paged->pageTable.strides[0] +
                              slot * paged->pageTable.strides[1]]) +
            ", which names no page of k and v (0 to " +
            llvm::Twine(numPages - 1) + ")");
    }
  } else {
    if (paged)
      return makeError("'" + k.name +
                       "' takes contiguous k and v; compile it with "
                       "CompileOptions::pagedKv for a paged KV cache");
    if (kk.shape != std::vector<int64_t>{B, Hkv, M, D})
      return shapeMismatch("k", kk, kLayout, {B, Hkv, M, D});
    if (v.shape != std::vector<int64_t>{B, Hkv, M, Dv})
      return shapeMismatch("v", v, vLayout, {B, Hkv, M, Dv});
  }
  if (H % Hkv != 0)
    return makeError(
        "query heads H = " + llvm::Twine(H) +
        " are not a multiple of key/value heads Hkv = " + llvm::Twine(Hkv));
  if (out.shape != std::vector<int64_t>{B, H, N, Dv})
    return shapeMismatch("out", out, outLayout, {B, H, N, Dv});
  if (k.headDim && (D != *k.headDim || Dv != *k.valueHeadDim))
    return makeError(
        "this kernel was compiled for head dims D = " +
        llvm::Twine(*k.headDim) + ", Dv = " + llvm::Twine(*k.valueHeadDim) +
        "; got D = " + llvm::Twine(D) + ", Dv = " + llvm::Twine(Dv));
  if (D % k.branches != 0)
    return makeError("'" + k.name + "' has " + llvm::Twine(k.branches) +
                     " branches, which split q's and k's head dim D into "
                     "equal parts; got D = " +
                     llvm::Twine(D));
  if (k.ragged)
    return checkRagged(*ragged, device, CallSizes{B, H, Hkv, N, M, D, Dv});
  return CallSizes{B, H, Hkv, N, M, D, Dv, numPages, pageSize};
}

llvm::Error attnc::checkParams(const Kernel::Impl &k,
                               const std::map<std::string, ParamValue> &given,
                               const CallSizes &call, Device device,
                               std::vector<MemRefDescriptor> &paramTensors,
                               std::vector<ScalarStorage> &paramScalars) {
  const auto [B, H, Hkv, N, M, D, Dv, numPages, pageSize, ragged, totalQ,
              totalK] = call;
  (void)numPages, (void)pageSize, (void)ragged, (void)totalQ, (void)totalK;
  std::map<std::string, int64_t> sizes = {{"B", B},  {"H", H}, {"Hkv", Hkv},
                                          {"N", N},  {"M", M}, {"D", D},
                                          {"Dv", Dv}};
  std::string declared;
  for (const ParamInfo &p : k.callerParams)
    declared += (declared.empty() ? "" : ", ") + p.name;
  for (const auto &entry : given) {
    const std::string &name = entry.first;
    if (llvm::none_of(k.callerParams,
                      [&](const ParamInfo &p) { return p.name == name; }))
      return makeError("unknown param '" + name + "'; '" + k.name + "' takes " +
                       (declared.empty() ? std::string("none") : declared));
  }
  paramTensors.reserve(k.params.size());
  paramScalars.reserve(k.params.size());
  for (auto [i, p] : llvm::enumerate(k.params)) {
    if (k.isSizeParam[i]) {
      paramScalars.emplace_back(p.dtype, double(sizes.at(p.name)));
      continue;
    }
    std::string type = std::string(toString(p.dtype));
    if (p.isTensor) {
      type += "[" + llvm::join(p.dims, ", ") + "]";
    }
    auto it = given.find(p.name);
    if (p.isTensor) {
      if (it == given.end())
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
                           : p.dims[d] == "?"  ? t.shape[d]
                                               : std::stoll(p.dims[d]);
        if (t.shape[d] != expected)
          return makeError(what + " has shape " + shapeString(t.shape) +
                           "; its type " + type + " wants " +
                           llvm::Twine(expected).str() + " in dimension " +
                           std::to_string(d));
      }
      paramTensors.emplace_back(t);
    } else {
      if (it != given.end() && it->second.tensor)
        return makeError("param '" + p.name + "' is a scalar " + type +
                         "; got a tensor");
      if (it == given.end() && !p.defaultValue)
        return makeError("missing param '" + p.name + "' (" + type +
                         ", no default)");
      const double value =
          it != given.end() ? it->second.scalar : *p.defaultValue;
      // An integer or bool param takes an integer of its type's range: a
      // conversion of anything else (NaN, 1e300, 2.5) is undefined or
      // silently another value.
      if (p.dtype == DType::I32 || p.dtype == DType::I64 ||
          p.dtype == DType::Bool) {
        const double lo = p.dtype == DType::I32    ? -2147483648.0
                          : p.dtype == DType::Bool ? 0.0
                                                   : -9223372036854775808.0;
        const double hi = p.dtype == DType::I32    ? 2147483647.0
                          : p.dtype == DType::Bool ? 1.0
                                                   : 9223372036854775807.0;
        if (!(value >= lo && value < hi + 1) || std::trunc(value) != value)
          return makeError("param '" + p.name + "' is " + type +
                           ": it takes an integer from " +
                           llvm::formatv("{0:f0}", lo).str() + " to " +
                           llvm::formatv("{0:f0}", hi).str() + "; got " +
                           llvm::formatv("{0:e}", value).str());
      }
      // The GPU kernels keep i64 values in 32 bits (docs/language.md): a
      // value past i32 would silently be another there.
      if (p.dtype == DType::I64 && k.isGPU() &&
          !(value >= -2147483648.0 && value <= 2147483647.0))
        return makeError("param '" + p.name + "' is " + type + ", which " +
                         k.target +
                         " kernels keep in 32 bits: it takes an integer from "
                         "-2147483648 to 2147483647 on the GPU; got " +
                         llvm::formatv("{0:f0}", value).str());
      paramScalars.emplace_back(p.dtype, value);
    }
  }

  return llvm::Error::success();
}

llvm::Error Kernel::run(const KernelArgs &args) const {
  const Impl &k = *impl;
  Device device = k.isGPU() ? Device::CUDA : Device::CPU;
  llvm::Expected<CallSizes> checked = checkInputs(
      k, args.q, args.k, args.v, args.out, args.paged ? &*args.paged : nullptr,
      args.ragged ? &*args.ragged : nullptr);
  if (!checked)
    return checked.takeError();
  const auto [B, H, Hkv, N, M, D, Dv, numPages, pageSize, ragged, totalQ,
              totalK] = *checked;
  (void)numPages, (void)pageSize, (void)totalK;
  // lse is laid out as out: packed when ragged.
  const int64_t lseB = ragged ? 1 : B, lseN = ragged ? totalQ : N;
  if (args.lse && !k.hasLse)
    return makeError("'" + k.name +
                     "' does not define lse (its normalizer is "
                     "not softmax); pass no lse");
  std::vector<float> lseScratch;
  TensorView lseView;
  if (k.hasLse) {
    if (args.lse) {
      const char *layout = ragged ? "[1, H, total_q]" : "[B, H, N]";
      if (auto e = checkTensor("lse", *args.lse, DType::F32, 3, layout, device))
        return e;
      if (args.lse->shape != std::vector<int64_t>{lseB, H, lseN})
        return shapeMismatch("lse", *args.lse, layout, {lseB, H, lseN});
      lseView = *args.lse;
    } else if (!k.isGPU()) {
      lseScratch.resize(lseB * H * lseN);
      lseView = TensorView::contiguous(lseScratch.data(), DType::F32,
                                       {lseB, H, lseN});
    }
  }

  std::vector<MemRefDescriptor> paramTensors;
  std::vector<ScalarStorage> paramScalars;
  if (auto e = checkParams(k, args.params, *checked, device, paramTensors,
                           paramScalars))
    return e;

  if (k.isGPU())
    return runOnGPU(k, args, *checked,
                    k.hasLse && args.lse ? &lseView : nullptr, paramTensors,
                    paramScalars);

  // Tensors the vector loads can take.
  KernelTensor q(args.q, true), kk(args.k, true), v(args.v, true),
      out(args.out, false);
  std::optional<KernelTensor> lse;
  if (k.hasLse)
    lse.emplace(lseView, false);
  if (!q.ok || !kk.ok || !v.ok || !out.ok || (lse && !lse->ok))
    return makeError("out of memory for a dense copy of a strided tensor");
  std::vector<MemRefDescriptor> tensors = {
      MemRefDescriptor(q.view), MemRefDescriptor(kk.view),
      MemRefDescriptor(v.view), MemRefDescriptor(out.view)};
  if (lse)
    tensors.emplace_back(lse->view);

  // cpu_decode with fewer items than threads splits the keys: parts first,
  // then a round that merges them.
  const attnc_cpu_schedule &schedule = k.cpuSchedule;
  int64_t items = attnc_cpu_work_items(&schedule, B, H, Hkv, N);
  int64_t splits = attnc_cpu_splits(
      &schedule, items, M, attnc_cpu_thread_count(args.threads, INT64_MAX));
  int64_t partItems = items * splits;
  int threads = attnc_cpu_thread_count(args.threads, partItems);
  std::vector<float> partsStorage(
      attnc_cpu_part_rows(&schedule, items, splits) * (Dv + 2));
  std::optional<MemRefDescriptor> parts;
  if (schedule.packs_heads)
    parts.emplace(TensorView::contiguous(
        partsStorage.data(), DType::F32,
        {attnc_cpu_part_rows(&schedule, items, splits), Dv + 2}));
  std::vector<MemRefDescriptor> paging;
  if (args.paged) {
    paging.emplace_back(args.paged->pageTable);
    paging.emplace_back(args.paged->seqLens);
  }
  // Ragged: the offsets, then the longest sequence's queries.
  if (args.ragged) {
    paging.emplace_back(args.ragged->cuSeqlensQ);
    paging.emplace_back(args.ragged->cuSeqlensK);
  }
  std::vector<int32_t> status(size_t(threads) * ATTNC_STATUS_WORDS, 0);
  Work work{k.entry, {}};
  for (int t = 0; t < threads; ++t)
    work.workers.push_back(std::make_unique<WorkerArgs>(
        k, tensors, paramTensors, paramScalars, parts, splits, paging,
        &status[size_t(t) * ATTNC_STATUS_WORDS],
        ragged ? std::optional<int64_t>(N) : std::nullopt));
  attnc_cpu_run(0, partItems, threads, runItems, &work);
  if (splits > 1)
    attnc_cpu_run(partItems, partItems + items, threads, runItems, &work);

  out.release(true);
  if (lse)
    lse->release(true);
  return statusError(k, args.params, status, "the output is not valid");
}

llvm::Error attnc::statusError(const Kernel::Impl &k,
                               const std::map<std::string, ParamValue> &params,
                               llvm::ArrayRef<int32_t> words,
                               const char *consequence) {
  for (size_t t = 0; t + ATTNC_STATUS_WORDS <= words.size();
       t += ATTNC_STATUS_WORDS) {
    llvm::ArrayRef<int32_t> w = words.slice(t, ATTNC_STATUS_WORDS);
    if (w[0] <= 0 || size_t(w[0]) > k.params.size())
      continue;
    const std::string &name = k.params[w[0] - 1].name;
    auto given = params.find(name);
    std::vector<int64_t> shape;
    if (given != params.end() && given->second.tensor)
      shape = given->second.tensor->shape;
    // No read recorded (a GPU status word without its slot's words): the
    // param alone.
    if (w[1] == 0)
      return makeError("param '" + name +
                       "' was read out of bounds (an index fell outside its "
                       "shape " +
                       shapeString(shape) + "); " + consequence);
    std::vector<int64_t> index;
    for (size_t d = 0; d < shape.size() && d < ATTNC_STATUS_INDICES; ++d)
      index.push_back(int64_t(uint64_t(uint32_t(w[2 + 2 * d])) |
                              (uint64_t(uint32_t(w[3 + 2 * d])) << 32)));
    std::string at =
        index.size() == 1 ? std::to_string(index[0]) : shapeString(index);
    std::string where = size_t(w[1]) <= k.reads.size() ? k.reads[w[1] - 1] : "";
    return makeError("param '" + name + "' was read out of bounds at index " +
                     at + " (shape " + shapeString(shape) + ")" +
                     (where.empty() ? "" : " at " + where) + "; " +
                     consequence);
  }
  return llvm::Error::success();
}
