//===- Select.cpp - the select and branches statements of the attnc DSL ---===//
//
// `select` and `branches` take no expression of the variant's variables:
// their arguments fix the kernel's structure (the block size its tiles divide, how many
// blocks a row keeps), so they are constants, checked here on the syntax
// tree as `normalize =` is.
//
//===----------------------------------------------------------------------===//

#include "Frontend/Select.h"

#include "attnc/abi.h" // ATTNC_SELECT_*_BLOCK, ATTNC_MAX_BRANCHES

#include <map>
#include <string>

using namespace attnc;
using namespace attnc::ast;

namespace {

constexpr const char *kUsage =
    "topk(K, block = B, sinks = S, local = L, causal = true|false)";

/// An integer literal, possibly negated (so that a negative value gets the
/// range's message rather than a syntax one).
std::optional<int64_t> integerConstant(const Expr &e) {
  if (e.kind == Expr::Kind::IntLit)
    return e.intValue;
  if (e.kind == Expr::Kind::Unary && e.op == Op::Neg &&
      e.operands[0]->kind == Expr::Kind::IntLit)
    return -e.operands[0]->intValue;
  return std::nullopt;
}

bool isPowerOfTwo(int64_t x) { return x > 0 && (x & (x - 1)) == 0; }

} // namespace

std::optional<sema::SelectSpec> attnc::checkSelect(const Stmt &stmt,
                                                   DiagnosticEngine &diags) {
  const Expr &value = *stmt.value;
  if (value.kind != Expr::Kind::Call || value.name != "topk") {
    diags.error(value.range, std::string("expected a block selection: ") +
                                 kUsage + ", e.g. topk(8, block = 64)");
    return std::nullopt;
  }
  unsigned before = diags.getNumErrors();
  sema::SelectSpec spec;
  spec.range = stmt.targetRange;
  bool seenK = false;
  std::map<std::string, SourceRange> seen;
  for (const ExprPtr &arg : value.operands) {
    if (arg->kind != Expr::Kind::Keyword) {
      if (seenK || !seen.empty()) {
        diags.error(arg->range, std::string("topk takes one positional "
                                            "argument, K; name the others: ") +
                                    kUsage);
        continue;
      }
      seenK = true;
      std::optional<int64_t> k = integerConstant(*arg);
      if (!k)
        diags.error(arg->range, "topk's K (the blocks each query keeps) must "
                                "be an integer constant");
      else if (*k < 1)
        diags.error(arg->range, "topk's K (the blocks each query keeps) must "
                                "be at least 1; got " +
                                    std::to_string(*k));
      else
        spec.topK = *k;
      continue;
    }
    const std::string &name = arg->name;
    const Expr &given = *arg->operands[0];
    if (auto [it, inserted] = seen.emplace(name, arg->range); !inserted) {
      diags.error(arg->range, "'" + name + "' is given twice");
      diags.note(it->second, "it is given here");
      continue;
    }
    if (name == "causal") {
      if (given.kind != Expr::Kind::BoolLit)
        diags.error(given.range, "'causal' must be true or false");
      else
        spec.causal = given.boolValue;
      continue;
    }
    int64_t *field = name == "block"   ? &spec.block
                     : name == "sinks" ? &spec.sinks
                     : name == "local" ? &spec.local
                                       : nullptr;
    if (!field) {
      diags.error(arg->range,
                  "topk has no argument '" + name + "'; it takes " + kUsage);
      continue;
    }
    std::optional<int64_t> v = integerConstant(given);
    if (!v) {
      diags.error(given.range, "'" + name + "' must be an integer constant");
      continue;
    }
    if (name == "block" && (*v < ATTNC_SELECT_MIN_BLOCK ||
                            *v > ATTNC_SELECT_MAX_BLOCK || !isPowerOfTwo(*v))) {
      diags.error(given.range, "the block must be a power of two from " +
                                   std::to_string(ATTNC_SELECT_MIN_BLOCK) +
                                   " to " +
                                   std::to_string(ATTNC_SELECT_MAX_BLOCK) +
                                   " keys; got " + std::to_string(*v));
      continue;
    }
    if (*v < 0) {
      diags.error(given.range, "'" + name +
                                   "' counts blocks: it must not be "
                                   "negative; got " +
                                   std::to_string(*v));
      continue;
    }
    *field = *v;
  }
  if (!seenK && diags.getNumErrors() == before)
    diags.error(value.range, std::string("topk needs K, the blocks each query "
                                         "keeps: ") +
                                 kUsage);
  if (diags.getNumErrors() != before)
    return std::nullopt;
  return spec;
}

std::optional<int64_t> attnc::checkBranches(const Stmt &stmt,
                                            DiagnosticEngine &diags) {
  const Expr &value = *stmt.value;
  const std::string usage = "split(K), K from 2 to " +
                            std::to_string(ATTNC_MAX_BRANCHES) +
                            ": q's and k's head dimension cut into K parts";
  if (value.kind != Expr::Kind::Call || value.name != "split" ||
      value.operands.size() != 1) {
    diags.error(value.range, "expected branches: " + usage);
    return std::nullopt;
  }
  const Expr &arg = *value.operands[0];
  std::optional<int64_t> k = integerConstant(arg);
  if (!k) {
    diags.error(arg.range, "split's K must be an integer constant");
    return std::nullopt;
  }
  if (*k < 2 || *k > ATTNC_MAX_BRANCHES) {
    diags.error(arg.range,
                "split takes " + usage + "; got " + std::to_string(*k));
    return std::nullopt;
  }
  return *k;
}
