//===- Mask.cpp - attnc mask: a variant's block map, drawn ----------------===//

#include "Mask.h"
#include "CallOptions.h"
#include "MaskMap.h"
#include "MaskPng.h"
#include "MaskText.h"
#include "Reference/ParamShapes.h"
#include "Support/Error.h"

#include "Frontend/Frontend.h"
#include "Target/Compilation.h"
#include "dialect/AttnOps.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

using namespace attnc;
using llvm::outs;

namespace {

/// The terminal map's most cells a side; larger maps merge tiles.
constexpr int64_t kMaxCells = 64;
/// --pairs draws at most this many queries and keys.
constexpr int64_t kMaxWindow = 256;
/// Kept pairs are counted when partial tiles hold at most this many.
constexpr int64_t kMaxEvaluatedPairs = int64_t(1) << 24;

/// A --pairs window: queries [q0, q0 + rows), keys [k0, k0 + cols).
struct Window {
  int64_t q0 = 0, k0 = 0, rows = 32, cols = 64;
};

llvm::Expected<Window> parseWindow(llvm::StringRef text,
                                   const TileSpace &space) {
  Window w;
  if (!text.empty()) {
    llvm::SmallVector<llvm::StringRef> items;
    text.split(items, ',');
    int64_t *fields[] = {&w.q0, &w.k0, &w.rows, &w.cols};
    bool bad = items.size() != 4;
    for (size_t i = 0; !bad && i < 4; ++i)
      bad = items[i].trim().getAsInteger(10, *fields[i]) || *fields[i] < 0;
    if (bad || w.rows < 1 || w.cols < 1)
      return makeError("--window: expected Q0,K0,ROWS,COLS (first query, "
                       "first key, rows >= 1, columns >= 1); got '" +
                       text + "'");
  }
  if (w.q0 >= space.queries || w.k0 >= space.keys)
    return makeError("--window: query " + llvm::Twine(w.q0) + ", key " +
                     llvm::Twine(w.k0) +
                     " is outside N=" + llvm::Twine(space.queries) +
                     " M=" + llvm::Twine(space.keys));
  if (w.rows > kMaxWindow || w.cols > kMaxWindow)
    return makeError("--window: at most " + llvm::Twine(kMaxWindow) + " x " +
                     llvm::Twine(kMaxWindow) + " pairs are drawn");
  w.rows = std::min(w.rows, space.queries - w.q0);
  w.cols = std::min(w.cols, space.keys - w.k0);
  return w;
}

/// Whether `region` reads a tensor param: then the kernels hold its classes
/// in a block map built at run time.
bool readsTensorParams(mlir::Region &region) {
  bool reads = false;
  region.walk([&](mlir::Operation *op) {
    reads |= mlir::isa<mlir::attn::LoadOp, mlir::attn::LoadRangeOp>(op);
  });
  return reads;
}

/// The params the map was drawn with: scalars by value, tensors by origin.
void printParams(mlir::attn::VariantOp variant, const RefInputs &inputs,
                 const MaskOptions &options) {
  std::vector<std::string> items;
  for (auto [i, arg] : llvm::enumerate(variant.getParams())) {
    std::string name = variant.getArgumentName(arg.getArgNumber());
    const RefArray &value = inputs.params[i];
    if (value.shape.empty()) {
      std::string text;
      llvm::raw_string_ostream(text) << llvm::format("%g", value.data[0]);
      items.push_back(name + "=" + text);
      continue;
    }
    mlir::Type elem =
        mlir::cast<mlir::RankedTensorType>(arg.getType()).getElementType();
    std::string drawn =
        elem.isInteger(1) ? ", fair coins"
        : elem.isInteger()
            ? ", ids 0.." +
                  std::to_string(std::max<int64_t>(1, options.idRange) - 1)
            : "";
    items.push_back(name + " random (seed " + std::to_string(options.seed) +
                    drawn + ")");
  }
  if (!items.empty())
    outs() << "params: " << llvm::join(items, ", ") << "\n";
}

void printKeptPairs(int64_t kept, int64_t total, llvm::StringRef where) {
  outs() << llvm::format("kept pairs: %lld of %lld (%.1f%%)", (long long)kept,
                         (long long)total, 100.0 * double(kept) / double(total))
         << where << "\n";
}

int writePng(const MaskOptions &options, const MaskGrid &grid,
             llvm::StringRef cellName) {
  if (options.outputFile.empty())
    return 0;
  llvm::Expected<PngLayout> png = writeGridPng(options.outputFile, grid);
  if (!png) {
    return reportError(png.takeError());
  }
  outs() << "wrote " << options.outputFile << ": " << png->width << " x "
         << png->height << " px, " << png->cellPixels << " px per " << cellName;
  if (png->rowStep > 1 || png->colStep > 1)
    outs() << " of " << png->rowStep << " x " << png->colStep << " " << cellName
           << "s";
  outs() << "\n";
  return 0;
}

/// `--pairs`: the mask per pair of the window.
int drawPairs(IntRegionEvaluator &evaluator, mlir::attn::FlashOp flash,
              const TileSpace &space, const Window &w,
              const MaskOptions &options) {
  llvm::Expected<MaskGrid> pairs =
      evaluatePairs(evaluator, flash, space, w.q0, w.k0, w.rows, w.cols);
  if (!pairs) {
    return reportError(pairs.takeError());
  }
  outs() << "pairs: queries " << w.q0 << ".." << w.q0 + w.rows - 1
         << " (rows), keys " << w.k0 << ".." << w.k0 + w.cols - 1
         << " (columns)\n";
  drawGrid(outs(), *pairs, w.q0, 1);
  outs() << "legend: " << getGlyph(Cell::Full) << " kept  "
         << getGlyph(Cell::Skipped) << " dropped\n";
  printKeptPairs(pairs->count(Cell::Full), w.rows * w.cols, " in the window");
  return writePng(options, *pairs, "pair");
}

/// The tile map: classes, counts, kept pairs.
int drawTiles(IntRegionEvaluator &evaluator, mlir::attn::FlashOp flash,
              const TileSpace &space, const MaskOptions &options) {
  llvm::Expected<MaskGrid> tiles = classifyTiles(evaluator, flash, space);
  if (!tiles) {
    return reportError(tiles.takeError());
  }
  Downsampled shown = downsample(*tiles, kMaxCells, kMaxCells);
  outs() << "rows: query tiles (first query shown), columns: key tiles";
  if (shown.rowStep > 1 || shown.colStep > 1)
    outs() << "; each cell " << shown.rowStep << " x " << shown.colStep
           << " tiles (at most " << kMaxCells << " x " << kMaxCells
           << " cells), partial where they differ";
  outs() << "\n";
  drawGrid(outs(), shown.grid, 0, shown.rowStep * space.tileQ);
  outs() << "legend: " << getGlyph(Cell::Full) << " full (no mask evaluated)  "
         << getGlyph(Cell::Partial) << " partial (mask per pair)  "
         << getGlyph(Cell::Skipped) << " skipped\n";
  outs() << "tiles: " << tiles->count(Cell::Full) << " full, "
         << tiles->count(Cell::Partial) << " partial, "
         << tiles->count(Cell::Skipped) << " skipped of " << tiles->cells.size()
         << "\n";
  llvm::Expected<std::optional<int64_t>> kept =
      countKeptInTiles(evaluator, flash, space, *tiles, kMaxEvaluatedPairs);
  if (!kept) {
    return reportError(kept.takeError());
  }
  int64_t total = space.queries * space.keys;
  if (*kept)
    printKeptPairs(**kept, total, "");
  else
    outs() << "kept pairs: not counted (the partial tiles hold over 2^24 "
              "pairs)\n";
  return writePng(options, *tiles, "tile");
}

} // namespace

int attnc::runMaskCommand(const MaskOptions &options) {
  llvm::Expected<std::string> source = readInputFile(options.inputFile);
  if (!source)
    return reportError(source.takeError());
  llvm::Expected<AttnSizes> sizes = parseShape(options.shape);
  if (!sizes)
    return reportError(sizes.takeError());
  llvm::Expected<std::map<std::string, double>> scalars =
      parseParamValues(options.params);
  if (!scalars)
    return reportError(scalars.takeError());
  if (options.batch < 0 || options.batch >= sizes->batch || options.head < 0 ||
      options.head >= sizes->heads)
    return reportError(makeError(
        "--batch=" + llvm::Twine(options.batch) +
        " --head=" + llvm::Twine(options.head) + ": the shape has B=" +
        llvm::Twine(sizes->batch) + " H=" + llvm::Twine(sizes->heads)));

  SourceFile file(options.inputFile, *source);
  DiagnosticEngine diags;
  auto specs = parseAndCheck(file, diags);
  if (!specs) {
    llvm::errs() << diags.render();
    return 1;
  }
  llvm::Expected<std::unique_ptr<Target>> target = getTarget(options.target);
  if (!target)
    return reportError(target.takeError());
  mlir::MLIRContext ctx;
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(*source, options.inputFile),
      llvm::SMLoc());
  mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &ctx);
  mlir::attn::ScheduleOptions schedule;
  schedule.tileQ = options.tileQ, schedule.tileKv = options.tileKv;
  Compilation compilation(**target, schedule);
  // GPU schedules depend on the head dims: those of --shape.
  bool gpu = options.target != "cpu";
  EmitOptions emit{options.dtype,
                   gpu ? std::optional<int64_t>(sizes->headDim) : std::nullopt,
                   gpu ? std::optional<int64_t>(sizes->valueDim)
                       : std::nullopt};
  if (mlir::failed(compilation.build(ctx, *specs, emit)))
    return 1;
  mlir::ModuleOp module = compilation.getModule();
  if (llvm::Error e = selectOneVariant(module, options.variant))
    return reportError(std::move(e));
  if (mlir::failed(compilation.advanceTo(Stage::Scheduled)))
    return 1;
  auto variant = *module.getOps<mlir::attn::VariantOp>().begin();
  mlir::attn::FlashOp flash;
  variant.walk([&](mlir::attn::FlashOp op) { flash = op; });
  if (!flash || !flash.getScheduleAttr())
    return reportError(
        makeError("variant '" + variant.getSymName() +
                  "' did not fuse into one scheduled attn.flash"));

  // Only the params' values matter: q, k and v get their shapes alone.
  llvm::Expected<std::map<std::string, std::vector<int64_t>>> dims =
      parseParamDims(options.dims);
  if (!dims)
    return reportError(dims.takeError());
  ParamSizing sizing{*scalars, std::max<int64_t>(1, options.idRange), *dims,
                     std::nullopt};
  llvm::Expected<ParamShapes> shapes = sizeParams(variant, *sizes, sizing);
  if (!shapes)
    return reportError(shapes.takeError());
  const int64_t maxElements = int64_t(1) << 30;
  if (countRandomInputs(*sizes, *shapes, /*withQKV=*/false) > maxElements)
    return reportError(
        makeError("the params of this shape would take over 8 GiB "
                  "as doubles; use smaller sizes"));
  RefInputs inputs = makeRandomInputs(variant, *sizes, options.seed, *shapes,
                                      std::max<int64_t>(1, options.idRange),
                                      /*withQKV=*/false);
  if (llvm::Error e = setScalarParams(variant, *scalars, inputs))
    return reportError(std::move(e));

  auto scheduleAttr = flash.getScheduleAttr();
  TileSpace space;
  space.batch = options.batch, space.head = options.head;
  space.queries = sizes->queries, space.keys = sizes->keys;
  space.tileQ = scheduleAttr.getTileQ(),
  space.tileKv = scheduleAttr.getTileKv();
  llvm::Expected<Window> window = Window();
  if (options.pairs)
    window = parseWindow(options.window, space);
  if (!window)
    return reportError(window.takeError());
  outs() << "variant " << variant.getSymName() << ": b=" << space.batch
         << " h=" << space.head << " of B=" << sizes->batch
         << " H=" << sizes->heads << ", N=" << space.queries
         << " M=" << space.keys << "\n";
  outs() << "tiles " << space.tileQ << " x " << space.tileKv << " ("
         << mlir::attn::stringifyKernelFamily(scheduleAttr.getFamily())
         << " on " << options.target << "), a grid of " << space.rows() << " x "
         << space.cols() << "\n";
  printParams(variant, inputs, options);
  outs() << "classes: "
         << (!flash.hasMask()        ? "no mask, every tile full"
             : !flash.hasTileClass() ? "no classifier, every tile partial"
             : readsTensorParams(flash.getTileClass())
                 ? "the run-time block map (tile_class on the params)"
                 : "tile_class, in closed form of the tile bounds")
         << "\n";
  // The selection depends on q and k, which this map has no values of.
  if (flash.hasSelection())
    outs() << "selection: top-" << flash.getSelectionAttr().getTopK()
           << " blocks of " << flash.getSelectionAttr().getBlock()
           << " keys per query, from q and k at run time: not drawn (the "
              "mask's classes bound it)\n";

  IntRegionEvaluator evaluator(variant, inputs);
  return options.pairs ? drawPairs(evaluator, flash, space, *window, options)
                       : drawTiles(evaluator, flash, space, options);
}
