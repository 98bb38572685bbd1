//===- DLPack.h - DLPack tensors as attnc views -----------------*- C++ -*-===//

#ifndef ATTNC_CAPI_DLPACK_H
#define ATTNC_CAPI_DLPACK_H

#include "attnc/attnc.h"

#include <dlpack/dlpack.h>

namespace attnc {

/// The view of `tensor` that Kernel::run takes, or an error naming `what`
/// when its dtype, device or layout is one attnc does not take. `isOutput`:
/// the kernel writes it, so no two elements may share memory.
llvm::Expected<TensorView>
viewOfDLTensor(const char *what, const DLTensor *tensor, bool isOutput);

} // namespace attnc

#endif // ATTNC_CAPI_DLPACK_H
