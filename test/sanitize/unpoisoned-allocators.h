/* Included first in every file of the ASan build (CMakeLists.txt).
 *
 * LLVM's BumpPtrAllocator, inlined from its header into our instrumented
 * code, poisons each slab it allocates and unpoisons what it hands out. Its
 * copies inside Debian's libLLVM and libMLIR are not instrumented and
 * unpoison nothing, so MLIR's own allocations from a slab that our code
 * started (an MLIRContext's attribute storage) read as use-after-poison.
 * Our copies of the allocator poison nothing instead: ASan still sees every
 * malloc and free, only LLVM's manual annotations are off. */
#include <sanitizer/asan_interface.h>
#define __asan_poison_memory_region(p, size) ((void)(p), (void)(size))
#define __asan_unpoison_memory_region(p, size) ((void)(p), (void)(size))
