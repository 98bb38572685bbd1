//===- Builder.cpp - attention variants written in C++ --------------------===//
//
// The builder constructs the same syntax tree as the parser, so that the
// checker, the standard library and the emitter serve both unchanged.
//
//===----------------------------------------------------------------------===//

#include "attnc/Builder.h"
#include "Support/Error.h"

#include "Frontend/AST.h"
#include "Frontend/DTypes.h"
#include "Frontend/Frontend.h"
#include "Frontend/MLIRGen.h"
#include "Frontend/Sema.h"
#include "Pipeline/Pipeline.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <cctype>

using namespace attnc;

Expr::Expr(double value) : node(ast::makeFloat(value)) {}
Expr::Expr(int value) : node(ast::makeInt(value)) {}
Expr::Expr(int64_t value) : node(ast::makeInt(value)) {}
Expr Expr::boolean(bool value) { return Expr(ast::makeBool(value)); }

static Expr binary(ast::Op op, const Expr &a, const Expr &b) {
  return Expr(ast::makeBinary(op, a.getNode(), b.getNode()));
}

Expr attnc::operator+(const Expr &a, const Expr &b) {
  return binary(ast::Op::Add, a, b);
}
Expr attnc::operator-(const Expr &a, const Expr &b) {
  return binary(ast::Op::Sub, a, b);
}
Expr attnc::operator*(const Expr &a, const Expr &b) {
  return binary(ast::Op::Mul, a, b);
}
Expr attnc::operator/(const Expr &a, const Expr &b) {
  return binary(ast::Op::Div, a, b);
}
Expr attnc::operator%(const Expr &a, const Expr &b) {
  return binary(ast::Op::Rem, a, b);
}
Expr attnc::operator==(const Expr &a, const Expr &b) {
  return binary(ast::Op::Eq, a, b);
}
Expr attnc::operator!=(const Expr &a, const Expr &b) {
  return binary(ast::Op::Ne, a, b);
}
Expr attnc::operator<(const Expr &a, const Expr &b) {
  return binary(ast::Op::Lt, a, b);
}
Expr attnc::operator<=(const Expr &a, const Expr &b) {
  return binary(ast::Op::Le, a, b);
}
Expr attnc::operator>(const Expr &a, const Expr &b) {
  return binary(ast::Op::Gt, a, b);
}
Expr attnc::operator>=(const Expr &a, const Expr &b) {
  return binary(ast::Op::Ge, a, b);
}
Expr attnc::operator&&(const Expr &a, const Expr &b) {
  return binary(ast::Op::And, a, b);
}
Expr attnc::operator||(const Expr &a, const Expr &b) {
  return binary(ast::Op::Or, a, b);
}
Expr attnc::operator-(const Expr &a) {
  return Expr(ast::makeUnary(ast::Op::Neg, a.getNode()));
}
Expr attnc::operator!(const Expr &a) {
  return Expr(ast::makeUnary(ast::Op::Not, a.getNode()));
}

Expr attnc::score() { return Expr(ast::makeName("score")); }
Expr attnc::b() { return Expr(ast::makeName("b")); }
Expr attnc::h() { return Expr(ast::makeName("h")); }
Expr attnc::q_idx() { return Expr(ast::makeName("q_idx")); }
Expr attnc::kv_idx() { return Expr(ast::makeName("kv_idx")); }
Expr attnc::o() { return Expr(ast::makeName("o")); }
Expr attnc::d() { return Expr(ast::makeName("d")); }
Expr attnc::lse() { return Expr(ast::makeName("lse")); }
Expr attnc::row_sum() { return Expr(ast::makeName("row_sum")); }
Expr attnc::o(int64_t branch) {
  return Expr(ast::makeIndex("o", {ast::makeInt(branch)}));
}
Expr attnc::lse(int64_t branch) {
  return Expr(ast::makeIndex("lse", {ast::makeInt(branch)}));
}
Expr attnc::row_sum(int64_t branch) {
  return Expr(ast::makeIndex("row_sum", {ast::makeInt(branch)}));
}

Expr attnc::select(const Expr &cond, const Expr &a, const Expr &b) {
  return Expr(ast::makeTernary(cond.getNode(), a.getNode(), b.getNode()));
}

static std::vector<ast::ExprPtr> nodes(const std::vector<Expr> &exprs) {
  std::vector<ast::ExprPtr> result;
  for (const Expr &e : exprs)
    result.push_back(e.getNode());
  return result;
}

Expr attnc::call(std::string_view function, std::vector<Expr> args) {
  return Expr(ast::makeCall(std::string(function), nodes(args)));
}

Expr Param::at(std::vector<Expr> indices) const {
  return Expr(ast::makeIndex(name, nodes(indices)));
}

Param::operator Expr() const { return Expr(ast::makeName(name)); }

VariantBuilder::VariantBuilder(std::string name)
    : attention(std::make_unique<ast::Attention>()) {
  attention->name = std::move(name);
}
VariantBuilder::~VariantBuilder() = default;
VariantBuilder::VariantBuilder(const VariantBuilder &other)
    : attention(std::make_unique<ast::Attention>(*other.attention)) {}
VariantBuilder &VariantBuilder::operator=(const VariantBuilder &other) {
  attention = std::make_unique<ast::Attention>(*other.attention);
  return *this;
}

ast::ScalarType attnc::toScalarType(DType type) {
  switch (type) {
  case DType::Bool:
    return ast::ScalarType::Bool;
  case DType::I32:
    return ast::ScalarType::I32;
  case DType::I64:
    return ast::ScalarType::I64;
  case DType::F16:
    return ast::ScalarType::F16;
  case DType::BF16:
    return ast::ScalarType::BF16;
  case DType::F32:
    return ast::ScalarType::F32;
  }
  return ast::ScalarType::F32;
}

DType attnc::toDType(ast::ScalarType type) {
  switch (type) {
  case ast::ScalarType::Bool:
    return DType::Bool;
  case ast::ScalarType::I32:
    return DType::I32;
  case ast::ScalarType::I64:
    return DType::I64;
  case ast::ScalarType::F16:
    return DType::F16;
  case ast::ScalarType::BF16:
    return DType::BF16;
  case ast::ScalarType::F32:
    return DType::F32;
  }
  return DType::F32;
}

Param VariantBuilder::tensor(std::string name, DType elem,
                             std::vector<std::string> dims) {
  ast::Param param;
  param.name = name;
  param.type.elem = toScalarType(elem);
  param.type.isTensor = true;
  for (const std::string &text : dims) {
    ast::Dim dim;
    if (text == "?") {
      dim.kind = ast::Dim::Kind::Any;
    } else if (!text.empty() &&
               std::isdigit(static_cast<unsigned char>(text[0]))) {
      dim.kind = ast::Dim::Kind::Static;
      dim.size = std::stoll(text);
    } else {
      dim.kind = ast::Dim::Kind::Symbol;
      dim.symbol = text;
    }
    param.type.dims.push_back(dim);
  }
  attention->params.push_back(std::move(param));
  return Param(std::move(name));
}

Param VariantBuilder::scalar(std::string name, DType type,
                             std::optional<double> defaultValue) {
  ast::Param param;
  param.name = name;
  param.type.elem = toScalarType(type);
  if (defaultValue) {
    bool isFloat = ast::isFloat(param.type.elem);
    param.defaultValue =
        isFloat ? ast::makeFloat(*defaultValue)
                : ast::makeInt(static_cast<int64_t>(*defaultValue));
  }
  attention->params.push_back(std::move(param));
  return Param(std::move(name));
}

static ast::Stmt statement(std::string target, ast::ExprPtr value,
                           ast::Stmt::Kind kind = ast::Stmt::Kind::Assign) {
  ast::Stmt stmt;
  stmt.kind = kind;
  stmt.target = std::move(target);
  stmt.value = std::move(value);
  return stmt;
}

Expr VariantBuilder::let(std::string name, const Expr &value) {
  attention->body.push_back(
      statement(name, value.getNode(), ast::Stmt::Kind::Let));
  return Expr(ast::makeName(std::move(name)));
}
VariantBuilder &VariantBuilder::score(const Expr &value) {
  attention->body.push_back(statement("score", value.getNode()));
  return *this;
}
VariantBuilder &VariantBuilder::mask(const Expr &value) {
  attention->body.push_back(statement("mask", value.getNode()));
  return *this;
}
VariantBuilder &VariantBuilder::normalize(std::string_view kind) {
  attention->body.push_back(
      statement("normalize", ast::makeName(std::string(kind))));
  return *this;
}
VariantBuilder &VariantBuilder::normalize(std::string_view kind,
                                          const Expr &argument) {
  attention->body.push_back(statement(
      "normalize", ast::makeCall(std::string(kind), {argument.getNode()})));
  return *this;
}
VariantBuilder &VariantBuilder::sink(const Expr &value) {
  attention->body.push_back(statement("sink", value.getNode()));
  return *this;
}
VariantBuilder &VariantBuilder::output(const Expr &value) {
  attention->body.push_back(statement("output", value.getNode()));
  return *this;
}
VariantBuilder &VariantBuilder::scale(double value) {
  attention->body.push_back(statement("scale", ast::makeFloat(value)));
  return *this;
}
VariantBuilder &VariantBuilder::branches(int64_t count) {
  attention->body.push_back(statement(
      "branches", ast::makeCall("split", {ast::makeInt(count)})));
  return *this;
}
VariantBuilder &VariantBuilder::select(const Selection &selection) {
  auto keyword = [](const char *name, int64_t value) {
    return ast::makeKeyword(name, ast::makeInt(value));
  };
  attention->body.push_back(statement(
      "select",
      ast::makeCall(
          "topk",
          {ast::makeInt(selection.topK), keyword("block", selection.block),
           keyword("sinks", selection.sinks), keyword("local", selection.local),
           ast::makeKeyword("causal", ast::makeBool(selection.causal))})));
  return *this;
}

/// Emits checked variants and prints the module, fused when asked.
static llvm::Expected<std::string>
printVariants(const std::vector<sema::VariantSpec> &specs,
              const VariantOptions &options) {
  mlir::MLIRContext ctx;
  std::string errors;
  mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &diag) {
    errors += diag.str() + "\n";
    return mlir::success();
  });
  EmitOptions emitOptions{toScalarType(options.dtype), options.headDim,
                          options.valueHeadDim};
  mlir::OwningOpRef<mlir::ModuleOp> ir = buildModule(ctx, specs, emitOptions);
  if (ir && options.fuse &&
      mlir::failed(mlir::attn::runPipeline(*ir, mlir::attn::buildFusePipeline)))
    ir = nullptr;
  if (!ir)
    return makeError(errors);
  std::string text;
  llvm::raw_string_ostream os(text);
  ir->print(os);
  return text;
}

llvm::Expected<std::string>
attnc::emitMLIR(const std::vector<VariantBuilder> &variants,
                const VariantOptions &options) {
  ast::Module module;
  for (const VariantBuilder &v : variants)
    module.attentions.push_back(v.getAttention());
  DiagnosticEngine diags;
  auto specs = checkModule(module, &getStdlibModule(), diags);
  if (!specs)
    return makeError(diags.render());
  return printVariants(*specs, options);
}

llvm::Expected<std::string> attnc::emitMLIR(std::string_view source,
                                            std::string_view fileName,
                                            const VariantOptions &options) {
  SourceFile file{std::string(fileName), std::string(source)};
  DiagnosticEngine diags;
  auto specs = parseAndCheck(file, diags);
  if (!specs)
    return makeError(diags.render());
  return printVariants(*specs, options);
}
