//===- Error.h - attnc's one error helper -----------------------*- C++ -*-===//

#ifndef ATTNC_SUPPORT_ERROR_H
#define ATTNC_SUPPORT_ERROR_H

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

namespace attnc {

/// An llvm::Error that carries `message` for the user.
inline llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

} // namespace attnc

#endif // ATTNC_SUPPORT_ERROR_H
