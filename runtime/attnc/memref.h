/*===- memref.h - the memref descriptors of attnc's C ABI ---------*- C -*-===//
//
// A strided view as MLIR's lowered code and attnc's entry points take it:
// element pointer (twice), offset, sizes and strides in elements. Plain C11
// (and C++): the AOT entry points, the C headers attnc writes beside them
// (this text is pasted there) and their callers share these definitions;
// each is guarded on its own, so that a file may define some of them first.
//
//===----------------------------------------------------------------------===*/

#ifndef ATTNC_MEMREF_H
#define ATTNC_MEMREF_H

#include <stdint.h>

#ifndef ATTNC_MEMREF1
#define ATTNC_MEMREF1
typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[1];
  int64_t strides[1];
} attnc_memref1;
#endif
#ifndef ATTNC_MEMREF2
#define ATTNC_MEMREF2
typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
} attnc_memref2;
#endif
#ifndef ATTNC_MEMREF3
#define ATTNC_MEMREF3
typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[3];
  int64_t strides[3];
} attnc_memref3;
#endif
#ifndef ATTNC_MEMREF4
#define ATTNC_MEMREF4
typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[4];
  int64_t strides[4];
} attnc_memref4;
#endif

#endif /* ATTNC_MEMREF_H */
