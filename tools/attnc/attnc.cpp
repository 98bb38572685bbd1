//===- attnc.cpp - the attnc command-line compiler ------------------------===//

#include "CallOptions.h"
#include "Check/Check.h"
#include "Check/CopyBandwidth.h"
#include "Check/SavedTensors.h"
#include "Conversion/Passes.h"
#include "Frontend/Frontend.h"
#include "Frontend/MLIRGen.h"
#include "Mask.h"
#include "OptionParsers.h"
#include "Pipeline/Pipeline.h"
#include "Support/Error.h"
#include "Target/Compilation.h"
#include "Target/KernelSignature.h"
#include "Target/Target.h"
#include "Transforms/Passes.h"
#include "dialect/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <map>
#include <numeric>
#include <random>
#include <thread>

using namespace llvm;

namespace {
enum class Emit { MLIR, Fused, Scheduled, LLVM, Obj, CUDA, PTX, Cubin };

cl::OptionCategory attncCategory("attnc options");

cl::SubCommand
    runCommand("run",
               "Compile a variant for the CPU (--target=cpu, the default) or a "
               "GPU (--target=gpu: this machine's), run it on random inputs or "
               "those --load reads, check it against the float64 reference "
               "(--check) and time it (--bench); docs/run.md");

cl::SubCommand maskCommand(
    "mask",
    "Draw the block analysis' class of every (query tile, key tile) of one "
    "(b, h): full, partial or skipped, with counts and kept pairs; -o M.png "
    "writes it as a PNG (full blue #1f77b4, partial orange #ff7f0e, skipped "
    "grey #f0f0f0; kept and dropped pairs with --pairs likewise)");

cl::opt<std::string> inputFile(cl::Positional, cl::desc("<FILE.attn>"),
                               cl::Required, cl::cat(attncCategory),
                               cl::sub(cl::SubCommand::getTopLevel()),
                               cl::sub(runCommand), cl::sub(maskCommand));
cl::opt<std::string> outputFile("o",
                                cl::desc("Write the output to <file> "
                                         "(default: standard output; attnc "
                                         "mask: the map as a PNG)"),
                                cl::value_desc("file"), cl::init("-"),
                                cl::cat(attncCategory),
                                cl::sub(cl::SubCommand::getTopLevel()),
                                cl::sub(maskCommand));
cl::opt<Emit, false, attnc::NamedValueParser<Emit>> emit(
    "emit", cl::desc("What to produce"), cl::init(Emit::MLIR),
    cl::values(clEnumValN(Emit::MLIR, "mlir",
                          "the cascade in the attn dialect, as written"),
               clEnumValN(Emit::Fused, "fused",
                          "the IR after canonicalize and attn-fuse: one "
                          "attn.flash per variant"),
               clEnumValN(Emit::Scheduled, "scheduled",
                          "the fused IR after the block analysis and "
                          "attn-select-schedule for --target: tile "
                          "classifiers and #attn.schedule"),
               clEnumValN(Emit::LLVM, "llvm",
                          "LLVM IR of the CPU kernel (--target=cpu)"),
               clEnumValN(Emit::Obj, "obj",
                          "an object file of the CPU kernel with a C entry "
                          "point, and its C header beside it (-o K.o writes "
                          "K.h)"),
               clEnumValN(Emit::CUDA, "cuda",
                          "CUDA C++ of the GPU kernel (--target=sm_XX), the "
                          "tile templates pasted in: nvcc compiles it alone"),
               clEnumValN(Emit::PTX, "ptx", "PTX of the GPU kernel, by NVRTC"),
               clEnumValN(Emit::Cubin, "cubin",
                          "a cubin of the GPU kernel, by NVRTC")),
    cl::cat(attncCategory));
cl::opt<std::string> target(
    "target",
    cl::desc("Where kernels run: cpu (the host, for --emit=llvm|obj) or a GPU "
             "from sm_80 up (sm_80, sm_86, sm_89, sm_90a, ..., for "
             "--emit=cuda|ptx|cubin); attnc run also takes gpu (this "
             "machine's GPU)"),
    cl::init("cpu"), cl::cat(attncCategory),
    cl::sub(cl::SubCommand::getTopLevel()), cl::sub(runCommand),
    cl::sub(maskCommand));
cl::opt<std::string> variantName("variant",
                                 cl::desc("The variant to compile to llvm or "
                                          "obj, when the file has several"),
                                 cl::cat(attncCategory));
cl::opt<std::string> dtype("dtype",
                           cl::desc("Element type of q, k, v and out: f32 "
                                    "(default on the CPU), bf16 (default on "
                                    "GPUs) or f16"),
                           cl::init("f32"), cl::cat(attncCategory),
                           cl::sub(cl::SubCommand::getTopLevel()),
                           cl::sub(runCommand));

// attnc run
cl::opt<std::string> runShape(
    "shape",
    cl::desc("Sizes of the call, e.g. B=1,H=16,Hkv=4,N=4096,M=4096,D=128 "
             "(defaults: B=1 H=8 Hkv=H N=256 M=N D=64 Dv=D)"),
    cl::sub(runCommand), cl::sub(maskCommand), cl::cat(attncCategory));
cl::opt<std::string> runVariant("variant",
                                cl::desc("The variant to run, when the file "
                                         "has several"),
                                cl::sub(runCommand), cl::sub(maskCommand),
                                cl::cat(attncCategory));
attnc::SwitchOpt runCheck("check",
                          cl::desc("Compare with the float64 reference; exit 1 "
                                   "when out of tolerance"),
                          cl::sub(runCommand), cl::cat(attncCategory));
attnc::SwitchOpt
    runBench("bench",
             cl::desc("Time the kernel: median of --repeats runs, "
                      "GFLOP/s over kept pairs (GPU: CUDA events, "
                      "L2 evicted before each run, runs queued, as "
                      "triton.testing.do_bench)"),
             cl::sub(runCommand), cl::cat(attncCategory));
attnc::SwitchOpt runBackward(
    "backward",
    cl::desc("Also compile the backward: attnc run (CPU and GPU) runs it, "
             "with --check dq, dk, dv and every float param's gradient "
             "against the float64 reference for a random dL/dout, with "
             "--bench its time; --emit=obj (CPU) puts its kernel in the "
             "object and <variant>_backward_run in the header"),
    cl::sub(cl::SubCommand::getTopLevel()), cl::sub(runCommand),
    cl::cat(attncCategory));
attnc::SwitchOpt runDeterministic(
    "deterministic",
    cl::desc("With --backward: run it deterministic (the same bits on every "
             "call; no params' gradients then), twice, and require the same "
             "dq, dk and dv"),
    cl::sub(runCommand), cl::cat(attncCategory));
attnc::IntegerOpt<int> runRepeats("repeats",
                                  cl::desc("Timed runs (default 10)"),
                                  cl::init(10), cl::sub(runCommand),
                                  cl::cat(attncCategory));
attnc::IntegerOpt<int>
    runThreads("threads", cl::desc("Worker threads (default: all cores)"),
               cl::init(0), cl::sub(runCommand), cl::cat(attncCategory));
attnc::IntegerOpt<long long>
    runTileQ("tile-q", cl::desc("Query rows per tile (default: the target's)"),
             cl::init(0), cl::sub(runCommand), cl::sub(maskCommand),
             cl::sub(cl::SubCommand::getTopLevel()), cl::cat(attncCategory));
attnc::IntegerOpt<long long>
    runTileKv("tile-kv", cl::desc("Keys per tile (default: the target's)"),
              cl::init(0), cl::sub(runCommand), cl::sub(maskCommand),
              cl::sub(cl::SubCommand::getTopLevel()), cl::cat(attncCategory));
attnc::IntegerOpt<long long>
    runVectorWidth("vector-width",
                   cl::desc("f32 lanes: 4, 8 or 16 (default: the host's)"),
                   cl::init(0), cl::sub(runCommand), cl::cat(attncCategory));
attnc::IntegerOpt<long long>
    runIds("ids",
           cl::desc("Integer tensor params (ids: documents, segments) are "
                    "drawn from 0..ids-1 (default 4), sorted when 1-d so that "
                    "ids come in runs; float params are uniform in [-1, 1], "
                    "bool params fair coins, scalars take --param or their "
                    "default"),
           cl::init(4), cl::sub(runCommand), cl::sub(maskCommand),
           cl::cat(attncCategory));
attnc::IntegerOpt<long long>
    runWarps("warps",
             cl::desc("GPU: warps per CTA (default: 4 with the default "
                      "tile-q, else tile-q / 16, at most 8)"),
             cl::init(0), cl::sub(runCommand),
             cl::sub(cl::SubCommand::getTopLevel()), cl::cat(attncCategory));
cl::list<std::string> runParams(
    "param",
    cl::desc("A scalar param's value, NAME=VALUE (repeatable; default: the "
             "param's default, else 3)"),
    cl::value_desc("NAME=VALUE"), cl::sub(runCommand), cl::sub(maskCommand),
    cl::cat(attncCategory));
cl::list<std::string> runDims(
    "dim",
    cl::desc("The sizes of a tensor param's `?` dims, in order, "
             "NAME=S1[,S2...] (repeatable; default: the largest index its "
             "reads take over the call, e.g. map[h, q_idx / 128, kv_idx / "
             "128] at N = M = 300 is [H, 3, 3])"),
    cl::value_desc("NAME=S1,..."), cl::sub(runCommand), cl::sub(maskCommand),
    cl::cat(attncCategory));
cl::opt<std::string> runLoad(
    "load",
    cl::desc("Read the inputs from DIR, as --save writes them (manifest.txt "
             "and NAME.f64: q, k, v, param.NAME); --shape defaults to the "
             "sizes of the saved q, k and v, what DIR lacks is drawn at "
             "random (and said), --param overrides a saved scalar"),
    cl::value_desc("DIR"), cl::sub(runCommand), cl::cat(attncCategory));
cl::opt<std::string> runFamily(
    "family",
    cl::desc("The kernel family: cpu_tiles or cpu_decode on the CPU (default: "
             "cpu_decode for N <= 16, decode, else cpu_tiles); sm80_mma, "
             "sm90_wgmma (sm_90a) or split_kv on GPUs (default: split_kv for "
             "N <= 16, else sm90_wgmma on sm_90a where it fits, else "
             "sm80_mma)"),
    cl::sub(runCommand), cl::sub(cl::SubCommand::getTopLevel()),
    cl::cat(attncCategory));
attnc::IntegerOpt<long long>
    runStages("stages",
              cl::desc("GPU: K/V tiles in flight (default: the family's)"),
              cl::init(0), cl::sub(runCommand),
              cl::sub(cl::SubCommand::getTopLevel()), cl::cat(attncCategory));
attnc::IntegerOpt<long long>
    runSplits("splits",
              cl::desc("split_kv: the most key ranges a call is cut into "
                       "(default 128; the launch picks by the GPU's size)"),
              cl::init(0), cl::sub(runCommand),
              cl::sub(cl::SubCommand::getTopLevel()), cl::cat(attncCategory));
attnc::SwitchOpt pagedKv("paged-kv",
                         cl::desc("Compile for a paged KV cache: k and v as "
                                  "pages [num_pages, page_size, Hkv, D] read "
                                  "through a page table, with a length per "
                                  "sequence"),
                         cl::cat(attncCategory));
attnc::IntegerOpt<long long> runPaged(
    "paged",
    cl::desc("Run on a paged KV cache: K and V laid out in shuffled pages of "
             "PAGE_SIZE keys, read through a page table, with random "
             "sequence lengths in 1..M (M rounded up to a multiple of "
             "PAGE_SIZE; --check masks the keys past each length)"),
    cl::value_desc("PAGE_SIZE"), cl::init(0), cl::sub(runCommand),
    cl::cat(attncCategory));
attnc::SwitchOpt raggedBatch("ragged",
                             cl::desc("Compile for ragged batches: packed "
                                      "sequences of their own lengths given by "
                                      "offsets cu_seqlens_q and cu_seqlens_k "
                                      "(CPU targets)"),
                             cl::cat(attncCategory));
cl::opt<std::string> runRagged(
    "ragged",
    cl::desc("Run on a ragged batch (packed sequences, FlashAttention's "
             "varlen offsets): L1,L2,... gives each sequence L queries and L "
             "keys, Q:K both counts; 'random' draws B sequences (--shape) of "
             "1..N queries and 1..M keys (one of N and M)"),
    cl::value_desc("LENGTHS|random"), cl::init(""), cl::sub(runCommand),
    cl::cat(attncCategory));
attnc::SwitchOpt runFullLengths("full-lengths",
                                cl::desc("With --paged: every sequence holds M "
                                         "keys"),
                                cl::sub(runCommand), cl::cat(attncCategory));
attnc::IntegerOpt<unsigned long long>
    runSeed("seed", cl::desc("Seed of the random inputs"), cl::init(1),
            cl::sub(runCommand), cl::sub(maskCommand), cl::cat(attncCategory));
cl::opt<std::string> runSave(
    "save",
    cl::desc("Write the inputs and the kernel's outputs to DIR (NAME.f64 "
             "files of float64 values and manifest.txt), e.g. to compare "
             "with another implementation; --load reads them back"),
    cl::value_desc("DIR"), cl::sub(runCommand), cl::cat(attncCategory));
attnc::SwitchOpt runStrided("strided",
                            cl::desc("Pass q, k, v and out with padded, "
                                     "non-contiguous strides"),
                            cl::sub(runCommand), cl::cat(attncCategory));
// attnc mask
attnc::SwitchOpt
    maskPairs("pairs",
              cl::desc("Draw the mask per pair of --window instead "
                       "of the tiles' classes"),
              cl::sub(maskCommand), cl::cat(attncCategory));
cl::opt<std::string>
    maskWindow("window",
               cl::desc("The pairs --pairs draws: Q0,K0,ROWS,COLS (default "
                        "0,0,32,64; at most 256 x 256)"),
               cl::sub(maskCommand), cl::cat(attncCategory));
attnc::IntegerOpt<long long> maskBatch("batch",
                                       cl::desc("The batch drawn (default 0)"),
                                       cl::init(0), cl::sub(maskCommand),
                                       cl::cat(attncCategory));
attnc::IntegerOpt<long long>
    maskHead("head", cl::desc("The query head drawn (default 0)"), cl::init(0),
             cl::sub(maskCommand), cl::cat(attncCategory));

attnc::IntegerOpt<long long>
    headDim("head-dim",
            cl::desc("Fix the head dim D at compile time "
                     "(default: given at run time)"),
            cl::init(0), cl::cat(attncCategory));
attnc::IntegerOpt<long long>
    valueHeadDim("value-head-dim",
                 cl::desc("Fix the value head dim Dv at compile "
                          "time (default: the head dim)"),
                 cl::init(0), cl::cat(attncCategory));

constexpr const char *kOverview = R"(attnc: compiles attention variants.

  attnc FILE.attn                  print the variants of FILE as the attn cascade
  attnc FILE.attn --emit=fused     print them fused, one attn.flash each
  attnc FILE.attn -o out.mlir      write to a file
  attnc run FILE.attn --shape B=1,H=8,N=1024,D=64 --check --bench
                                   run it on the CPU (--target=gpu: on this
                                   machine's GPU), check it against the
                                   float64 reference, time it (docs/run.md)
  attnc mask FILE.attn --shape N=1024 [--pairs] [-o map.png]
                                   draw its skipped, partial and full tiles
                                   (docs/mask.md)

A variant is written in the attnc language (docs/language.md), e.g.

  attention alibi_causal(slopes: f32[H]) {
    score = score + slopes[h] * (kv_idx - q_idx)
    mask  = causal()
  }

Errors are reported as FILE:LINE:COL with the source line and a caret; the
exit status is 1 when there is any. MLIR's own flags (--mlir-print-ir-after-all,
--mlir-timing, --mlir-print-debuginfo, ...) are accepted as well; --help-hidden
lists them.
)";
} // namespace

/// Writes `text` to -o (default: standard output).
static int writeOutput(StringRef text) {
  std::string error;
  auto output = mlir::openOutputFile(outputFile, &error);
  if (!output) {
    errs() << "attnc: error: " << error << "\n";
    return 1;
  }
  output->os() << text;
  output->keep();
  return 0;
}

/// The C header of the AOT entry point, beside the output file (K.o or
/// K.cu -> K.h).
static int writeCHeader(const attnc::Target &target,
                        const attnc::KernelSignature &signature) {
  SmallString<128> header(outputFile.getValue());
  sys::path::replace_extension(header, "h");
  std::error_code ec;
  raw_fd_ostream out(header, ec);
  if (ec) {
    errs() << "attnc: error: cannot write '" << header << "': " << ec.message()
           << "\n";
    return 1;
  }
  out << target.emitCHeader(signature);
  return 0;
}

/// --emit=llvm|obj|cuda|ptx|cubin: one scheduled variant through the
/// target's lowering to the artifact; an object or CUDA file gets the C
/// header of its entry point beside it.
static int emitArtifact(attnc::Compilation &compilation,
                        attnc::Artifact artifact) {
  mlir::ModuleOp module = compilation.getModule();
  if (llvm::Error e = attnc::selectOneVariant(module, variantName))
    return attnc::reportError(std::move(e));
  // The signature comes from the scheduled variant, before it is lowered.
  auto signature = attnc::readKernelSignature(module);
  if (!signature) {
    errs() << "attnc: error: " << toString(signature.takeError()) << "\n";
    return 1;
  }
  signature->backward = runBackward;
  if (mlir::failed(compilation.advanceTo(attnc::Stage::Lowered)))
    return 1;
  const attnc::Target &target = compilation.getTarget();
  llvm::Expected<std::string> code = target.emit(module, artifact);
  if (!code) {
    errs() << "attnc: error: " << toString(code.takeError()) << "\n";
    return 1;
  }
  if (int rc = writeOutput(*code))
    return rc;
  bool hasEntryPoint =
      artifact == attnc::Artifact::Object || artifact == attnc::Artifact::CUDA;
  if (!hasEntryPoint || outputFile == "-")
    return 0;
  return writeCHeader(target, *signature);
}

/// --ragged=L1,L2,... (Q:K for both counts) or --ragged=random (B
/// sequences of 1..N queries and 1..M keys, the first of N and M).
static llvm::Error parseRaggedLengths(StringRef spec,
                                      const attnc::AttnSizes &sizes,
                                      uint64_t seed, std::vector<int64_t> &q,
                                      std::vector<int64_t> &k) {
  if (spec == "random") {
    std::mt19937_64 rng(seed * 11 + 3);
    std::uniform_int_distribution<int64_t> queries(1, sizes.queries),
        keys(1, sizes.keys);
    for (int64_t s = 0; s < sizes.batch; ++s) {
      q.push_back(s == 0 ? sizes.queries : queries(rng));
      k.push_back(s == 0 ? sizes.keys : keys(rng));
    }
    return llvm::Error::success();
  }
  SmallVector<StringRef> items;
  spec.split(items, ',');
  for (StringRef item : items) {
    auto [qs, ks] = item.trim().split(':');
    int64_t nq = 0, nk = 0;
    if (qs.getAsInteger(10, nq) ||
        (ks.empty() ? (nk = nq, false) : ks.getAsInteger(10, nk)) || nq < 0 ||
        nk < 0 || nq > (int64_t(1) << 30) || nk > (int64_t(1) << 30))
      return attnc::makeError("--ragged takes lengths L1,L2,... (Q:K for a "
                              "sequence of Q queries and K keys) or "
                              "'random'; got '" +
                              item.str() + "'");
    q.push_back(nq);
    k.push_back(nk);
  }
  return llvm::Error::success();
}

/// `attnc run`: compile, run, check, time.
static int runVariantCommand(attnc::ast::ScalarType elem) {
  llvm::Expected<std::string> source = attnc::readInputFile(inputFile);
  if (!source)
    return attnc::reportError(source.takeError());
  // Loaded inputs give the sizes --shape leaves out.
  std::map<std::string, int64_t> savedSizes;
  if (!runLoad.empty()) {
    if (!runRagged.empty())
      return attnc::reportError(
          attnc::makeError("--load takes a dense batch; not with --ragged"));
    llvm::Expected<attnc::Manifest> manifest = attnc::readManifest(runLoad);
    if (!manifest)
      return attnc::reportError(manifest.takeError());
    llvm::Expected<std::map<std::string, int64_t>> saved =
        attnc::getSavedSizes(*manifest);
    if (!saved)
      return attnc::reportError(saved.takeError());
    savedSizes = std::move(*saved);
  }
  llvm::Expected<attnc::AttnSizes> parsedSizes =
      attnc::parseShape(runShape, savedSizes);
  if (!parsedSizes)
    return attnc::reportError(parsedSizes.takeError());
  llvm::Expected<std::map<std::string, std::vector<int64_t>>> paramDims =
      attnc::parseParamDims(runDims);
  if (!paramDims)
    return attnc::reportError(paramDims.takeError());
  llvm::Expected<std::map<std::string, double>> scalarParams =
      attnc::parseParamValues(runParams);
  if (!scalarParams)
    return attnc::reportError(scalarParams.takeError());
  attnc::AttnSizes sizes = *parsedSizes;
  // A ragged batch: the sequences' lengths; sizes take the longest.
  std::vector<int64_t> raggedQ, raggedK;
  if (!runRagged.empty()) {
    if (llvm::Error e =
            parseRaggedLengths(runRagged, sizes, runSeed, raggedQ, raggedK))
      return attnc::reportError(std::move(e));
    int64_t totalQ = 0, totalK = 0;
    sizes.queries = sizes.keys = 1;
    for (size_t i = 0; i < raggedQ.size(); ++i) {
      totalQ += raggedQ[i], totalK += raggedK[i];
      sizes.queries = std::max(sizes.queries, raggedQ[i]);
      sizes.keys = std::max(sizes.keys, raggedK[i]);
    }
    sizes.batch = int64_t(raggedQ.size());
    outs() << "ragged: " << raggedQ.size() << " sequence(s), total_q=" << totalQ
           << " total_k=" << totalK << " (N and M below: the longest)\n";
  }
  if (runPaged > 0 && sizes.keys % runPaged != 0) {
    sizes.keys += runPaged - sizes.keys % runPaged;
    outs() << "paged: M rounded up to " << sizes.keys << " ("
           << sizes.keys / runPaged << " pages of " << runPaged << ")\n";
  }

  attnc::DType dtype = elem == attnc::ast::ScalarType::BF16 ? attnc::DType::BF16
                       : elem == attnc::ast::ScalarType::F16
                           ? attnc::DType::F16
                           : attnc::DType::F32;
  attnc::CompileOptions options;
  options.target = target; // gpu: this machine's, found by the JIT
  bool onGPU = options.target != "cpu";
  if (onGPU) {
    options.headDim = sizes.headDim;
    if (sizes.valueDim != sizes.headDim)
      options.valueHeadDim = sizes.valueDim;
  }
  options.dtype = dtype;
  options.tileQ = runTileQ;
  options.tileKv = runTileKv;
  options.vectorWidth = runVectorWidth;
  options.warps = runWarps;
  options.stages = runStages;
  options.splits = runSplits;
  options.kernelFamily = runFamily;
  options.backward = runBackward;
  options.pagedKv = runPaged > 0;
  options.ragged = !raggedQ.empty();
  // Decode (a few queries against many keys) runs best split across the keys
  // on GPUs, and with the heads of a kv head packed on the CPU.
  const bool decodeChosen = options.kernelFamily.empty() && sizes.queries <= 16;
  if (decodeChosen)
    options.kernelFamily = onGPU ? "split_kv" : "cpu_decode";
  attnc::Compiler compiler;
  auto start = std::chrono::steady_clock::now();
  llvm::Expected<attnc::Kernel> kernel =
      compiler.compile(*source, runVariant, options, inputFile);
  // A variant the decode family does not take (a block selection on the
  // GPU) runs with the target's default family instead.
  if (!kernel && decodeChosen) {
    llvm::consumeError(kernel.takeError());
    options.kernelFamily.clear();
    kernel = compiler.compile(*source, runVariant, options, inputFile);
  }
  double compileMs = std::chrono::duration<double, std::milli>(
                         std::chrono::steady_clock::now() - start)
                         .count();
  if (!kernel)
    return attnc::reportError(kernel.takeError());
  int threads = runThreads > 0
                    ? int(runThreads)
                    : int(std::max(1u, std::thread::hardware_concurrency()));
  outs() << "variant " << kernel->getName() << ": " << attnc::toString(dtype)
         << ", B=" << sizes.batch << " H=" << sizes.heads
         << " Hkv=" << sizes.kvHeads << " N=" << sizes.queries
         << " M=" << sizes.keys << " D=" << sizes.headDim
         << " Dv=" << sizes.valueDim << ", ";
  if (onGPU)
    outs() << kernel->getTarget() << "\n";
  else
    outs() << threads << " thread(s)\n";
  outs() << format("compile: %.1f ms\n", compileMs);

  attnc::CheckOptions check;
  check.sizes = sizes;
  check.sourceName = inputFile;
  check.seed = runSeed;
  check.strided = runStrided;
  check.threads = threads;
  check.compare = runCheck;
  check.idRange = std::max<int64_t>(1, runIds);
  check.saveDir = runSave;
  check.loadDir = runLoad;
  check.paramDims = *paramDims;
  check.scalarParams = *scalarParams;
  check.backward = runBackward;
  check.deterministic = runDeterministic;
  check.pageSize = runPaged;
  check.fullLengths = runFullLengths;
  check.raggedQueries = raggedQ;
  check.raggedKeys = raggedK;
  // Counting interprets the mask per pair: skipped beyond 2^28 pairs. In
  // doubles: the product of huge sizes would overflow an int64_t.
  double pairs = double(sizes.batch) * double(sizes.heads) *
                 double(sizes.queries) * double(sizes.keys);
  if (!raggedQ.empty()) { // the pairs within each sequence
    pairs = 0;
    for (size_t i = 0; i < raggedQ.size(); ++i)
      pairs += double(sizes.heads) * double(raggedQ[i]) * double(raggedK[i]);
  }
  check.countPairs = runBench && pairs <= double(int64_t(1) << 28);
  check.repeats = runBench ? std::max(1, int(runRepeats)) : 0;
  llvm::Expected<attnc::CheckResult> result =
      attnc::checkKernel(*kernel, *source, kernel->getName(), check);
  if (!result) {
    errs() << "attnc: error: " << toString(result.takeError()) << "\n";
    return 1;
  }
  for (const std::string &note : result->notes)
    outs() << "inputs: " << note << "\n";
  auto keptLine = [&] {
    outs() << format("kept pairs: %lld of %.0f (%.1f%%)\n",
                     (long long)result->keptPairs, pairs,
                     100.0 * double(result->keptPairs) / pairs);
  };
  if (runCheck || check.countPairs)
    keptLine();
  if (runCheck) {
    attnc::Tolerance tol = attnc::getTolerance(dtype);
    outs() << "check: " << (result->passed ? "PASS" : "FAIL")
           << format("  max abs error %.3g, max rel error %.3g (tolerance: "
                     "atol %.0e + rtol %.0e * |ref|)\n",
                     result->maxAbsError, result->maxRelError, tol.atol,
                     tol.rtol);
    if (!result->passed)
      outs() << "  " << result->badElements
             << " element(s) out of tolerance; first: " << result->firstBad
             << "\n";
  }
  if (runBench) {
    double flops =
        2.0 * double(result->keptPairs) * (sizes.headDim + sizes.valueDim);
    if (result->keptPairs)
      outs() << format(
          "bench: median %.3f ms over %d runs, %.1f GFLOP/s over kept "
          "pairs\n",
          result->medianSeconds * 1e3, int(check.repeats),
          flops / result->medianSeconds * 1e-9);
    else
      outs() << format("bench: median %.3f ms over %d runs (kept pairs not "
                       "counted above 2^28 pairs)\n",
                       result->medianSeconds * 1e3, int(check.repeats));
    // Decode is bound by reading the K/V cache: its bytes (all of them,
    // skipped tiles included) per second, beside what memcpy reaches here.
    // Ragged: the packed keys.
    double keyRows = double(sizes.batch) * double(sizes.keys);
    if (!raggedK.empty())
      keyRows =
          double(std::accumulate(raggedK.begin(), raggedK.end(), int64_t(0)));
    double kvBytes = keyRows * double(sizes.kvHeads) *
                     double(sizes.headDim + sizes.valueDim) *
                     double(attnc::getSizeInBytes(dtype));
    double kvRate = kvBytes / result->medianSeconds;
    outs() << format("bench: K/V read %.2f GB/s (%.1f MB of K and V)",
                     kvRate * 1e-9, kvBytes * 1e-6);
    if (!onGPU) {
      double copyRate =
          attnc::measureCopyBandwidth(size_t(1) << 30, threads, 5);
      outs() << format("; memcpy %.2f GB/s (1 GiB, %d thread(s)): %.0f%%",
                       copyRate * 1e-9, threads, 100.0 * kvRate / copyRate);
    }
    outs() << "\n";
    if (runBackward) {
      // dq, dk (3 D) and dv, dp (2 Dv) products per kept pair.
      double backwardFlops = 2.0 * double(result->keptPairs) *
                             (3.0 * sizes.headDim + 2.0 * sizes.valueDim);
      outs() << format("bench: backward median %.3f ms over %d runs%s",
                       result->backwardMedianSeconds * 1e3, int(check.repeats),
                       runCheck ? "" : " (dq, dk, dv; no param gradients)");
      if (result->keptPairs)
        outs() << format(", %.1f GFLOP/s over kept pairs",
                         backwardFlops / result->backwardMedianSeconds * 1e-9);
      outs() << "\n";
    }
  }
  if (!runCheck && !runBench)
    outs()
        << "ran (use --check to compare with the reference, --bench to time)\n";
  return result->passed ? 0 : 1;
}

/// An option given more than once: cl keeps the last without a word.
static std::string checkGivenOnce() {
  for (cl::SubCommand *sub :
       {&cl::SubCommand::getTopLevel(), &runCommand, &maskCommand})
    for (auto &entry : cl::getRegisteredOptions(*sub)) {
      cl::Option *option = entry.second;
      if (option->getNumOccurrencesFlag() == cl::Optional &&
          option->getNumOccurrences() > 1 &&
          llvm::is_contained(option->Categories, &attncCategory))
        return "--" + option->ArgStr.str() + " is given " +
               std::to_string(option->getNumOccurrences()) +
               " times; give it once";
    }
  return "";
}

/// The options of every command that take a range or a value from a set,
/// checked with the flag's name (the API would name its own field); ""
/// when all hold. Options another command reads are refused rather than
/// ignored.
static std::string checkOptions() {
  if (std::string once = checkGivenOnce(); !once.empty())
    return once;
  for (auto [flag, option] : {std::pair("--shape", &runShape),
                              {"--variant", &runVariant},
                              {"--variant", &variantName},
                              {"--ragged", &runRagged},
                              {"--save", &runSave},
                              {"--family", &runFamily},
                              {"--window", &maskWindow},
                              {"-o", &outputFile}})
    if (option->getNumOccurrences() && StringRef(*option).trim().empty())
      return std::string(flag) + " needs a value";
  struct Range {
    const char *flag;
    int64_t value, lo, hi;
    bool given;
  };
  const Range ranges[] = {
      {"--threads", runThreads, 0, 4096, runThreads.getNumOccurrences() > 0},
      {"--repeats", runRepeats, 1, 100000, runRepeats.getNumOccurrences() > 0},
      {"--ids", runIds, 1, int64_t(1) << 31, runIds.getNumOccurrences() > 0},
      {"--tile-q", runTileQ, 1, 4096, runTileQ.getNumOccurrences() > 0},
      {"--tile-kv", runTileKv, 1, 4096, runTileKv.getNumOccurrences() > 0},
      {"--stages", runStages, 1, 4096, runStages.getNumOccurrences() > 0},
      {"--splits", runSplits, 1, 4096, runSplits.getNumOccurrences() > 0},
      {"--paged", runPaged, 1, 1 << 20, runPaged.getNumOccurrences() > 0},
  };
  for (const Range &r : ranges)
    if (r.given && (r.value < r.lo || r.value > r.hi))
      return std::string(r.flag) + " must be between " + std::to_string(r.lo) +
             " and " + std::to_string(r.hi) + "; got " +
             std::to_string(r.value);
  if (runWarps.getNumOccurrences() &&
      !llvm::is_contained({1, 2, 4, 8}, int64_t(runWarps)))
    return "--warps must be 1, 2, 4 or 8; got " + std::to_string(runWarps);
  if (runFamily.getNumOccurrences() &&
      !mlir::attn::symbolizeKernelFamily(runFamily))
    return "--family must be cpu_tiles, cpu_decode, sm80_mma, sm90_wgmma or "
           "split_kv; got '" +
           runFamily + "'";
  if (!runCommand && !maskCommand) {
    // The schedule's options mean nothing to the IR before scheduling.
    bool scheduled = emit != Emit::MLIR && emit != Emit::Fused;
    for (const cl::Option *option : std::initializer_list<const cl::Option *>{
             &runTileQ, &runTileKv, &runWarps, &runStages, &runSplits,
             &runFamily})
      if (option->getNumOccurrences() && !scheduled)
        return "--" + option->ArgStr.str() +
               " sets the schedule: it goes with --emit=scheduled, llvm, obj, "
               "cuda, ptx or cubin";
    return "";
  }
  if (headDim.getNumOccurrences() || valueHeadDim.getNumOccurrences())
    return std::string(runCommand ? "attnc run" : "attnc mask") +
           " takes the head dims from --shape (D=, Dv=); --head-dim and "
           "--value-head-dim are for attnc FILE --emit=...";
  if (emit.getNumOccurrences())
    return "--emit is for attnc FILE --emit=..., not for attnc run or attnc "
           "mask";
  if (runFullLengths && runPaged <= 0)
    return "--full-lengths goes with --paged=PAGE_SIZE";
  if (runDeterministic && !runBackward)
    return "--deterministic goes with --backward";
  if (!runRagged.empty() && runPaged > 0)
    return "--ragged and --paged do not go together yet (a ragged batch over "
           "a paged KV cache)";
  if (!runRagged.empty() && runBackward)
    return "--ragged and --backward do not go together yet (the backward "
           "takes a dense batch)";
  if (runRepeats.getNumOccurrences() && !runBench)
    return "--repeats goes with --bench";
  if (maskWindow.getNumOccurrences() && !maskPairs)
    return "--window goes with --pairs";
  if (runVectorWidth.getNumOccurrences() &&
      !llvm::is_contained({4, 8, 16}, int64_t(runVectorWidth)))
    return "--vector-width must be 4, 8 or 16; got " +
           std::to_string(runVectorWidth);
  return "";
}

/// cl's own messages ("attnc: for the --threads option: 'x' value invalid
/// for integer argument!") with the error prefix of every other message.
static bool parseCommandLine(int argc, char **argv) {
  std::string messages;
  raw_string_ostream stream(messages);
  if (cl::ParseCommandLineOptions(argc, argv, kOverview, &stream))
    return true;
  SmallVector<StringRef> lines;
  StringRef(messages).split(lines, '\n', -1, /*KeepEmpty=*/false);
  for (StringRef line : lines) {
    line.consume_front("attnc: ");
    errs() << (line.starts_with("Did you mean") ? "attnc: note: "
                                                : "attnc: error: ")
           << line << "\n";
  }
  return false;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  // Pass names for --mlir-print-ir-after=... and friends, registered before
  // the options that parse them.
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::attn::registerAttnPasses();
  mlir::attn::registerAttnConversionPasses();
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  mlir::attn::useMLIRCommandLineOptions();
  cl::HideUnrelatedOptions(attncCategory);
  if (!parseCommandLine(argc, argv))
    return 1;

  std::optional<attnc::ast::ScalarType> elem =
      attnc::ast::parseScalarType(dtype);
  if (!elem || !attnc::ast::isFloat(*elem)) {
    errs() << "attnc: error: --dtype must be f32, bf16 or f16; got '" << dtype
           << "'\n";
    return 1;
  }
  // A value given must be one the flag takes (0 means "the default" only
  // when the flag is left out).
  if ((headDim.getNumOccurrences() && (headDim < 1 || headDim > 1024)) ||
      (valueHeadDim.getNumOccurrences() &&
       (valueHeadDim < 1 || valueHeadDim > 1024))) {
    errs() << "attnc: error: --head-dim and --value-head-dim must be between 1 "
              "and 1024\n";
    return 1;
  }
  if (std::string problem = checkOptions(); !problem.empty()) {
    errs() << "attnc: error: " << problem << "\n";
    return 1;
  }
  if (valueHeadDim && !headDim) {
    errs() << "attnc: error: --value-head-dim needs --head-dim\n";
    return 1;
  }

  bool gpuTarget = target != "cpu" && target != "gpu";
  if (gpuTarget || (runCommand && target == "gpu")) {
    if (gpuTarget)
      if (auto t = attnc::getTarget(target); !t) {
        errs() << "attnc: error: " << toString(t.takeError()) << "\n";
        return 1;
      }
    // GPUs take bf16 by default; f32 stays on the CPU.
    if (!dtype.getNumOccurrences())
      elem = attnc::ast::ScalarType::BF16;
    else if (*elem == attnc::ast::ScalarType::F32) {
      errs() << "attnc: error: GPU targets take --dtype=bf16 or f16\n";
      return 1;
    }
  } else if (target != "cpu") {
    errs() << "attnc: error: --target=gpu is for attnc run; name the GPU, e.g. "
              "--target=sm_90a\n";
    return 1;
  }
  bool gpuEmit = emit == Emit::CUDA || emit == Emit::PTX || emit == Emit::Cubin;
  if (!runCommand && gpuEmit != gpuTarget &&
      (gpuEmit || emit == Emit::LLVM || emit == Emit::Obj)) {
    errs() << "attnc: error: "
           << (gpuEmit ? "--emit=cuda|ptx|cubin needs a GPU target, e.g. "
                         "--target=sm_90a"
                       : "--emit=llvm|obj is for --target=cpu")
           << "\n";
    return 1;
  }
  if (gpuEmit && !headDim) {
    errs() << "attnc: error: GPU kernels need the head dim at compile time: "
              "give --head-dim (64, 128, 192 or 256)\n";
    return 1;
  }

  if (runCommand)
    return runVariantCommand(*elem);
  if (maskCommand)
    return attnc::runMaskCommand(
        {inputFile, runVariant, runShape, target, *elem,
         outputFile == "-" ? std::string() : std::string(outputFile), runTileQ,
         runTileKv, maskBatch, maskHead, runSeed, runIds, runParams, runDims,
         maskPairs, maskWindow});

  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFileOrSTDIN(inputFile, /*IsText=*/true);
  if (std::error_code ec = buffer.getError()) {
    errs() << "attnc: error: cannot read '" << inputFile
           << "': " << ec.message() << "\n";
    return 1;
  }
  attnc::SourceFile file(inputFile, (*buffer)->getBuffer().str());
  attnc::DiagnosticEngine diags;
  auto variants = attnc::parseAndCheck(file, diags);
  if (!variants) {
    errs() << diags.render();
    return 1;
  }

  std::optional<attnc::Artifact> artifact;
  switch (emit) {
  case Emit::LLVM:
    artifact = attnc::Artifact::LLVMIR;
    break;
  case Emit::Obj:
    artifact = attnc::Artifact::Object;
    break;
  case Emit::CUDA:
    artifact = attnc::Artifact::CUDA;
    break;
  case Emit::PTX:
    artifact = attnc::Artifact::PTX;
    break;
  case Emit::Cubin:
    artifact = attnc::Artifact::Cubin;
    break;
  default:
    break;
  }
  if (outputFile == "-" && (emit == Emit::Obj || emit == Emit::Cubin)) {
    errs() << "attnc: error: --emit=" << (emit == Emit::Obj ? "obj" : "cubin")
           << " writes a file: give -o FILE"
           << (emit == Emit::Obj ? ".o" : ".cubin") << "\n";
    return 1;
  }

  mlir::MLIRContext ctx;
  // Errors found after the frontend still point into the user's file.
  SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), SMLoc());
  mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &ctx);

  auto fixed = [](int64_t dim) {
    return dim ? std::optional<int64_t>(dim) : std::nullopt;
  };
  attnc::EmitOptions options{*elem, fixed(headDim), fixed(valueHeadDim)};
  llvm::Expected<std::unique_ptr<attnc::Target>> compileTarget =
      attnc::getTarget(target);
  if (!compileTarget) {
    errs() << "attnc: error: " << toString(compileTarget.takeError()) << "\n";
    return 1;
  }
  mlir::attn::ScheduleOptions schedule;
  schedule.family = runFamily;
  schedule.tileQ = runTileQ, schedule.tileKv = runTileKv,
  schedule.warps = runWarps;
  schedule.stages = runStages, schedule.splits = runSplits;
  schedule.pagedKv = pagedKv;
  schedule.ragged = raggedBatch;
  if (runBackward && (*compileTarget)->isGPU()) {
    errs() << "attnc: error: --backward with --emit writes CPU objects only "
              "so far (the GPU's backward runs through the JIT: attnc run "
              "--backward)\n";
    return 1;
  }
  attnc::Compilation compilation(**compileTarget, schedule,
                                 mlir::attn::LoweringOptions{runBackward});
  attnc::Stage stage = emit == Emit::MLIR    ? attnc::Stage::Cascade
                       : emit == Emit::Fused ? attnc::Stage::Fused
                                             : attnc::Stage::Scheduled;
  if (mlir::failed(compilation.build(ctx, *variants, options)) ||
      mlir::failed(compilation.advanceTo(stage)))
    return 1;
  if (artifact)
    return emitArtifact(compilation, *artifact);

  std::string error;
  std::unique_ptr<ToolOutputFile> output =
      mlir::openOutputFile(outputFile, &error);
  if (!output) {
    errs() << "attnc: error: " << error << "\n";
    return 1;
  }
  compilation.getModule()->print(output->os());
  output->os() << "\n";
  output->keep();
  return 0;
}
