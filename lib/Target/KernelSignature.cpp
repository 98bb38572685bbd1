//===- KernelSignature.cpp - what a C caller needs to know of a kernel ----===//

#include "Target/KernelSignature.h"
#include "Support/Error.h"

#include "Conversion/Passes.h"
#include "dialect/AttnOps.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

using namespace attnc;

static std::string cTypeOf(mlir::Type type) {
  if (type.isF32())
    return "float";
  if (type.isF16() || type.isBF16())
    return "uint16_t";
  if (type.isInteger(1))
    return "bool";
  if (type.isInteger(32))
    return "int32_t";
  return "int64_t";
}

llvm::Expected<KernelSignature>
attnc::readKernelSignature(mlir::ModuleOp module) {
  auto variants = module.getOps<mlir::attn::VariantOp>();
  if (std::distance(variants.begin(), variants.end()) != 1)
    return makeError("expected one variant to compile; name it with --variant");
  mlir::attn::VariantOp variant = *variants.begin();
  auto flashes = variant.getBody().getOps<mlir::attn::FlashOp>();
  if (flashes.empty())
    return makeError("variant '" + variant.getSymName() + "' is not fused");
  mlir::attn::FlashOp flash = *flashes.begin();
  KernelSignature sig;
  sig.name = variant.getSymName().str();
  sig.elemCType = cTypeOf(flash.getQuery().getType().getElementType());
  sig.hasLse = flash.returnsLse();
  if (mlir::attn::ScheduleAttr schedule = flash.getScheduleAttr()) {
    sig.tileQ = schedule.getTileQ();
    sig.tileKv = schedule.getTileKv();
    sig.packsHeads =
        schedule.getFamily() == mlir::attn::KernelFamily::CpuDecode;
    sig.maxSplits = sig.packsHeads ? schedule.getSplits() : 1;
    sig.pagedKv = schedule.getPagedKv() != 0;
    sig.ragged = schedule.getRagged() != 0;
  }
  sig.headDim = flash.getQuery().getType().getDimSize(3);
  sig.valueHeadDim = flash.getValue().getType().getDimSize(3);
  for (mlir::BlockArgument param : variant.getParams()) {
    KernelSignature::Param p;
    p.name = variant.getArgumentName(param.getArgNumber());
    auto tensor = llvm::dyn_cast<mlir::RankedTensorType>(param.getType());
    p.cType = cTypeOf(tensor ? tensor.getElementType() : param.getType());
    p.rank = tensor ? tensor.getRank() : 0;
    p.isFloat = llvm::isa<mlir::FloatType>(tensor ? tensor.getElementType()
                                                  : param.getType());
    sig.params.push_back(p);
  }
  return sig;
}

namespace attnc {
/// The text of runtime/attnc/memref.h, embedded at build time.
std::string_view getMemRefHeader();
/// The text of runtime/cpu/attnc/cpu_run.h (memref.h pasted in), embedded
/// at build time.
std::string_view getCpuRunHeader();
} // namespace attnc

/// The kernel's parameters after q, k, v, out (and lse) in a C prototype:
/// `, TYPE NAME` each.
static void printParamDecls(llvm::raw_ostream &os, const KernelSignature &sig) {
  for (const KernelSignature::Param &p : sig.params) {
    if (p.rank)
      os << ", attnc_memref" << p.rank << " *" << p.name << " /* " << p.cType
         << " */";
    else
      os << ", " << p.cType << " " << p.name;
  }
}

/// `<variant>_run`: the whole call over the CPU runtime (cpu_run.h), so that
/// C callers need not stage views or write the work loop.
static void printRunFunction(llvm::raw_ostream &os, const KernelSignature &sig,
                             llvm::StringRef entry) {
  std::string args = sig.name + "_run_args";
  os << "/* Runs the kernel over all its work items on `threads` threads (0: "
        "one\n"
     << "   per CPU; link with -pthread). q, k, v, out"
     << (sig.hasLse ? " and lse" : "") << " may have any strides:\n"
     << "   views without a unit innermost stride go through dense copies."
     << (sig.hasLse ? " lse\n   may be null." : "") << " Returns 0; 1 + the "
     << "position of a param that was read\n   out of bounds (out is then not "
     << "valid); ATTNC_CPU_INVALID for views\n   whose sizes disagree";
  if (sig.headDim > 0)
    os << " or whose head dims are not D = " << sig.headDim
       << ", Dv = " << sig.valueHeadDim;
  if (sig.pagedKv)
    os << "; ATTNC_CPU_BAD_LENGTH for a\n   length outside [0, max_pages * "
       << "page_size], ATTNC_CPU_BAD_PAGE for an entry a\n   sequence uses "
       << "that names no page";
  if (sig.ragged)
    os << "; ATTNC_CPU_BAD_OFFSETS for offsets\n   that do not run 0, ..., "
       << "total without decreasing";
  os << "; ATTNC_CPU_NO_MEMORY when a\n   dense copy cannot be allocated. */\n"
     << "typedef struct {\n  attnc_cpu_call call;\n";
  for (const KernelSignature::Param &p : sig.params) {
    if (p.rank)
      os << "  attnc_memref" << p.rank << " *" << p.name << ";\n";
    else
      os << "  " << p.cType << " " << p.name << ";\n";
  }
  os << "} " << args << ";\n\n"
     << "static inline void " << sig.name << "_run_items(void *context, int "
     << "thread, int64_t begin, int64_t end) {\n"
     << "  " << args << " *a = (" << args << " *)context;\n"
     << "  attnc_memref1 status = attnc_cpu_call_status(&a->call, thread);\n"
     << "  " << entry << "(&a->call.q, &a->call.k, &a->call.v, &a->call.out"
     << (sig.hasLse ? ", &a->call.lse" : "")
     << (sig.packsHeads ? ", &a->call.parts, a->call.splits" : "")
     << (sig.pagedKv ? ", &a->call.page_table, &a->call.seq_lens" : "")
     << (sig.ragged ? ", &a->call.cu_q, &a->call.cu_k, a->call.max_q" : "");
  for (const KernelSignature::Param &p : sig.params)
    os << ", a->" << p.name;
  os << ", &status, begin, end);\n}\n\n"
     << "static inline int " << sig.name << "_run(attnc_memref4 *q, "
     << "attnc_memref4 *k, attnc_memref4 *v, attnc_memref4 *out"
     << (sig.hasLse ? ", attnc_memref3 *lse" : "")
     << (sig.pagedKv ? ", attnc_memref2 *page_table, attnc_memref1 *seq_lens"
                     : "")
     << (sig.ragged
             ? ", attnc_memref1 *cu_seqlens_q, attnc_memref1 *cu_seqlens_k"
             : "");
  printParamDecls(os, sig);
  os << ", int threads) {\n"
     << "  static const attnc_cpu_schedule schedule = {" << sig.tileQ << ", "
     << sig.tileKv << ", " << sig.maxSplits << ", " << int(sig.packsHeads)
     << ", " << int(sig.pagedKv) << ", " << int(sig.ragged) << "};\n"
     << "  " << args << " a;\n"
     << "  int64_t parts;\n"
     << "  int rc = attnc_cpu_call_begin(&a.call, q, k, v, out, "
     << (sig.hasLse ? "lse, 1" : "0, 0") << ", sizeof(" << sig.elemCType
     << "), " << std::max<int64_t>(sig.headDim, 0) << ", "
     << std::max<int64_t>(sig.valueHeadDim, 0) << ", &schedule, "
     << (sig.pagedKv ? "page_table, seq_lens" : "0, 0")
     << (sig.ragged ? ", cu_seqlens_q, cu_seqlens_k" : ", 0, 0")
     << ", threads);\n"
     << "  if (rc)\n    return rc;\n";
  for (const KernelSignature::Param &p : sig.params)
    os << "  a." << p.name << " = " << p.name << ";\n";
  os << "  parts = a.call.items * a.call.splits;\n"
     << "  attnc_cpu_run(0, parts, a.call.threads, " << sig.name
     << "_run_items, &a);\n"
     << "  if (a.call.merges)\n"
     << "    attnc_cpu_run(parts, parts + a.call.merges, a.call.threads, "
     << sig.name << "_run_items, &a);\n"
     << "  return attnc_cpu_call_end(&a.call);\n}\n\n";
}

/// The backward's entry (`attnc --emit=obj --backward`) and
/// `<variant>_backward_run`, which runs its two phases on threads.
static void printBackward(llvm::raw_ostream &os, const KernelSignature &sig) {
  std::string entry =
      "_mlir_ciface_" + mlir::attn::getCPUBackwardKernelName(sig.name);
  std::string grads;
  for (const KernelSignature::Param &p : sig.params)
    if (p.isFloat)
      grads += ", attnc_memref" + std::to_string(std::max<int64_t>(p.rank, 1)) +
               " *grad_" + p.name;
  std::string views = "attnc_memref4 *q, attnc_memref4 *k, attnc_memref4 *v, "
                      "attnc_memref4 *out, attnc_memref4 *dout, attnc_memref4 "
                      "*dq, attnc_memref4 *dk, attnc_memref4 *dv";
  if (sig.hasLse)
    views += ", attnc_memref3 *lse";
  os << "/* The backward (attnc --backward): given dout = dL/dout, writes dq, "
        "dk, dv\n   (shaped as q, k, v; dk and dv summed over the query heads "
        "of a kv head)\n   and adds each float param's gradient (f32, of its "
        "shape; [1] for a\n   scalar) into grad_<param>. Phase 0 computes "
        "rows [begin, end) of\n   B * H * N (dopre [B, H, N, Dv] and delta "
        "[B, H, N], f32 scratch, for\n   phase 1), phase 1 keys [begin, end) "
        "of B * Hkv * M. Every view needs\n   a unit innermost stride. */\n"
     << "void " << entry << "(" << views
     << ", attnc_memref4 *dopre /* float */, attnc_memref3 *delta /* float */";
  printParamDecls(os, sig);
  os << grads << ", attnc_memref1 *status /* int32_t */, int64_t phase, "
     << "int64_t begin, int64_t end);\n\n";

  std::string args = sig.name + "_backward_args";
  os << "/* Runs the backward over every row, then every key, on `threads` "
        "threads\n   (0: one per CPU). Every view needs a unit innermost "
        "stride; a gradient\n   grad_<param> is dense f32 of its param's "
        "shape (NULL: not wanted) and\n   is overwritten. Returns 0; 1 + the "
        "position of a param read out of\n   bounds; ATTNC_CPU_INVALID for "
        "views whose sizes or strides it cannot\n   take; "
        "ATTNC_CPU_NO_MEMORY. */\n"
     << "typedef struct {\n  attnc_memref4 *q, *k, *v, *out, *dout, *dq, *dk, "
        "*dv;\n  attnc_memref3 *lse, delta;\n  attnc_memref4 dopre;\n";
  for (const KernelSignature::Param &p : sig.params) {
    if (p.rank)
      os << "  attnc_memref" << p.rank << " *" << p.name << ";\n";
    else
      os << "  " << p.cType << " " << p.name << ";\n";
    if (p.isFloat)
      os << "  attnc_memref" << std::max<int64_t>(p.rank, 1) << " grad_"
         << p.name << ";\n";
  }
  os << "  int32_t *status;\n  int64_t phase;\n} " << args << ";\n\n"
     << "static inline void " << sig.name << "_backward_items(void *context, "
     << "int thread, int64_t begin, int64_t end) {\n"
     << "  " << args << " *a = (" << args << " *)context;\n"
     << "  attnc_memref1 status = {a->status + thread, a->status + thread, 0, "
        "{1}, {1}};\n"
     << "  " << entry << "(a->q, a->k, a->v, a->out, a->dout, a->dq, a->dk, "
     << "a->dv" << (sig.hasLse ? ", a->lse" : "") << ", &a->dopre, &a->delta";
  for (const KernelSignature::Param &p : sig.params)
    os << ", a->" << p.name;
  for (const KernelSignature::Param &p : sig.params)
    if (p.isFloat)
      os << ", &a->grad_" << p.name;
  os << ", &status, a->phase, begin, end);\n}\n\n"
     << "static inline int " << sig.name << "_backward_run(" << views;
  printParamDecls(os, sig);
  os << grads << ", int threads) {\n"
     << "  " << args << " a;\n"
     << "  attnc_memref4 *views[8] = {q, k, v, out, dout, dq, dk, dv};\n"
     << "  int64_t B = q->sizes[0], H = q->sizes[1], N = q->sizes[2],\n"
     << "          Hkv = k->sizes[1], M = k->sizes[2], Dv = v->sizes[3];\n"
     << "  int64_t rows = B * H * N, keys = B * Hkv * M;\n"
     << "  int64_t dense4[4] = {B, H, N, Dv}, dense3[3] = {B, H, N};\n"
     << "  int n, rc = 0, i, d;\n"
     << "  for (i = 0; i < 8; ++i)\n"
     << "    if (views[i]->strides[3] != 1 && views[i]->sizes[3] != 1)\n"
     << "      return ATTNC_CPU_INVALID;\n"
     << "  for (d = 0; d < 4; ++d)\n"
     << "    if (dout->sizes[d] != out->sizes[d] || dq->sizes[d] != "
        "q->sizes[d] ||\n        dk->sizes[d] != k->sizes[d] || "
        "dv->sizes[d] != v->sizes[d])\n      return ATTNC_CPU_INVALID;\n"
     << "  if (Hkv < 1 || H % Hkv || k->sizes[0] != B || v->sizes[0] != B ||\n"
     << "      v->sizes[1] != Hkv || v->sizes[2] != M || out->sizes[0] != B "
        "||\n"
     << "      out->sizes[1] != H || out->sizes[2] != N || out->sizes[3] != Dv"
     << (sig.hasLse ? " ||\n      !lse || (lse->strides[2] != 1 && N != 1) "
                      "|| lse->sizes[0] != B ||\n      lse->sizes[1] != H || "
                      "lse->sizes[2] != N"
                    : "")
     << ")\n    return ATTNC_CPU_INVALID;\n";
  // A wanted gradient must be dense and of its param's shape.
  for (const KernelSignature::Param &p : sig.params) {
    if (!p.isFloat)
      continue;
    std::string g = "grad_" + p.name;
    int64_t rank = std::max<int64_t>(p.rank, 1);
    os << "  if (" << g << ") {\n    int64_t step = 1;\n"
       << "    for (d = " << rank - 1 << "; d >= 0; --d) {\n"
       << "      if (" << g << "->sizes[d] != "
       << (p.rank ? p.name + "->sizes[d]" : std::string("1")) << " || (" << g
       << "->sizes[d] != 1 && " << g << "->strides[d] != step))\n"
       << "        return ATTNC_CPU_INVALID;\n"
       << "      step *= " << g << "->sizes[d];\n    }\n  }\n";
  }
  os << "  memset(&a, 0, sizeof a);\n"
     << "  a.q = q, a.k = k, a.v = v, a.out = out, a.dout = dout;\n"
     << "  a.dq = dq, a.dk = dk, a.dv = dv, a.lse = "
     << (sig.hasLse ? "lse" : "0") << ";\n"
     << "  a.dopre.allocated = a.dopre.aligned =\n"
     << "      (float *)malloc((size_t)(rows * Dv) * sizeof(float) + 4);\n"
     << "  a.delta.allocated = a.delta.aligned =\n"
     << "      (float *)malloc((size_t)rows * sizeof(float) + 4);\n"
     << "  for (d = 0; d < 4; ++d)\n    a.dopre.sizes[d] = dense4[d];\n"
     << "  for (d = 0; d < 3; ++d)\n    a.delta.sizes[d] = dense3[d];\n"
     << "  attnc_cpu_dense_strides(dense4, 4, a.dopre.strides);\n"
     << "  attnc_cpu_dense_strides(dense3, 3, a.delta.strides);\n"
     << "  n = attnc_cpu_thread_count(threads, rows > keys ? rows : keys);\n"
     << "  a.status = (int32_t *)calloc((size_t)n, sizeof(int32_t));\n"
     << "  rc = !a.dopre.aligned || !a.delta.aligned || !a.status;\n";
  for (const KernelSignature::Param &p : sig.params) {
    if (!p.isFloat)
      continue;
    std::string g = "grad_" + p.name, field = "a.grad_" + p.name;
    int64_t rank = std::max<int64_t>(p.rank, 1);
    os << "  a." << p.name << " = " << p.name << ";\n"
       << "  {\n    int64_t count = 1;\n"
       << "    for (d = 0; d < " << rank << "; ++d)\n"
       << "      " << field
       << ".sizes[d] = " << (p.rank ? p.name + "->sizes[d]" : std::string("1"))
       << ", count *= " << field << ".sizes[d];\n"
       << "    attnc_cpu_dense_strides(" << field << ".sizes, " << rank << ", "
       << field << ".strides);\n"
       << "    " << field << ".allocated = " << field << ".aligned =\n"
       << "        " << g << " ? (float *)" << g
       << "->aligned : (float *)malloc((size_t)count * sizeof(float) + 4);\n"
       << "    if (" << field << ".aligned)\n"
       << "      memset(" << field
       << ".aligned, 0, (size_t)count * "
          "sizeof(float));\n"
       << "    rc |= !" << field << ".aligned;\n  }\n";
  }
  for (const KernelSignature::Param &p : sig.params)
    if (!p.isFloat)
      os << "  a." << p.name << " = " << p.name << ";\n";
  os << "  if (!rc) {\n"
     << "    a.phase = 0;\n"
     << "    attnc_cpu_run(0, rows, rows < n ? (int)rows : n, " << sig.name
     << "_backward_items, &a);\n"
     << "    a.phase = 1;\n"
     << "    attnc_cpu_run(0, keys, keys < n ? (int)keys : n, " << sig.name
     << "_backward_items, &a);\n"
     << "    for (i = 0; i < n && !rc; ++i)\n      rc = a.status[i];\n"
     << "  } else {\n    rc = ATTNC_CPU_NO_MEMORY;\n  }\n"
     << "  free(a.dopre.allocated);\n  free(a.delta.allocated);\n"
     << "  free(a.status);\n";
  for (const KernelSignature::Param &p : sig.params)
    if (p.isFloat)
      os << "  if (!grad_" << p.name << ")\n    free(a.grad_" << p.name
         << ".allocated);\n";
  os << "  return rc;\n}\n\n";
}

std::string attnc::generateCHeader(const KernelSignature &sig, bool gpu) {
  std::string entry =
      gpu ? sig.name + "_cuda"
          : "_mlir_ciface_" + mlir::attn::getCPUKernelName(sig.name);
  std::string guard = "ATTNC_" + llvm::StringRef(sig.name).upper() + "_H";
  std::string h;
  llvm::raw_string_ostream os(h);
  os << "/* Generated by attnc for the variant '" << sig.name << "'. */\n"
     << "#ifndef " << guard << "\n#define " << guard << "\n\n"
     << "#include <stdbool.h>\n#include <stdint.h>\n\n";
  // The typedefs are the runtime's, so that this header and the AOT objects
  // agree. The CPU runtime (which has them) goes before extern "C": it
  // includes system headers and says extern "C" itself.
  if (!gpu)
    os << "/* attnc's CPU runtime (runtime/cpu/attnc/cpu_run.h), pasted: the\n"
       << "   memref typedefs (a strided view: element pointer twice, offset,\n"
       << "   sizes and strides in elements), the dense copies and the work\n"
       << "   loop that " << sig.name << "_run below uses. The kernel itself "
       << "needs unit\n   innermost strides for q, k, v, out and lse; "
       << sig.name << "_run does not. */\n"
       << getCpuRunHeader() << "\n";
  os << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n";
  if (gpu)
    os << "\n/* A strided view: element pointer (twice), offset, sizes and "
          "strides\n"
       << "   in elements. The kernel needs unit innermost strides for q, k, "
          "v,\n"
       << "   out and lse. */\n"
       << getMemRefHeader();
  if (sig.pagedKv)
    os << "\n/* A paged KV cache: k [num_pages, page_size, Hkv, D] and v\n"
       << "   [num_pages, page_size, Hkv, Dv] hold pages; key j of sequence b "
          "is row\n   j % page_size of page page_table[b, j / page_size] "
          "(page_table\n   [B, max_pages], M = max_pages * page_size); keys j "
          ">= seq_lens[b]\n   are not kept. */";
  if (sig.ragged)
    os << "\n/* Ragged batches: q [1, H, total_q, D], k and v [1, Hkv, "
          "total_k, D],\n   out [1, H, total_q, Dv] and lse [1, H, total_q] "
          "pack S sequences;\n   sequence s holds queries cu_seqlens_q[s] .. "
          "cu_seqlens_q[s + 1] - 1 and\n   keys cu_seqlens_k[s] .. "
          "cu_seqlens_k[s + 1] - 1 (int32_t [S + 1]). The\n   kernel entry "
          "takes the offsets and the longest sequence's queries. */";
  os << "\n/* q [B, H, N, D], k [B, Hkv, M, D], v [B, Hkv, M, Dv] and out\n"
     << "   [B, H, N, Dv] hold " << sig.elemCType
     << (sig.elemCType == "uint16_t" ? " (f16 or bf16 bits)" : "") << ";";
  if (sig.hasLse)
    os << " lse [B, H, N] holds float;";
  os << " status[0] must be 0\n   on entry and names (1 + the param's "
        "position) "
     << "when a param was read\n   out of bounds. ";
  if (gpu)
    os << "Every view, status included, is in device memory;\n"
       << "   16-bit float scalars pass as their bits. The kernels run on "
          "`stream`\n"
       << "   (a cudaStream_t; 0 for the default stream); the call returns 0 "
          "or\n"
       << "   a cudaError_t: cudaErrorInvalidValue (1) for views the kernel\n"
       << "   cannot take (sizes that disagree, head dims other than D = "
       << sig.headDim << " and Dv = " << sig.valueHeadDim
       << ",\n   q, k or v rows not 16-byte aligned or out rows not 4-byte "
          "aligned,\n"
       << "   a non-unit innermost stride)";
  else if (sig.packsHeads)
    os << "The kernel computes work items "
       << "[begin, end) of\n   I = B * Hkv * ceil(H / Hkv * N / " << sig.tileQ
       << ") (batch, kv head, " << sig.tileQ << " rows of the\n"
       << "   queries of the heads that share the kv head), each cut into "
       << "`splits` key\n   ranges: items [0, I * splits); with splits > 1 "
       << "they write parts\n   ([I * splits * " << sig.tileQ
       << ", Dv + 2] floats), which items [I * splits, I * (splits +\n"
       << "   1)) merge once every part is done; disjoint ranges of one round "
       << "may run\n   on different threads at once";
  else
    os << "The kernel computes work items "
       << "[begin, end) of\n   B * H * ceil(N / " << sig.tileQ
       << ") (batch, head, " << sig.tileQ << "-row query tile); disjoint\n"
       << "   ranges may run on different threads at once";
  if (gpu && sig.hasLse)
    os << ";\n   lse may be null";
  os << ". */\n"
     << "#define ATTNC_" << llvm::StringRef(sig.name).upper() << "_TILE_Q "
     << sig.tileQ << "\n"
     << (gpu ? "int " : "void ") << entry
     << "(attnc_memref4 *q, attnc_memref4 *k, "
     << "attnc_memref4 *v, attnc_memref4 *out";
  if (sig.hasLse)
    os << ", attnc_memref3 *lse";
  if (sig.packsHeads)
    os << ", attnc_memref2 *parts /* float */, int64_t splits";
  if (sig.pagedKv)
    os << ", attnc_memref2 *page_table /* int32_t */, attnc_memref1 *seq_lens "
          "/* int32_t */";
  if (sig.ragged)
    os << ", attnc_memref1 *cu_seqlens_q /* int32_t */, attnc_memref1 "
          "*cu_seqlens_k /* int32_t */, int64_t max_q";
  printParamDecls(os, sig);
  os << ", attnc_memref1 *status /* int32_t */"
     << (gpu ? ", void *stream);\n\n" : ", int64_t begin, int64_t end);\n\n");
  if (!gpu)
    printRunFunction(os, sig, entry);
  if (!gpu && sig.backward)
    printBackward(os, sig);
  os << "#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
  return h;
}
