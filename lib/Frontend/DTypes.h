//===- DTypes.h - the public DType and the language's scalar types -*- C++ -*-//

#ifndef ATTNC_FRONTEND_DTYPES_H
#define ATTNC_FRONTEND_DTYPES_H

#include "Frontend/AST.h"
#include "attnc/Builder.h"

namespace attnc {

/// The API's element types are the language's scalar types, one to one.
ast::ScalarType toScalarType(DType type);
DType toDType(ast::ScalarType type);

} // namespace attnc

#endif // ATTNC_FRONTEND_DTYPES_H
