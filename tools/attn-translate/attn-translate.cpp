//===- attn-translate.cpp - mlir-translate with attnc's translations ------===//
//
// `attn-translate --attn-to-cuda FILE.mlir`: a fused, scheduled variant
// (attn-gpu-pipeline) to the CUDA C++ that NVRTC and nvcc compile.
//
//===----------------------------------------------------------------------===//

#include "Conversion/AttnToCUDA/AttnToCUDA.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  mlir::attn::registerToCUDATranslation();
  return mlir::failed(
      mlir::mlirTranslateMain(argc, argv, "attn translation driver\n"));
}
