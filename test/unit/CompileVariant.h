//===- CompileVariant.h - attnc source to a module, for the tests -*- C++ -*-//

#ifndef ATTNC_TEST_UNIT_COMPILEVARIANT_H
#define ATTNC_TEST_UNIT_COMPILEVARIANT_H

#include "Frontend/Frontend.h"
#include "Frontend/MLIRGen.h"
#include "Pipeline/Pipeline.h"
#include "dialect/AttnOps.h"

#include "mlir/IR/MLIRContext.h"

#include <catch2/catch.hpp>

#include <memory>

namespace attnc::test {

/// A module of one variant, with the context that owns it.
struct CompiledVariant {
  std::unique_ptr<mlir::MLIRContext> ctx =
      std::make_unique<mlir::MLIRContext>();
  mlir::OwningOpRef<mlir::ModuleOp> module;
  mlir::attn::VariantOp variant() {
    return *module->getBody()->getOps<mlir::attn::VariantOp>().begin();
  }
};

/// Parses, checks and emits `source` (failing the test on any diagnostic),
/// fused when `fuse`.
inline CompiledVariant compileVariant(const std::string &source, bool fuse) {
  SourceFile file("test.attn", source);
  DiagnosticEngine diags;
  auto specs = parseAndCheck(file, diags);
  INFO(diags.render());
  REQUIRE(specs);
  CompiledVariant c;
  c.module = buildModule(*c.ctx, *specs, EmitOptions{});
  REQUIRE(c.module);
  if (fuse)
    REQUIRE(mlir::succeeded(
        mlir::attn::runPipeline(*c.module, mlir::attn::buildFusePipeline)));
  return c;
}

} // namespace attnc::test

#endif // ATTNC_TEST_UNIT_COMPILEVARIANT_H
