//===- RegionEmitter.cpp - attn regions as CUDA device functions ----------===//

#include "Conversion/AttnToCUDA/RegionEmitter.h"
#include "Conversion/AttnToCUDA/ScalarOpsToCUDA.h"

#include "dialect/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;

FailureOr<std::string> RegionEmitter::elemStruct(Location loc, Type type) {
  if (type.isF32())
    return std::string("attnc_cuda::ElemF32");
  if (type.isBF16())
    return std::string("attnc_cuda::ElemBF16");
  if (type.isF16())
    return std::string("attnc_cuda::ElemF16");
  if (type.isInteger(32))
    return std::string("attnc_cuda::ElemI32");
  if (type.isInteger(64))
    return std::string("attnc_cuda::ElemI64");
  if (type.isInteger(1))
    return std::string("attnc_cuda::ElemBool");
  return emitError(loc) << "the CUDA backend cannot read params of type "
                        << type;
}

/// Params are the variant's block arguments after q, k and v.
FailureOr<int64_t> RegionEmitter::paramSlot(Operation *user, Value param) {
  auto arg = dyn_cast<BlockArgument>(param);
  if (!arg || arg.getOwner() != &variantBody || arg.getArgNumber() < 3)
    return user->emitError("the CUDA backend reads only the variant's params "
                           "here");
  return int64_t(arg.getArgNumber() - 3);
}

FailureOr<std::string> RegionEmitter::operand(Operation *user, Value value) {
  if (auto it = names.find(value); it != names.end())
    return it->second;
  // Values from above the region: hoisted constants and scalar params.
  if (auto constant = value.getDefiningOp<arith::ConstantOp>())
    return constantLiteral(user, constant.getValue());
  if (auto arg = dyn_cast<BlockArgument>(value);
      arg && arg.getOwner() == &variantBody && arg.getArgNumber() >= 3) {
    int64_t slot = arg.getArgNumber() - 3;
    Type type = arg.getType();
    std::string field = "P.s[" + std::to_string(slot) + "]";
    if (type.isF32() || type.isF16() || type.isBF16())
      return "float(" + field + ".f)";
    if (type.isInteger(1))
      return "(" + field + ".i != 0)";
    if (type.isInteger(64))
      return "(long long)(" + field + ".i)";
    if (type.isIntOrIndex())
      return "int(" + field + ".i)";
    return user->emitError("the CUDA backend cannot pass param of type ")
           << type;
  }
  return user->emitError("the CUDA backend cannot use a value defined outside "
                         "the region unless it is a constant or a param");
}

LogicalResult RegionEmitter::assign(Operation &op, const Twine &expr) {
  Value result = op.getResult(0);
  FailureOr<std::string> type = scalarCType(op.getLoc(), result.getType());
  if (failed(type))
    return failure();
  std::string name = "v" + std::to_string(counter++);
  os << "    " << *type << " " << name << " = " << expr << ";\n";
  names[result] = name;
  return success();
}

LogicalResult RegionEmitter::emitOp(Operation &op) {
  SmallVector<std::string> in;
  for (Value v : op.getOperands()) {
    // Tensor params are named by their slot, not as values.
    if (isa<TensorType>(v.getType())) {
      in.push_back("");
      continue;
    }
    FailureOr<std::string> name = operand(&op, v);
    if (failed(name))
      return failure();
    in.push_back(*name);
  }
  if (std::optional<FailureOr<std::string>> expr = spellScalarOp(op, in))
    return failed(*expr) ? failure() : assign(op, **expr);

  return llvm::TypeSwitch<Operation *, LogicalResult>(&op)
      .Case([&](BranchOp branch) -> LogicalResult {
        // Branch i's values, from the output_mod's leading arguments.
        const char *array = branch.getStat() == BranchStat::Out   ? "bo"
                            : branch.getStat() == BranchStat::Lse ? "bl"
                                                                  : "bs";
        return assign(op, std::string(array) + "[" +
                              std::to_string(branch.getIndex() - 1) + "]");
      })
      .Case([&](LoadOp load) -> LogicalResult {
        FailureOr<int64_t> slot = paramSlot(&op, load.getParam());
        FailureOr<std::string> elem = elemStruct(
            op.getLoc(),
            llvm::cast<TensorType>(load.getParam().getType()).getElementType());
        if (failed(slot) || failed(elem))
          return failure();
        // A read out of bounds reports 1 + its `attn.read` id (abi.h).
        auto read = op.getAttrOfType<IntegerAttr>("attn.read");
        std::string expr =
            "attnc_cuda::load_param<" + *elem + ">(P.s[" +
            std::to_string(*slot) + "], " + std::to_string(*slot + 1) + ", " +
            std::to_string(read ? read.getInt() + 1 : 0) + ", status";
        for (size_t i = 1; i < in.size(); ++i)
          expr += ", " + in[i];
        return assign(op, expr + ")");
      })
      .Case([&](LoadRangeOp range) -> LogicalResult {
        FailureOr<int64_t> slot = paramSlot(&op, range.getParam());
        Type elemType =
            llvm::cast<TensorType>(range.getParam().getType()).getElementType();
        FailureOr<std::string> elem = elemStruct(op.getLoc(), elemType);
        FailureOr<std::string> type = scalarCType(op.getLoc(), elemType);
        if (failed(slot) || failed(elem) || failed(type))
          return failure();
        std::string lo = "v" + std::to_string(counter++);
        std::string hi = "v" + std::to_string(counter++);
        os << "    " << *type << " " << lo << ", " << hi << ";\n"
           << "    attnc_cuda::load_range<" << *elem << ">(P.s[" << *slot
           << "], " << in[1] << ", " << in[2] << ", " << lo << ", " << hi
           << ");\n";
        names[range.getMin()] = lo;
        names[range.getMax()] = hi;
        return success();
      })
      .Case([&](AccumulateOp acc) -> LogicalResult {
        // The grad hooks take the gradients' slots as `G` (sm80_backward.cuh).
        FailureOr<int64_t> slot = paramSlot(&op, acc.getParam());
        if (failed(slot))
          return failure();
        std::string s = std::to_string(*slot);
        os << "    attnc_cuda::accumulate_grad(G.g[" << s << "], P.s[" << s
           << "], " << in[0];
        for (size_t i = 2; i < in.size(); ++i)
          os << ", " << in[i];
        os << ");\n";
        return success();
      })
      .Case([&](YieldOp) {
        os << "    return " << in[0] << ";\n";
        return success();
      })
      .Default([&](Operation *other) {
        return other->emitError("the CUDA backend cannot lower '")
               << other->getName() << "' in a variant region";
      });
}

LogicalResult
RegionEmitter::emitParameters(Region &region, RegionRole role,
                              function_ref<bool(StringRef)> keep) {
  MLIRContext *ctx = variantBody.getParentOp()->getContext();
  ArrayRef<StringRef> argNames = getRegionArgumentNames(role);
  SmallVector<Type> argTypes = getRegionArgumentTypes(ctx, role);
  bool first = true;
  for (auto [i, type] : llvm::enumerate(argTypes)) {
    if (!keep(argNames[i]))
      continue;
    FailureOr<std::string> t =
        scalarCType(variantBody.getParentOp()->getLoc(), type);
    if (failed(t))
      return failure();
    os << (first ? "" : ", ") << *t << " " << argNames[i];
    first = false;
    if (!region.empty())
      names[region.front().getArgument(i)] = argNames[i].str();
  }
  return success();
}

LogicalResult
RegionEmitter::emitFunction(Region &region, RegionRole role, StringRef name,
                            StringRef identity, StringRef leading,
                            function_ref<bool(Operation *)> member,
                            const DenseMap<Value, std::string> *given) {
  MLIRContext *ctx = variantBody.getParentOp()->getContext();
  FailureOr<std::string> result = scalarCType(
      variantBody.getParentOp()->getLoc(), getRegionYieldType(ctx, role));
  if (failed(result))
    return failure();
  os << "  static __device__ __forceinline__ " << *result << " " << name << "("
     << leading;
  names.clear();
  if (failed(emitParameters(region, role, [](StringRef) { return true; })))
    return failure();
  os << ", const Params &P, int &status) {\n";
  if (region.empty()) {
    os << "    return " << identity << ";\n  }\n";
    return success();
  }
  if (given)
    for (auto &[value, name] : *given)
      names[value] = name;
  for (Operation &op : region.front())
    if ((!member || member(&op)) && failed(emitOp(op)))
      return failure();
  os << "  }\n";
  return success();
}

LogicalResult RegionEmitter::emitPairHook(Region &region, RegionRole role,
                                          StringRef name, StringRef typePrefix,
                                          StringRef identity) {
  Location loc = variantBody.getParentOp()->getLoc();

  // Each op's stage is what it depends on: OnQuery runs per row, OnKey per
  // key, OnPair per pair (the yield too), OnNeither where it is read.
  // Constants are spelled as literals where they are used (operand()), in
  // whichever function.
  DenseMap<Value, unsigned> stageOf =
      getIndexDependence(region, role, headPerRow);
  SmallVector<Operation *> ops;
  if (!region.empty())
    for (Operation &op : region.front())
      if (!isa<arith::ConstantOp>(op))
        ops.push_back(&op);
  auto stage = [&](Operation *op) {
    return op->getNumResults() ? stageOf.lookup(op->getResult(0)) : OnPair;
  };
  // Uniform values are made in the row function where the row or pair
  // stage reads them, and again in the column function where that does
  // (cheap: the compiler merges the copies of per-CTA values).
  llvm::SetVector<Value> rowOut, colOut;
  llvm::SmallPtrSet<Operation *, 8> rowUniform, colUniform;
  auto inRow = [&](Operation *op) {
    return stage(op) == OnQuery || rowUniform.contains(op);
  };
  auto inCol = [&](Operation *op) {
    return stage(op) == OnKey || colUniform.contains(op);
  };
  for (Operation *op : llvm::reverse(ops)) {
    unsigned s = stage(op);
    bool rowReads = inRow(op), colReads = inCol(op);
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (!def || isa<arith::ConstantOp>(def))
        continue;
      unsigned from = stageOf.lookup(operand);
      if (s == OnPair && from != OnPair)
        (from == OnKey ? colOut : rowOut).insert(operand);
      if (from == OnNeither && (rowReads || s == OnPair))
        rowUniform.insert(def);
      if (from == OnNeither && colReads)
        colUniform.insert(def);
    }
  }

  // Per stage: the function NAME_<fn> fills struct <TYPE><type> (the
  // values the pair stage reads, fields named by position), taking the
  // index `index` besides b and h; the pair stage reads it as `var`.
  struct StageFunction {
    StringRef fn, type, var, index;
    llvm::SetVector<Value> &out;
    function_ref<bool(Operation *)> member;
  };
  StageFunction stages[] = {{"row", "Row", "r", "q_idx", rowOut, inRow},
                            {"col", "Col", "c", "kv_idx", colOut, inCol}};
  DenseMap<Value, std::string> fieldOf;
  for (StageFunction &f : stages) {
    os << "  struct " << typePrefix << f.type << " {";
    for (auto [i, value] : llvm::enumerate(f.out)) {
      FailureOr<std::string> t = scalarCType(loc, value.getType());
      if (failed(t))
        return failure();
      std::string field = "f" + std::to_string(i);
      os << " " << *t << " " << field << ";";
      fieldOf[value] = (f.var + "." + field).str();
    }
    os << " };\n";
  }
  for (StageFunction &f : stages) {
    os << "  static __device__ __forceinline__ void " << name << "_" << f.fn
       << "(" << typePrefix << f.type << " &" << f.var << ", ";
    names.clear();
    if (failed(emitParameters(region, role, [&](StringRef arg) {
          return arg == "b" || arg == "h" || arg == f.index;
        })))
      return failure();
    os << ", const Params &P, int &status) {\n";
    for (Operation *op : ops)
      if (f.member(op) && failed(emitOp(*op)))
        return failure();
    for (Value value : f.out)
      os << "    " << fieldOf[value] << " = " << names[value] << ";\n";
    os << "  }\n";
  }

  // NAME: the per-pair ops (the yield among them) over the two structs.
  std::string structs =
      ("const " + typePrefix + "Row &r, const " + typePrefix + "Col &c, ")
          .str();
  return emitFunction(
      region, role, name, identity, structs,
      [&](Operation *op) { return stage(op) == OnPair; }, &fieldOf);
}
