# `cpack -G DEB` (in the build folder) makes attnc_<version>_<arch>.deb from
# the install rules (cmake/Install.cmake), under /usr. Its dependencies are
# the Debian packages the installed files load at run time; the C++ API's
# users also need LLVM's headers, and the C API's DLPack's (Recommends).
# NVRTC and the CUDA driver are opened at run time when a GPU target is
# used, so they are no dependency.
set(CPACK_PACKAGE_NAME attnc)
set(CPACK_PACKAGE_VENDOR "attnc")
set(CPACK_PACKAGE_CONTACT "attnc developers <attnc@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Compiler for attention kernels (CPU and NVIDIA GPUs), on MLIR")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libmlir-22, libllvm22, libc6, libstdc++6, libgcc-s1")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "llvm-22-dev, libdlpack-dev, python3")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "python3-numpy, python3-torch")
include(CPack)
