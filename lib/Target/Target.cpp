//===- Target.cpp - the targets by name -----------------------------------===//

#include "Target/Target.h"
#include "Target/CUDATarget.h"

#include "llvm/ADT/StringRef.h"

using namespace attnc;

Target::~Target() = default;

llvm::Expected<std::unique_ptr<Target>> attnc::getTarget(llvm::StringRef name) {
  if (name == "cpu")
    return createCPUTarget();
  if (llvm::Error e = checkGPUTarget(name))
    return std::move(e);
  return createCUDATarget(name);
}
