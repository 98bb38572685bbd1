//===- DLPack.cpp - DLPack tensors as attnc views -------------------------===//

#include "CAPI/DLPack.h"
#include "Support/Error.h"

#include "llvm/ADT/Twine.h"

#include <optional>

using namespace attnc;

namespace {

// DLPack 0.8's bool code; Debian's 0.6 header predates it.
constexpr uint8_t kBoolCode = 6;

std::optional<DType> dtypeOf(DLDataType t) {
  if (t.lanes != 1)
    return std::nullopt;
  switch (t.code) {
  case kDLFloat:
    return t.bits == 32   ? std::optional(DType::F32)
           : t.bits == 16 ? std::optional(DType::F16)
                          : std::nullopt;
  case kDLBfloat:
    return t.bits == 16 ? std::optional(DType::BF16) : std::nullopt;
  case kDLInt:
    return t.bits == 32   ? std::optional(DType::I32)
           : t.bits == 64 ? std::optional(DType::I64)
                          : std::nullopt;
  // Producers before DLPack 0.8 (torch 1.x) export bool as an 8-bit uint.
  case kDLUInt:
  case kBoolCode:
    return t.bits == 8 ? std::optional(DType::Bool) : std::nullopt;
  }
  return std::nullopt;
}

std::string describe(DLDataType t) {
  const char *code = t.code == kDLFloat    ? "float"
                     : t.code == kDLBfloat ? "bfloat"
                     : t.code == kDLInt    ? "int"
                     : t.code == kDLUInt   ? "uint"
                     : t.code == kBoolCode ? "bool"
                                           : "code ";
  std::string s = code;
  if (std::string_view(code) == "code ")
    s += std::to_string(t.code) + "/";
  s += std::to_string(t.bits);
  if (t.lanes != 1)
    s += "x" + std::to_string(t.lanes);
  return s;
}

} // namespace

llvm::Expected<TensorView>
attnc::viewOfDLTensor(const char *what, const DLTensor *tensor, bool isOutput) {
  if (!tensor)
    return makeError(llvm::Twine(what) + " is missing");
  std::optional<DType> dtype = dtypeOf(tensor->dtype);
  if (!dtype)
    return makeError(llvm::Twine(what) + " has dtype " +
                     describe(tensor->dtype) +
                     ", which attnc does not take (f32, f16, bf16, i32, i64, "
                     "bool)");
  Device device;
  switch (tensor->device.device_type) {
  case kDLCPU:
    device = Device::CPU;
    break;
  case kDLCUDA:
    device = Device::CUDA;
    break;
  default:
    return makeError(llvm::Twine(what) + " is on DLPack device type " +
                     llvm::Twine(int(tensor->device.device_type)) +
                     "; attnc takes CPU (1) and CUDA (2) memory");
  }
  if (tensor->ndim < 0 || tensor->ndim > 8 || (tensor->ndim && !tensor->shape))
    return makeError(llvm::Twine(what) + " has an invalid shape (rank " +
                     llvm::Twine(tensor->ndim) + ")");
  std::vector<int64_t> shape(tensor->shape, tensor->shape + tensor->ndim);
  char *data = static_cast<char *>(tensor->data);
  if (data)
    data += tensor->byte_offset;
  TensorView view = TensorView::contiguous(data, *dtype, shape, device);
  if (tensor->strides)
    view.strides.assign(tensor->strides, tensor->strides + tensor->ndim);
  // The kernels index forward from the start; a written tensor must not
  // alias itself (broadcast strides of 0).
  for (int i = 0; i < tensor->ndim; ++i) {
    if (shape[i] < 2)
      continue;
    if (view.strides[i] < 0 || (isOutput && view.strides[i] == 0))
      return makeError(llvm::Twine(what) + " has stride " +
                       llvm::Twine(view.strides[i]) + " in dimension " +
                       llvm::Twine(i) + "; attnc takes " +
                       (isOutput ? "positive" : "non-negative") + " strides");
  }
  return view;
}
