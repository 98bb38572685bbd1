# What `cmake --install` puts under the prefix, and the CMake package that
# find_package(attnc CONFIG) reads there:
#   bin/attnc, bin/attn-opt                 the compiler and the dialect's opt
#   lib/libattnc.so.0 (+ libattnc.so)       the C API and the C++ JIT API
#   include/attnc/                          their headers, and the runtime the
#                                           generated code is written over
#                                           (abi.h, memref.h, cpu_run.h, the
#                                           CUDA templates) for AOT builds
#   lib/python3/dist-packages/attnc/        the Python package
#   lib/cmake/attnc/                        attncConfig.cmake and its targets
#   share/attnc/examples, share/doc/attnc   the examples and the docs
# Installed programs find libMLIR.so and libLLVM.so in LLVM's own directory
# (Debian keeps libMLIR.so there only).
include(CMakePackageConfigHelpers)

set(ATTNC_CMAKE_DIR lib/cmake/attnc)
set(ATTNC_INCLUDE_INSTALL_DIR include)
set_target_properties(attnc attn-opt PROPERTIES INSTALL_RPATH "${LLVM_LIBRARY_DIR}")
set_target_properties(attnc PROPERTIES EXPORT_NAME compiler)
install(TARGETS attnc EXPORT attncTargets RUNTIME DESTINATION bin)
install(TARGETS attn-opt RUNTIME DESTINATION bin)
install(FILES include/attnc/attnc.h include/attnc/Builder.h DESTINATION include/attnc)
install(DIRECTORY runtime/attnc runtime/cuda/attnc runtime/cpu/attnc DESTINATION include
        FILES_MATCHING PATTERN "*.h" PATTERN "*.cuh")
install(DIRECTORY python/attnc DESTINATION lib/python3/dist-packages
        PATTERN "__pycache__" EXCLUDE)
install(DIRECTORY examples/ DESTINATION share/attnc/examples
        FILES_MATCHING PATTERN "*.attn" PATTERN "cpp" EXCLUDE PATTERN "mlir" EXCLUDE)
install(DIRECTORY docs/ DESTINATION share/doc/attnc FILES_MATCHING PATTERN "*.md")
install(FILES README.md DESTINATION share/doc/attnc)

install(EXPORT attncTargets NAMESPACE attnc:: DESTINATION ${ATTNC_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/attncConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/attncConfig.cmake
                              INSTALL_DESTINATION ${ATTNC_CMAKE_DIR}
                              PATH_VARS ATTNC_INCLUDE_INSTALL_DIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/attncConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/attncConfig.cmake
              ${PROJECT_BINARY_DIR}/attncConfigVersion.cmake
        DESTINATION ${ATTNC_CMAKE_DIR})
