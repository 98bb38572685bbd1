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
  os << "#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
  return h;
}
