//===- Sema.cpp - the checker of the attnc DSL ----------------------------===//
//
// Resolves names, inlines function calls, checks and converts types, and
// collects each `attention` into a VariantSpec. Every error is reported at the
// culprit's location (with notes at the call sites that led there) and
// checking goes on, so that one run reports all of a file's mistakes.
//
//===----------------------------------------------------------------------===//

#include "Frontend/Sema.h"
#include "Frontend/Select.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

using namespace attnc;
using namespace attnc::ast;
using namespace attnc::sema;

namespace {

/// The largest finite f32, as a double.
constexpr double kF32Max = FLT_MAX;

/// Which variables an expression may read.
enum class Context { Score, Mask, Sink, Output, Constant, Any };

struct VarInfo {
  const char *name;
  Var var;
  ScalarType type;
};
constexpr VarInfo kVars[] = {
    {"score", Var::Score, ScalarType::F32},
    {"b", Var::Batch, ScalarType::I64},
    {"h", Var::Head, ScalarType::I64},
    {"q_idx", Var::QIdx, ScalarType::I64},
    {"kv_idx", Var::KvIdx, ScalarType::I64},
    {"o", Var::Output, ScalarType::F32},
    {"d", Var::Dim, ScalarType::I64},
    {"lse", Var::Lse, ScalarType::F32},
    {"row_sum", Var::RowSum, ScalarType::F32},
};

bool isAvailable(Var var, Context ctx) {
  switch (ctx) {
  case Context::Any:
    return true;
  case Context::Constant:
    return false;
  case Context::Score:
    return var == Var::Score || var == Var::Batch || var == Var::Head ||
           var == Var::QIdx || var == Var::KvIdx;
  case Context::Mask:
    return var == Var::Batch || var == Var::Head || var == Var::QIdx ||
           var == Var::KvIdx;
  case Context::Sink:
    return var == Var::Batch || var == Var::Head;
  case Context::Output:
    return var == Var::Output || var == Var::Batch || var == Var::Head ||
           var == Var::QIdx || var == Var::Dim || var == Var::Lse ||
           var == Var::RowSum;
  }
  return false;
}

const char *describeContext(Context ctx) {
  switch (ctx) {
  case Context::Score:
    return "a score sees score, b, h, q_idx and kv_idx";
  case Context::Mask:
    return "a mask sees b, h, q_idx and kv_idx";
  case Context::Sink:
    return "a sink sees b and h";
  case Context::Output:
    return "an output sees o, b, h, q_idx, d, lse and row_sum";
  case Context::Constant:
    return "this must be a constant";
  case Context::Any:
    return "";
  }
  return "";
}

const char *contextName(Context ctx) {
  switch (ctx) {
  case Context::Score:
    return "a score";
  case Context::Mask:
    return "a mask";
  case Context::Sink:
    return "a sink";
  case Context::Output:
    return "an output";
  case Context::Constant:
    return "a constant";
  case Context::Any:
    return "a function";
  }
  return "";
}

struct MathInfo {
  const char *name;
  MathFn fn;
  unsigned arity;
};
constexpr MathInfo kMath[] = {
    {"exp", MathFn::Exp, 1},     {"exp2", MathFn::Exp2, 1},
    {"log", MathFn::Log, 1},     {"log2", MathFn::Log2, 1},
    {"sqrt", MathFn::Sqrt, 1},   {"rsqrt", MathFn::Rsqrt, 1},
    {"tanh", MathFn::Tanh, 1},   {"sigmoid", MathFn::Sigmoid, 1},
    {"floor", MathFn::Floor, 1}, {"ceil", MathFn::Ceil, 1},
    {"abs", MathFn::Abs, 1},     {"min", MathFn::Min, 2},
    {"max", MathFn::Max, 2},     {"pow", MathFn::Pow, 2},
};

const MathInfo *lookupMath(std::string_view name) {
  for (const MathInfo &info : kMath)
    if (name == info.name)
      return &info;
  return nullptr;
}

bool isNormalizerName(std::string_view name) {
  return name == "softmax" || name == "sigmoid" || name == "relu" ||
         name == "none";
}

std::string typeName(ScalarType t) { return std::string(ast::toString(t)); }

bool allIntegers(const std::vector<TExprPtr> &args) {
  for (const TExprPtr &arg : args)
    if (!isInteger(arg->type))
      return false;
  return true;
}

bool isReservedName(std::string_view name) {
  for (const VarInfo &info : kVars)
    if (name == info.name)
      return true;
  return false;
}

/// Edits (insert, delete, replace) from a to b.
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min(
          {row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

/// "; did you mean 'x'?" for the candidate nearest `name` (within a third
/// of its length, at least one edit), else "; in scope here: ..." listing
/// them (`what` names the kind), or nothing when there are none.
std::string suggest(std::string_view name, std::vector<std::string> candidates,
                    const char *what) {
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()),
                   candidates.end());
  size_t best = std::max<size_t>(1, name.size() / 3) + 1;
  const std::string *nearest = nullptr;
  for (const std::string &c : candidates)
    if (size_t d = editDistance(name, c); d < best)
      best = d, nearest = &c;
  if (nearest)
    return "; did you mean '" + *nearest + "'?";
  if (candidates.empty())
    return "";
  std::string list;
  for (size_t i = 0; i < candidates.size() && i < 16; ++i)
    list += (i ? ", " : "") + candidates[i];
  return std::string("; ") + what + " in scope here: " + list +
         (candidates.size() > 16 ? ", ..." : "");
}

/// The call sizes, which expressions read as i64 params of their own.
bool isSizeName(std::string_view name) {
  return name == "B" || name == "H" || name == "Hkv" || name == "N" ||
         name == "M" || name == "D" || name == "Dv";
}

/// What a name stands for inside a function body or a variant body.
struct Binding {
  enum class Kind { Value, Tensor, Let };
  Kind kind = Kind::Value;
  TExprPtr value;            // Value
  unsigned tensorParam = 0;  // Tensor: the variant's param
  TypeSpec tensorType;       // Tensor: its declared type
  const Stmt *let = nullptr; // Let
  unsigned order = 0;        // Let: position among the lets
  unsigned scoreVersion = 0; // Let: score statements before it
  SourceRange range;
};

/// The names visible to an expression.
struct Env {
  const std::map<std::string, Binding> *names = nullptr;
  bool inFunction = false;
  unsigned visibleLets = ~0u; // lets with a smaller order are visible
};

constexpr unsigned kNoParam = ~0u;
constexpr size_t kMaxNodes = 1000000;
constexpr size_t kMaxCallDepth = 32;

class Checker {
public:
  Checker(DiagnosticEngine &diags) : diags(diags) {}

  void addFunctions(const Module &module, bool isStdlib);
  void checkFunctionsStandalone(const Module &module);
  std::optional<VariantSpec> checkAttention(const Attention &attention);

private:
  // Diagnostics.
  void error(SourceRange range, const std::string &message);

  // Node construction.
  TExprPtr node(TExpr &&e);
  TExprPtr constInt(int64_t v, ScalarType t, SourceRange r,
                    bool literal = false);
  TExprPtr constFloat(double v, ScalarType t, SourceRange r);
  TExprPtr constBool(bool v, SourceRange r);
  TExprPtr cast(TExprPtr e, ScalarType to);

  // Conversions.
  TExprPtr convert(TExprPtr e, ScalarType to, SourceRange where,
                   const std::string &what);
  TExprPtr explicitCast(TExprPtr e, ScalarType to, SourceRange where);
  std::optional<ScalarType> commonType(const TExprPtr &a, const TExprPtr &b);

  // Expressions.
  TExprPtr check(const ExprPtr &e, const Env &env);
  TExprPtr checkName(const Expr &e, const Env &env);
  TExprPtr checkIndex(const Expr &e, const Env &env);
  TExprPtr checkBranchRead(const Expr &e, const Env &env, Var var);
  TExprPtr checkUnary(const Expr &e, const Env &env);
  TExprPtr checkBinary(const Expr &e, const Env &env);
  TExprPtr checkTernary(const Expr &e, const Env &env);
  TExprPtr checkCall(const Expr &e, const Env &env);
  TExprPtr inlineCall(const Expr &call, const Function &fn, const Env &env);
  const Binding *lookup(const std::string &name, const Env &env);
  /// The names an expression could have meant: values (bindings, the
  /// context's variables, scalar params), tensors, or functions.
  std::vector<std::string> namesInScope(const Env &env, bool tensors);
  std::vector<std::string> functionNames();
  bool resolveTensor(const Expr &e, const Env &env, unsigned &param,
                     TypeSpec &type);
  std::optional<double> evalConstant(const TExprPtr &e);

  // Variant statements.
  void checkParams(const Attention &attention, VariantSpec &spec);
  bool checkParamName(const Param &param, const char *what, bool declared);
  std::optional<TExprPtr> checkDefault(const Param &param);
  TExprPtr checkStatement(const Stmt &stmt, Context ctx, ScalarType result,
                          const std::string &what);

  DiagnosticEngine &diags;
  std::map<std::string, const Function *> functions;
  std::set<std::string> stdlibFunctions;
  std::set<const Function *> brokenFunctions;

  // State of the variant being checked.
  std::vector<ParamSpec> *params = nullptr;
  std::map<std::string, unsigned> paramIndex;
  std::map<std::string, Binding> lets;
  std::map<std::pair<const Stmt *, int>, std::pair<TExprPtr, bool>> letCache;
  Context ctx = Context::Any;
  unsigned scoreVersion = 0;
  bool readsScore = false;
  SourceRange lseRead; // the first read of lse (only softmax defines it)
  // `branches = split(K)`: K, and the output statements checked so far
  // (only the first reads o[i], lse[i] and row_sum[i]).
  int64_t branches = 1;
  bool branchesFailed = false; // reported at the statement: o[i] says no more
  unsigned outputsSeen = 0;
  std::vector<std::pair<const Function *, SourceRange>> callStack;
  size_t numNodes = 0;
  bool tooLarge = false;
};

} // namespace

//===----------------------------------------------------------------------===//
// Diagnostics and nodes
//===----------------------------------------------------------------------===//

void Checker::error(SourceRange range, const std::string &message) {
  diags.error(range, message);
  for (auto it = callStack.rbegin(); it != callStack.rend(); ++it)
    if (it->second.file)
      diags.note(it->second, "in the call of '" + it->first->name + "' here");
}

TExprPtr Checker::node(TExpr &&e) {
  if (++numNodes > kMaxNodes) {
    if (!tooLarge)
      error(e.range, "this variant expands to more than " +
                         std::to_string(kMaxNodes) + " operations");
    tooLarge = true;
    return nullptr;
  }
  if (!callStack.empty())
    e.callSite = callStack.front().second;
  return std::make_shared<TExpr>(std::move(e));
}

TExprPtr Checker::constInt(int64_t v, ScalarType t, SourceRange r,
                           bool literal) {
  TExpr e{TExpr::Kind::Const, t, r};
  e.intValue = v;
  e.untypedLiteral = literal;
  return node(std::move(e));
}

TExprPtr Checker::constFloat(double v, ScalarType t, SourceRange r) {
  TExpr e{TExpr::Kind::Const, t, r};
  e.floatValue = v;
  return node(std::move(e));
}

TExprPtr Checker::constBool(bool v, SourceRange r) {
  TExpr e{TExpr::Kind::Const, ScalarType::Bool, r};
  e.boolValue = v;
  return node(std::move(e));
}

TExprPtr Checker::cast(TExprPtr e, ScalarType to) {
  if (e->type == to)
    return e;
  TExpr c{TExpr::Kind::Cast, to, e->range};
  c.operands = {e};
  return node(std::move(c));
}

//===----------------------------------------------------------------------===//
// Conversions
//===----------------------------------------------------------------------===//

TExprPtr Checker::convert(TExprPtr e, ScalarType to, SourceRange where,
                          const std::string &what) {
  ScalarType from = e->type;
  if (from == to)
    return e;
  auto mismatch = [&](const std::string &hint) -> TExprPtr {
    error(where, "type mismatch: " + what + " must be " + typeName(to) +
                     "; got " + typeName(from) + hint);
    return nullptr;
  };
  // Integer literals take the type they are used as.
  if (e->kind == TExpr::Kind::Const && e->untypedLiteral) {
    if (isFloat(to))
      return constFloat(static_cast<double>(e->intValue), to, e->range);
    if (to == ScalarType::I32 &&
        (e->intValue < INT32_MIN || e->intValue > INT32_MAX))
      return mismatch(" (the literal does not fit in i32)");
    if (isInteger(to))
      return constInt(e->intValue, to, e->range);
  }
  if (from == ScalarType::Bool || to == ScalarType::Bool)
    return mismatch("");
  if (isInteger(from) && isInteger(to))
    return from == ScalarType::I32
               ? cast(e, to)
               : mismatch(" (narrowing; write i32(...) to truncate)");
  if (isInteger(from) && isFloat(to))
    return to == ScalarType::F32
               ? cast(e, to)
               : mismatch(" (write " + typeName(to) + "(...) to round)");
  if (isFloat(from) && isInteger(to))
    return mismatch(" (a float is not an integer; write " + typeName(to) +
                    "(...) to convert)");
  // float to float: widening to f32 is implicit, rounding is not.
  if (to == ScalarType::F32)
    return cast(e, to);
  if (e->kind == TExpr::Kind::Const)
    return constFloat(e->floatValue, to, e->range);
  return mismatch(" (write " + typeName(to) + "(...) to round)");
}

TExprPtr Checker::explicitCast(TExprPtr e, ScalarType to, SourceRange where) {
  if (e->type == to)
    return e;
  if (to == ScalarType::Bool) {
    // bool(x) is x != 0.
    TExprPtr zero = isFloat(e->type) ? constFloat(0, e->type, where)
                                     : constInt(0, e->type, where);
    if (!zero)
      return nullptr;
    TExpr c{TExpr::Kind::Binary, ScalarType::Bool, where};
    c.op = Op::Ne;
    c.operands = {e, zero};
    return node(std::move(c));
  }
  if (e->kind == TExpr::Kind::Const && e->untypedLiteral)
    return isFloat(to) ? constFloat(double(e->intValue), to, where)
                       : constInt(e->intValue, to, where);
  return cast(e, to);
}

std::optional<ScalarType> Checker::commonType(const TExprPtr &a,
                                              const TExprPtr &b) {
  if (a->type == ScalarType::Bool || b->type == ScalarType::Bool)
    return std::nullopt;
  if (isFloat(a->type) || isFloat(b->type))
    return ScalarType::F32;
  if (a->untypedLiteral)
    return b->type;
  if (b->untypedLiteral)
    return a->type;
  return a->type == ScalarType::I64 || b->type == ScalarType::I64
             ? ScalarType::I64
             : ScalarType::I32;
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

TExprPtr Checker::check(const ExprPtr &e, const Env &env) {
  if (!e || tooLarge)
    return nullptr;
  if (e->depth > kMaxExprDepth) {
    error(e->range, "expression nested too deeply (more than " +
                        std::to_string(kMaxExprDepth) + " levels)");
    return nullptr;
  }
  switch (e->kind) {
  case Expr::Kind::IntLit:
    return constInt(e->intValue, ScalarType::I64, e->range, /*literal=*/true);
  case Expr::Kind::FloatLit:
    // Float literals are f32: one beyond its range would be infinite.
    if (!(std::fabs(e->floatValue) <= kF32Max)) {
      std::ostringstream literal;
      literal << e->floatValue;
      error(e->range, "the constant " + literal.str() +
                          " does not fit in f32 (its largest is 3.4e38)");
      return nullptr;
    }
    return constFloat(e->floatValue, ScalarType::F32, e->range);
  case Expr::Kind::BoolLit:
    return constBool(e->boolValue, e->range);
  case Expr::Kind::Name:
    return checkName(*e, env);
  case Expr::Kind::Index:
    return checkIndex(*e, env);
  case Expr::Kind::Unary:
    return checkUnary(*e, env);
  case Expr::Kind::Binary:
    return checkBinary(*e, env);
  case Expr::Kind::Ternary:
    return checkTernary(*e, env);
  case Expr::Kind::Call:
    return checkCall(*e, env);
  case Expr::Kind::Keyword:
    error(e->range, "'" + e->name +
                        " = ...' is a keyword argument; only select's topk "
                        "takes them");
    return nullptr;
  }
  return nullptr;
}

const Binding *Checker::lookup(const std::string &name, const Env &env) {
  if (!env.names)
    return nullptr;
  auto it = env.names->find(name);
  if (it == env.names->end())
    return nullptr;
  if (it->second.kind == Binding::Kind::Let &&
      it->second.order >= env.visibleLets)
    return nullptr;
  return &it->second;
}

TExprPtr Checker::checkName(const Expr &e, const Env &env) {
  if (const Binding *b = lookup(e.name, env)) {
    switch (b->kind) {
    case Binding::Kind::Value:
      return b->value;
    case Binding::Kind::Tensor:
      error(e.range, "'" + e.name + "' is a tensor; index it, e.g. " + e.name +
                         "[q_idx]");
      return nullptr;
    case Binding::Kind::Let: {
      auto key = std::make_pair(b->let, static_cast<int>(ctx));
      auto cached = letCache.find(key);
      bool letReadsScore;
      TExprPtr value;
      if (cached != letCache.end()) {
        std::tie(value, letReadsScore) = cached->second;
      } else {
        bool outer = readsScore;
        readsScore = false;
        Env letEnv = env;
        letEnv.visibleLets = b->order;
        value = check(b->let->value, letEnv);
        letReadsScore = readsScore;
        readsScore = outer;
        letCache[key] = {value, letReadsScore};
      }
      if (!value)
        return nullptr;
      if (letReadsScore) {
        readsScore = true;
        if (ctx == Context::Score && b->scoreVersion != scoreVersion) {
          error(e.range, "'" + e.name + "' reads the score as it was at line " +
                             std::to_string(b->range.begin.line) +
                             ", which a later 'score =' changed");
          return nullptr;
        }
      }
      return value;
    }
    }
  }
  for (const VarInfo &info : kVars) {
    if (e.name != info.name)
      continue;
    if (!isAvailable(info.var, ctx)) {
      error(e.range, "'" + e.name + "' is not available in " +
                         contextName(ctx) + "; " + describeContext(ctx));
      return nullptr;
    }
    if (info.var == Var::Score)
      readsScore = true;
    if (info.var == Var::Lse && !lseRead.file)
      lseRead = e.range;
    if (branches > 1 && outputsSeen == 0 &&
        (info.var == Var::Output || info.var == Var::Lse ||
         info.var == Var::RowSum)) {
      error(e.range, "this variant has " + std::to_string(branches) +
                         " branches: its first output reads each one's, " +
                         e.name + "[0] to " + e.name + "[" +
                         std::to_string(branches - 1) + "]");
      return nullptr;
    }
    TExpr v{TExpr::Kind::Var, info.type, e.range};
    v.var = info.var;
    return node(std::move(v));
  }
  if (!env.inFunction && params && isSizeName(e.name) &&
      !paramIndex.count(e.name) && ctx != Context::Constant) {
    // The first read of a call size makes it a param (see ParamSpec::isSize).
    ParamSpec size{e.name, TypeSpec{}, e.range, std::nullopt, true};
    size.type.elem = ScalarType::I64;
    paramIndex[e.name] = params->size();
    params->push_back(std::move(size));
  }
  if (!env.inFunction && params) {
    auto it = paramIndex.find(e.name);
    if (it != paramIndex.end()) {
      const ParamSpec &param = (*params)[it->second];
      if (param.type.isTensor) {
        error(e.range, "'" + e.name + "' is a tensor; index it, e.g. " +
                           e.name + "[q_idx]");
        return nullptr;
      }
      if (ctx == Context::Constant) {
        error(e.range,
              "'" + e.name + "' is a run-time param; " + describeContext(ctx));
        return nullptr;
      }
      TExpr p{TExpr::Kind::Param, param.type.elem, e.range};
      p.param = it->second;
      return node(std::move(p));
    }
  }
  if (functions.count(e.name) || lookupMath(e.name))
    error(e.range,
          "'" + e.name + "' is a function; call it as " + e.name + "(...)");
  else if (isNormalizerName(e.name))
    error(e.range, "'" + e.name + "' is a normalizer; use it as 'normalize = " +
                       e.name + "'");
  else if (isSizeName(e.name))
    error(e.range,
          "the call's size '" + e.name + "' " +
              (env.inFunction ? std::string("cannot be read inside a function; "
                                            "pass it as an argument")
                              : std::string("is known only at run time; ") +
                                    describeContext(ctx)));
  else
    error(e.range, "unknown name '" + e.name + "'" +
                       suggest(e.name, namesInScope(env, false), "names"));
  return nullptr;
}

std::vector<std::string> Checker::namesInScope(const Env &env, bool tensors) {
  std::vector<std::string> names;
  if (env.names)
    for (const auto &[name, binding] : *env.names)
      if ((binding.kind == Binding::Kind::Tensor) == tensors &&
          lookup(name, env))
        names.push_back(name);
  if (!tensors)
    for (const VarInfo &info : kVars)
      if (isAvailable(info.var, ctx))
        names.push_back(info.name);
  if (!env.inFunction && params)
    for (const ParamSpec &param : *params)
      if (param.type.isTensor == tensors)
        names.push_back(param.name);
  return names;
}

std::vector<std::string> Checker::functionNames() {
  std::vector<std::string> names;
  for (const auto &entry : functions)
    names.push_back(entry.first);
  for (const MathInfo &info : kMath)
    names.push_back(info.name);
  return names;
}

bool Checker::resolveTensor(const Expr &e, const Env &env, unsigned &param,
                            TypeSpec &type) {
  if (const Binding *b = lookup(e.name, env)) {
    if (b->kind != Binding::Kind::Tensor) {
      error(e.range, "'" + e.name + "' is not a tensor");
      return false;
    }
    param = b->tensorParam;
    type = b->tensorType;
    return true;
  }
  if (!env.inFunction && params) {
    auto it = paramIndex.find(e.name);
    if (it != paramIndex.end()) {
      const ParamSpec &spec = (*params)[it->second];
      if (!spec.type.isTensor) {
        error(e.range, "'" + e.name + "' is a scalar " + spec.type.toString() +
                           ", not a tensor");
        return false;
      }
      param = it->second;
      type = spec.type;
      return true;
    }
  }
  error(e.range, "unknown tensor '" + e.name + "'" +
                     suggest(e.name, namesInScope(env, true), "tensors"));
  return false;
}

/// `o[i]`, `lse[i]` or `row_sum[i]`: branch i's value, i a constant.
TExprPtr Checker::checkBranchRead(const Expr &e, const Env &env, Var var) {
  if (!isAvailable(var, ctx)) {
    error(e.range, "'" + e.name + "' is not available in " + contextName(ctx) +
                       "; " + describeContext(ctx));
    return nullptr;
  }
  if (branchesFailed)
    return nullptr;
  if (branches == 1) {
    error(e.range, "'" + e.name + "' is a number, not a tensor; " + e.name +
                       "[i] reads branch i of a variant with "
                       "'branches = split(K)'");
    return nullptr;
  }
  if (outputsSeen > 0) {
    error(e.range, e.name + "[i] reads the branches in the first output "
                            "statement only; later ones see '" +
                       e.name + "', the first one's result");
    return nullptr;
  }
  if (e.operands.size() != 1) {
    error(e.range, "'" + e.name + "' takes one index, the branch");
    return nullptr;
  }
  Context outer = ctx;
  ctx = Context::Constant;
  TExprPtr index = check(e.operands[0], env);
  ctx = outer;
  if (!index)
    return nullptr;
  std::optional<double> value = evalConstant(index);
  if (!value || isFloat(index->type) || index->type == ScalarType::Bool) {
    error(e.operands[0]->range, "a branch index must be an integer constant");
    return nullptr;
  }
  if (*value < 0 || *value >= double(branches)) {
    error(e.operands[0]->range,
          "this variant has branches 0 to " + std::to_string(branches - 1) +
              "; got " + std::to_string(int64_t(*value)));
    return nullptr;
  }
  if (var == Var::Lse && !lseRead.file)
    lseRead = e.range;
  TExpr v{TExpr::Kind::Var, ScalarType::F32, e.range};
  v.intValue = int64_t(*value);
  v.var = v.intValue == 0         ? var
          : var == Var::Output    ? Var::BranchOutput
          : var == Var::Lse       ? Var::BranchLse
                                  : Var::BranchRowSum;
  return node(std::move(v));
}

TExprPtr Checker::checkIndex(const Expr &e, const Env &env) {
  unsigned param;
  TypeSpec type;
  if (!lookup(e.name, env) && !paramIndex.count(e.name))
    for (Var var : {Var::Output, Var::Lse, Var::RowSum})
      if (e.name == kVars[int(var)].name)
        return checkBranchRead(e, env, var);
  if (!resolveTensor(e, env, param, type))
    return nullptr;
  if (e.operands.size() != type.dims.size()) {
    error(e.range, "'" + e.name + "' has rank " +
                       std::to_string(type.dims.size()) + " (" +
                       type.toString() + ") but is indexed with " +
                       std::to_string(e.operands.size()) + " index(es)");
    return nullptr;
  }
  TExpr load{TExpr::Kind::Load, type.elem, e.range};
  load.param = param;
  for (const ExprPtr &index : e.operands) {
    TExprPtr i = check(index, env);
    if (!i)
      return nullptr;
    if (isFloat(i->type) || i->type == ScalarType::Bool) {
      error(index->range,
            "an index must be an integer; got " + typeName(i->type) +
                (isFloat(i->type) ? " (write i64(...) to truncate)" : ""));
      return nullptr;
    }
    i = convert(i, ScalarType::I64, index->range, "an index");
    if (!i)
      return nullptr;
    load.operands.push_back(i);
  }
  return node(std::move(load));
}

TExprPtr Checker::checkUnary(const Expr &e, const Env &env) {
  TExprPtr operand = check(e.operands[0], env);
  if (!operand)
    return nullptr;
  if (e.op == Op::Not) {
    if (operand->type != ScalarType::Bool) {
      error(e.opRange,
            "type mismatch: '!' needs a bool; got " + typeName(operand->type));
      return nullptr;
    }
  } else if (operand->type == ScalarType::Bool) {
    error(e.opRange, "type mismatch: '-' needs a number; got bool");
    return nullptr;
  } else if (operand->kind == TExpr::Kind::Const) {
    return isFloat(operand->type)
               ? constFloat(-operand->floatValue, operand->type, e.range)
               : constInt(-operand->intValue, operand->type, e.range,
                          operand->untypedLiteral);
  } else if (operand->type != ScalarType::F32 && isFloat(operand->type)) {
    operand = cast(operand, ScalarType::F32);
  }
  if (!operand)
    return nullptr;
  TExpr u{TExpr::Kind::Unary, operand->type, e.range};
  u.op = e.op;
  u.operands = {operand};
  return node(std::move(u));
}

TExprPtr Checker::checkBinary(const Expr &e, const Env &env) {
  TExprPtr lhs = check(e.operands[0], env);
  TExprPtr rhs = check(e.operands[1], env);
  if (!lhs || !rhs)
    return nullptr;
  std::string opName = "'" + std::string(ast::toString(e.op)) + "'";
  TExpr b{TExpr::Kind::Binary, ScalarType::Bool, e.opRange};
  b.op = e.op;
  if (e.op == Op::And || e.op == Op::Or) {
    for (const TExprPtr &side : {lhs, rhs})
      if (side->type != ScalarType::Bool) {
        error(side->range, "type mismatch: " + opName +
                               " needs bool operands; got " +
                               typeName(side->type));
        return nullptr;
      }
    b.operands = {lhs, rhs};
    return node(std::move(b));
  }
  bool isCompare = e.op == Op::Eq || e.op == Op::Ne || e.op == Op::Lt ||
                   e.op == Op::Le || e.op == Op::Gt || e.op == Op::Ge;
  if ((e.op == Op::Eq || e.op == Op::Ne) && lhs->type == ScalarType::Bool &&
      rhs->type == ScalarType::Bool) {
    b.operands = {lhs, rhs};
    return node(std::move(b));
  }
  std::optional<ScalarType> common = commonType(lhs, rhs);
  if (!common) {
    error(e.opRange, "type mismatch: " + opName + " cannot combine " +
                         typeName(lhs->type) + " and " + typeName(rhs->type));
    return nullptr;
  }
  if (e.op == Op::Rem && !isInteger(*common)) {
    error(e.opRange, "type mismatch: '%' needs integers; got " +
                         typeName(lhs->type) + " and " + typeName(rhs->type));
    return nullptr;
  }
  lhs = convert(lhs, *common, e.operands[0]->range, "the left operand");
  rhs = convert(rhs, *common, e.operands[1]->range, "the right operand");
  if (!lhs || !rhs)
    return nullptr;
  // An integer divisor that is always 0 has no defined result (the CPU
  // kernel would trap or loop): refuse it here, where it is written.
  if ((e.op == Op::Div || e.op == Op::Rem) && isInteger(*common))
    if (std::optional<double> divisor = evalConstant(rhs);
        divisor && *divisor == 0) {
      error(e.operands[1]->range,
            "integer " +
                std::string(e.op == Op::Div ? "division" : "remainder") +
                " by zero: the divisor is always 0");
      return nullptr;
    }
  b.type = isCompare ? ScalarType::Bool : *common;
  b.operands = {lhs, rhs};
  return node(std::move(b));
}

TExprPtr Checker::checkTernary(const Expr &e, const Env &env) {
  TExprPtr cond = check(e.operands[0], env);
  TExprPtr lhs = check(e.operands[1], env);
  TExprPtr rhs = check(e.operands[2], env);
  if (!cond || !lhs || !rhs)
    return nullptr;
  if (cond->type != ScalarType::Bool) {
    error(e.operands[0]->range, "type mismatch: the condition of '?:' must be "
                                "bool; got " +
                                    typeName(cond->type));
    return nullptr;
  }
  ScalarType type = ScalarType::Bool;
  if (lhs->type != ScalarType::Bool || rhs->type != ScalarType::Bool) {
    std::optional<ScalarType> common = commonType(lhs, rhs);
    if (!common) {
      error(e.opRange, "type mismatch: the branches of '?:' are " +
                           typeName(lhs->type) + " and " + typeName(rhs->type));
      return nullptr;
    }
    type = *common;
    lhs = convert(lhs, type, e.operands[1]->range, "the branch");
    rhs = convert(rhs, type, e.operands[2]->range, "the branch");
    if (!lhs || !rhs)
      return nullptr;
  }
  TExpr s{TExpr::Kind::Select, type, e.opRange};
  s.operands = {cond, lhs, rhs};
  return node(std::move(s));
}

TExprPtr Checker::checkCall(const Expr &e, const Env &env) {
  auto arity = [&](size_t n) {
    if (e.operands.size() == n)
      return true;
    error(e.range, "wrong number of arguments: '" + e.name + "' takes " +
                       std::to_string(n) + ", got " +
                       std::to_string(e.operands.size()));
    return false;
  };
  if (std::optional<ScalarType> to = parseScalarType(e.name)) {
    if (!arity(1))
      return nullptr;
    TExprPtr arg = check(e.operands[0], env);
    return arg ? explicitCast(arg, *to, e.range) : nullptr;
  }
  if (const MathInfo *info = lookupMath(e.name)) {
    if (!arity(info->arity))
      return nullptr;
    std::vector<TExprPtr> args;
    for (const ExprPtr &a : e.operands) {
      TExprPtr arg = check(a, env);
      if (!arg)
        return nullptr;
      if (arg->type == ScalarType::Bool) {
        error(a->range,
              "type mismatch: '" + e.name + "' needs a number; got bool");
        return nullptr;
      }
      args.push_back(arg);
    }
    // min, max and abs keep integers; the rest compute in f32.
    bool keepsIntegers = info->fn == MathFn::Min || info->fn == MathFn::Max ||
                         info->fn == MathFn::Abs;
    ScalarType type = ScalarType::F32;
    if (keepsIntegers && allIntegers(args))
      type = args.size() == 2 ? *commonType(args[0], args[1]) : args[0]->type;
    if (args.size() == 1 && args[0]->untypedLiteral && keepsIntegers)
      type = ScalarType::I64;
    TExpr m{TExpr::Kind::Math, type, e.range};
    m.fn = info->fn;
    for (size_t i = 0; i < args.size(); ++i) {
      TExprPtr arg = convert(args[i], type, e.operands[i]->range,
                             "the argument of '" + e.name + "'");
      if (!arg)
        return nullptr;
      m.operands.push_back(arg);
    }
    return node(std::move(m));
  }
  auto fn = functions.find(e.name);
  if (fn != functions.end())
    return inlineCall(e, *fn->second, env);
  if (isNormalizerName(e.name))
    error(e.range, "'" + e.name + "' is a normalizer; use it as 'normalize = " +
                       e.name + "(...)'");
  else if (e.name == "not")
    error(e.range, "'not' is not an operator in attnc; did you mean '!'?");
  else
    error(e.range, "unknown function '" + e.name + "'" +
                       suggest(e.name, functionNames(), "functions"));
  return nullptr;
}

TExprPtr Checker::inlineCall(const Expr &call, const Function &fn,
                             const Env &env) {
  size_t required = 0;
  for (const Param &p : fn.params)
    required += p.defaultValue ? 0 : 1;
  size_t given = call.operands.size();
  if (given < required || given > fn.params.size()) {
    std::string takes = required == fn.params.size()
                            ? std::to_string(required)
                            : std::to_string(required) + " to " +
                                  std::to_string(fn.params.size());
    error(call.range, "wrong number of arguments: '" + fn.name + "' takes " +
                          takes + ", got " + std::to_string(given));
    diags.note(fn.range, "'" + fn.name + "' is defined here");
    return nullptr;
  }
  for (const auto &frame : callStack)
    if (frame.first == &fn) {
      error(call.range,
            "'" + fn.name + "' calls itself; recursion is not supported");
      return nullptr;
    }
  if (callStack.size() >= kMaxCallDepth) {
    error(call.range, "function calls nested too deeply (more than " +
                          std::to_string(kMaxCallDepth) + ")");
    return nullptr;
  }

  std::map<std::string, Binding> frame;
  for (size_t i = 0; i < fn.params.size(); ++i) {
    const Param &param = fn.params[i];
    std::string what = "argument " + std::to_string(i + 1) + " of '" + fn.name +
                       "' (" + param.name + ": " + param.type.toString() + ")";
    Binding binding;
    if (param.type.isTensor) {
      const Expr &arg = *call.operands[i];
      if (arg.kind != Expr::Kind::Name) {
        error(arg.range, what + " must be a tensor param, passed by name");
        return nullptr;
      }
      binding.kind = Binding::Kind::Tensor;
      if (!resolveTensor(arg, env, binding.tensorParam, binding.tensorType))
        return nullptr;
      const TypeSpec &got = binding.tensorType;
      bool compatible = got.elem == param.type.elem &&
                        got.dims.size() == param.type.dims.size();
      for (size_t d = 0; compatible && d < got.dims.size(); ++d)
        compatible = param.type.dims[d].kind == Dim::Kind::Any ||
                     got.dims[d].kind == Dim::Kind::Any ||
                     param.type.dims[d] == got.dims[d];
      if (!compatible) {
        error(arg.range, "type mismatch: " + what + " gets '" + arg.name +
                             "' of type " + got.toString());
        return nullptr;
      }
    } else {
      TExprPtr value;
      if (i < given) {
        value = check(call.operands[i], env);
      } else {
        Context outer = ctx;
        ctx = Context::Constant;
        value = check(param.defaultValue, Env{});
        ctx = outer;
      }
      if (!value)
        return nullptr;
      value = convert(value, param.type.elem,
                      i < given ? call.operands[i]->range : call.range, what);
      if (!value)
        return nullptr;
      binding.value = value;
    }
    frame[param.name] = binding;
  }
  if (brokenFunctions.count(&fn))
    return nullptr; // its errors were reported at its definition
  callStack.emplace_back(&fn, call.range);
  TExprPtr body = check(fn.body, Env{&frame, /*inFunction=*/true});
  if (body)
    body = convert(body, fn.result.elem, fn.body->range,
                   "the result of '" + fn.name + "'");
  callStack.pop_back();
  return body;
}

std::optional<double> Checker::evalConstant(const TExprPtr &e) {
  if (!e)
    return std::nullopt;
  auto arg = [&](size_t i) { return evalConstant(e->operands[i]); };
  switch (e->kind) {
  case TExpr::Kind::Const:
    if (e->type == ScalarType::Bool)
      return std::nullopt;
    return isFloat(e->type) ? e->floatValue : double(e->intValue);
  case TExpr::Kind::Cast:
    return arg(0);
  case TExpr::Kind::Unary:
    if (auto v = arg(0); v && e->op == Op::Neg)
      return -*v;
    return std::nullopt;
  case TExpr::Kind::Binary: {
    auto a = arg(0), b = arg(1);
    if (!a || !b)
      return std::nullopt;
    switch (e->op) {
    case Op::Add:
      return *a + *b;
    case Op::Sub:
      return *a - *b;
    case Op::Mul:
      return *a * *b;
    case Op::Div:
      if (*b == 0)
        return std::nullopt;
      return isFloat(e->type) ? *a / *b : std::floor(*a / *b);
    default:
      return std::nullopt;
    }
  }
  case TExpr::Kind::Math: {
    auto a = arg(0);
    if (!a)
      return std::nullopt;
    switch (e->fn) {
    case MathFn::Sqrt:
      return std::sqrt(*a);
    case MathFn::Rsqrt:
      return 1.0 / std::sqrt(*a);
    case MathFn::Exp:
      return std::exp(*a);
    case MathFn::Exp2:
      return std::exp2(*a);
    case MathFn::Log:
      return std::log(*a);
    case MathFn::Log2:
      return std::log2(*a);
    default:
      return std::nullopt;
    }
  }
  default:
    return std::nullopt;
  }
}

//===----------------------------------------------------------------------===//
// Functions, params and statements
//===----------------------------------------------------------------------===//

void Checker::addFunctions(const Module &module, bool isStdlib) {
  for (const Function &fn : module.functions) {
    if (parseScalarType(fn.name) || lookupMath(fn.name) ||
        isNormalizerName(fn.name) || isReservedName(fn.name)) {
      error(fn.range, "'" + fn.name + "' is a built-in name; choose another");
      continue;
    }
    auto [it, inserted] = functions.emplace(fn.name, &fn);
    if (inserted) {
      if (isStdlib)
        stdlibFunctions.insert(fn.name);
      continue;
    }
    if (stdlibFunctions.count(fn.name)) {
      error(fn.range,
            "'" + fn.name + "' is already defined by the standard library");
    } else {
      error(fn.range, "'" + fn.name + "' is already defined");
      diags.note(it->second->range, "the first definition is here");
    }
  }
}

/// Reports a parameter (`what`: "param" or "parameter") whose name hides a
/// variable or repeats an earlier one.
bool Checker::checkParamName(const Param &param, const char *what,
                             bool declared) {
  if (isReservedName(param.name)) {
    error(param.range, std::string(what) + " '" + param.name +
                           "' would hide the variable of the same name");
    return false;
  }
  if (declared) {
    error(param.range,
          std::string(what) + " '" + param.name + "' is declared twice");
    return false;
  }
  return true;
}

void Checker::checkFunctionsStandalone(const Module &module) {
  for (const Function &fn : module.functions) {
    unsigned before = diags.getNumErrors();
    std::map<std::string, Binding> frame;
    for (const Param &param : fn.params) {
      if (!checkParamName(param, "parameter", frame.count(param.name)))
        continue;
      Binding binding;
      if (param.type.isTensor) {
        if (param.defaultValue)
          error(param.defaultValue->range,
                "a tensor parameter cannot have a default");
        binding.kind = Binding::Kind::Tensor;
        binding.tensorParam = kNoParam;
        binding.tensorType = param.type;
      } else {
        if (param.defaultValue) {
          ctx = Context::Constant;
          TExprPtr value = check(param.defaultValue, Env{});
          if (value)
            convert(value, param.type.elem, param.defaultValue->range,
                    "the default of '" + param.name + "'");
        }
        TExpr placeholder{TExpr::Kind::Param, param.type.elem, param.range};
        placeholder.param = kNoParam;
        binding.value = node(std::move(placeholder));
      }
      frame[param.name] = binding;
    }
    if (fn.result.isTensor)
      error(fn.result.range, "a function returns a scalar, not a tensor");
    ctx = Context::Any;
    params = nullptr;
    callStack.emplace_back(&fn, SourceRange{}); // catches recursion into fn
    TExprPtr body = check(fn.body, Env{&frame, /*inFunction=*/true});
    callStack.pop_back();
    if (body)
      convert(body, fn.result.elem, fn.body->range,
              "the result of '" + fn.name + "'");
    if (diags.getNumErrors() != before)
      brokenFunctions.insert(&fn);
    numNodes = 0;
  }
}

std::optional<TExprPtr> Checker::checkDefault(const Param &param) {
  ctx = Context::Constant;
  TExprPtr value = check(param.defaultValue, Env{});
  if (value)
    value = convert(value, param.type.elem, param.defaultValue->range,
                    "the default of '" + param.name + "'");
  if (!value)
    return std::nullopt;
  if (value->kind == TExpr::Kind::Const)
    return value;
  std::optional<double> folded = evalConstant(value);
  if (!folded) {
    error(param.defaultValue->range,
          "the default of '" + param.name + "' must be a constant");
    return std::nullopt;
  }
  if (isFloat(param.type.elem))
    return constFloat(*folded, param.type.elem, value->range);
  if (!(std::fabs(*folded) < 9.0e18)) {
    error(param.defaultValue->range,
          "the default of '" + param.name + "' is out of range");
    return std::nullopt;
  }
  return constInt(static_cast<int64_t>(*folded), param.type.elem, value->range);
}

void Checker::checkParams(const Attention &attention, VariantSpec &spec) {
  for (const Param &param : attention.params) {
    if (!checkParamName(param, "param", paramIndex.count(param.name)))
      continue;
    ParamSpec p{param.name, param.type, param.range, std::nullopt};
    // A bad default is reported, and the param kept, so that its uses do not
    // report it unknown.
    if (param.defaultValue && param.type.isTensor)
      error(param.defaultValue->range, "a tensor param cannot have a default");
    else if (param.defaultValue)
      p.defaultValue = checkDefault(param);
    paramIndex[param.name] = spec.params.size();
    spec.params.push_back(std::move(p));
  }
}

TExprPtr Checker::checkStatement(const Stmt &stmt, Context context,
                                 ScalarType result, const std::string &what) {
  ctx = context;
  TExprPtr e = check(stmt.value, Env{&lets, /*inFunction=*/false});
  return e ? convert(e, result, stmt.value->range, what) : nullptr;
}

std::optional<VariantSpec> Checker::checkAttention(const Attention &attention) {
  unsigned before = diags.getNumErrors();
  VariantSpec spec;
  spec.name = attention.name;
  spec.range = attention.range;
  lets.clear();
  letCache.clear();
  paramIndex.clear();
  scoreVersion = 0;
  lseRead = SourceRange();
  branches = 1;
  branchesFailed = false;
  outputsSeen = 0;
  numNodes = 0;
  tooLarge = false;
  params = &spec.params;
  checkParams(attention, spec);

  const Stmt *maskStmt = nullptr, *normalizeStmt = nullptr,
             *scaleStmt = nullptr, *sinkStmt = nullptr, *selectStmt = nullptr,
             *branchesStmt = nullptr;
  TExprPtr normalizeArg;
  auto duplicate = [&](const Stmt &stmt, const Stmt *first) {
    if (!first)
      return false;
    error(stmt.targetRange,
          "'" + stmt.target + "' is already set" +
              (stmt.target == "mask"
                   ? "; combine masks with && in one statement"
                   : ""));
    diags.note(first->targetRange, "it is set here");
    return true;
  };
  // A statement that may appear once (mask, sink).
  auto setOnce = [&](const Stmt &stmt, const Stmt *&first, Context where,
                     ScalarType type, TExprPtr &value, SourceRange &range) {
    if (duplicate(stmt, first))
      return;
    first = &stmt;
    value = checkStatement(stmt, where, type, "the " + stmt.target);
    range = stmt.targetRange;
  };

  for (const Stmt &stmt : attention.body) {
    if (diags.tooManyErrors())
      break;
    if (stmt.kind == Stmt::Kind::Let) {
      if (isReservedName(stmt.target) || paramIndex.count(stmt.target) ||
          lets.count(stmt.target)) {
        error(stmt.targetRange, "'" + stmt.target + "' is already defined");
        continue;
      }
      Binding binding;
      binding.kind = Binding::Kind::Let;
      binding.let = &stmt;
      binding.order = lets.size();
      binding.scoreVersion = scoreVersion;
      binding.range = stmt.targetRange;
      lets[stmt.target] = binding;
      continue;
    }
    const std::string &target = stmt.target;
    if (target == "score") {
      if (normalizeStmt) {
        error(stmt.targetRange,
              "'score' is set after 'normalize'; set the score first");
        continue;
      }
      if (TExprPtr e = checkStatement(stmt, Context::Score, ScalarType::F32,
                                      "the score")) {
        spec.scoreMods.push_back(e);
        spec.scoreModRanges.push_back(stmt.targetRange);
      }
      ++scoreVersion;
    } else if (target == "mask") {
      setOnce(stmt, maskStmt, Context::Mask, ScalarType::Bool, spec.mask,
              spec.maskRange);
    } else if (target == "sink") {
      setOnce(stmt, sinkStmt, Context::Sink, ScalarType::F32, spec.sink,
              spec.sinkRange);
    } else if (target == "select") {
      if (duplicate(stmt, selectStmt))
        continue;
      selectStmt = &stmt;
      spec.select = checkSelect(stmt, diags);
    } else if (target == "branches") {
      if (duplicate(stmt, branchesStmt))
        continue;
      branchesStmt = &stmt;
      if (outputsSeen) {
        error(stmt.targetRange, "'branches' is set after 'output'; set the "
                                "branches first, the output combines them");
        continue;
      }
      if (std::optional<int64_t> k = checkBranches(stmt, diags)) {
        branches = spec.branches = *k;
        spec.branchesRange = stmt.targetRange;
      } else {
        branchesFailed = true;
      }
    } else if (target == "output") {
      if (TExprPtr e = checkStatement(stmt, Context::Output, ScalarType::F32,
                                      "the output")) {
        spec.outputMods.push_back(e);
        spec.outputModRanges.push_back(stmt.targetRange);
      }
      // Lets read o[i] in the first output only: check them anew after it.
      if (outputsSeen++ == 0 && branches > 1)
        letCache.clear();
    } else if (target == "scale") {
      if (duplicate(stmt, scaleStmt))
        continue;
      scaleStmt = &stmt;
      TExprPtr e =
          checkStatement(stmt, Context::Constant, ScalarType::F32, "the scale");
      std::optional<double> value = evalConstant(e);
      // The scale is an f32 in the kernels: finite there too.
      if (e && (!value || !(*value > 0) || !(*value <= kF32Max)))
        error(stmt.value->range,
              "the scale must be a positive constant (and finite in f32)");
      spec.scale = value;
      spec.scaleRange = stmt.targetRange;
    } else if (target == "normalize") {
      if (duplicate(stmt, normalizeStmt))
        continue;
      normalizeStmt = &stmt;
      spec.normalizerRange = stmt.targetRange;
      const Expr &value = *stmt.value;
      bool named =
          value.kind == Expr::Kind::Name ||
          (value.kind == Expr::Kind::Call && value.operands.size() == 1);
      if (!named || !isNormalizerName(value.name)) {
        error(value.range, "expected a normalizer: softmax, sigmoid, relu or "
                           "none, optionally applied to the score, e.g. "
                           "sigmoid(score - 8.0)");
        continue;
      }
      spec.normalizer = value.name == "softmax"   ? ATTNC_NORMALIZE_SOFTMAX
                        : value.name == "sigmoid" ? ATTNC_NORMALIZE_SIGMOID
                        : value.name == "relu"    ? ATTNC_NORMALIZE_RELU
                                                  : ATTNC_NORMALIZE_NONE;
      if (value.kind == Expr::Kind::Call) {
        ctx = Context::Score;
        TExprPtr arg = check(value.operands[0], Env{&lets, false});
        if (arg)
          arg = convert(arg, ScalarType::F32, value.operands[0]->range,
                        "the normalizer's argument");
        // normalize = sigmoid(score) adds nothing to the cascade.
        if (arg && !(arg->kind == TExpr::Kind::Var && arg->var == Var::Score))
          normalizeArg = arg;
      }
    } else {
      error(stmt.targetRange, "unknown statement '" + target +
                                  "'; expected score, mask, normalize, "
                                  "sink, select, branches, output, scale or "
                                  "let");
    }
  }
  // The normalizer may be set after them: checked once it is known.
  if (spec.normalizer != ATTNC_NORMALIZE_SOFTMAX) {
    std::string name = normalizeStmt->value->name;
    if (sinkStmt) {
      error(sinkStmt->targetRange,
            "only softmax takes a sink; this variant normalizes with '" + name +
                "'");
      diags.note(normalizeStmt->targetRange, "the normalizer is set here");
    }
    if (lseRead.file) {
      error(lseRead, "'lse' is defined by softmax only; this variant "
                     "normalizes with '" +
                         name + "' (row_sum is defined for every normalizer)");
      diags.note(normalizeStmt->targetRange, "the normalizer is set here");
    }
  }
  if (spec.branches > 1 && spec.outputMods.empty() &&
      diags.getNumErrors() == before)
    error(spec.branchesRange,
          "a variant with branches needs an output that combines them, e.g. "
          "output = o[0] - lambda * o[1]");
  if (spec.branches > 1 && selectStmt) {
    error(selectStmt->targetRange,
          "a variant with branches cannot select key blocks (yet)");
    diags.note(spec.branchesRange, "the branches are set here");
  }
  // The normalizer's argument applies to the final score: one more score_mod.
  if (normalizeArg) {
    spec.scoreMods.push_back(normalizeArg);
    spec.scoreModRanges.push_back(spec.normalizerRange);
  }
  params = nullptr;
  if (diags.getNumErrors() != before)
    return std::nullopt;
  return spec;
}

std::optional<std::vector<VariantSpec>>
attnc::checkModule(const Module &module, const Module *stdlib,
                   DiagnosticEngine &diags) {
  Checker checker(diags);
  if (stdlib)
    checker.addFunctions(*stdlib, /*isStdlib=*/true);
  checker.addFunctions(module, /*isStdlib=*/false);
  if (stdlib)
    checker.checkFunctionsStandalone(*stdlib);
  checker.checkFunctionsStandalone(module);

  std::vector<VariantSpec> variants;
  std::map<std::string, const Attention *> names;
  for (const Attention &attention : module.attentions) {
    if (diags.tooManyErrors())
      break;
    auto [it, inserted] = names.emplace(attention.name, &attention);
    if (!inserted) {
      diags.error(attention.range,
                  "attention '" + attention.name + "' is already defined");
      diags.note(it->second->range, "the first definition is here");
      continue;
    }
    if (std::optional<VariantSpec> spec = checker.checkAttention(attention))
      variants.push_back(std::move(*spec));
  }
  if (diags.hasErrors())
    return std::nullopt;
  return variants;
}
