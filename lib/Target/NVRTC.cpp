//===- NVRTC.cpp - NVRTC, opened at run time ------------------------------===//

#include "Target/NVRTC.h"

#if ATTNC_HAVE_CUDA

#include "Support/Error.h"

#include <cstdlib>
#include <dlfcn.h>
#include <string>

using namespace attnc;

#define ATTNC_STRINGIFY_(x) #x
#define ATTNC_STRINGIFY(x) ATTNC_STRINGIFY_(x)

llvm::Expected<const NVRTC &> attnc::getNVRTC() {
  static const std::pair<NVRTC, std::string> loaded = [] {
    NVRTC n;
    std::string tried;
    void *lib = nullptr;
    const char *forced = std::getenv("ATTNC_NVRTC");
    for (std::string path :
         {std::string(forced ? forced : ""),
          std::string("libnvrtc.so." ATTNC_STRINGIFY(ATTNC_NVRTC_SOVERSION)),
          std::string(ATTNC_NVRTC_TOOLKIT_DIR "/libnvrtc.so." ATTNC_STRINGIFY(
              ATTNC_NVRTC_SOVERSION))}) {
      if (path.empty() || lib)
        continue;
      lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      tried += (tried.empty() ? "" : ", ") + path;
    }
    if (!lib)
      return std::make_pair(
          n, "GPU targets need NVRTC, and none opened (tried " + tried +
                 "): install the CUDA toolkit or set "
                 "ATTNC_NVRTC to libnvrtc's path");
    std::string error;
#define ATTNC_RESOLVE(fn)                                                      \
  n.fn = reinterpret_cast<decltype(&::fn)>(dlsym(lib, ATTNC_STRINGIFY(fn)));   \
  if (!n.fn && error.empty())                                                  \
    error = "the NVRTC library lacks " ATTNC_STRINGIFY(fn);
    ATTNC_NVRTC_FUNCTIONS(ATTNC_RESOLVE)
#undef ATTNC_RESOLVE
    return std::make_pair(n, error);
  }();
  if (!loaded.second.empty())
    return makeError(loaded.second);
  return loaded.first;
}

#endif // ATTNC_HAVE_CUDA
