# `cmake --install build --prefix P` gives an outside project
#   find_package(MoEMLIR CONFIG REQUIRED)   # CMAKE_PREFIX_PATH=P
#   target_link_libraries(app PRIVATE MoEMLIR::MoeCAPI)   # or MoEMLIR::MoeAPI
# P/include: moe/ (C++ headers + the generated .inc they include), moe-c/;
# P/lib: every project library (shared) and lib/cmake/MoEMLIR/;
# P/bin: moe-opt, moe-run, moe-import. Guide: docs/Embedding.md.
include(CMakePackageConfigHelpers)

set(MOE_INSTALL_CMAKE_DIR lib/cmake/MoEMLIR)

get_property(MOE_EXPORTED_LIBRARIES GLOBAL PROPERTY MOE_EXPORTED_LIBRARIES)
install(TARGETS ${MOE_EXPORTED_LIBRARIES}
  EXPORT MoEMLIRTargets
  LIBRARY DESTINATION lib
  ARCHIVE DESTINATION lib
  RUNTIME DESTINATION bin)
install(TARGETS moe-opt moe-run moe-import RUNTIME DESTINATION bin)

install(DIRECTORY include/moe include/moe-c
  DESTINATION include
  FILES_MATCHING PATTERN "*.h")
install(DIRECTORY ${PROJECT_BINARY_DIR}/include/moe
  DESTINATION include
  FILES_MATCHING PATTERN "*.h.inc" PATTERN "*.h"
  PATTERN "CMakeFiles" EXCLUDE)

install(EXPORT MoEMLIRTargets
  NAMESPACE MoEMLIR::
  DESTINATION ${MOE_INSTALL_CMAKE_DIR})
configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/MoEMLIRConfig.cmake.in
  ${PROJECT_BINARY_DIR}/MoEMLIRConfig.cmake
  INSTALL_DESTINATION ${MOE_INSTALL_CMAKE_DIR})
# 0.x: only the same minor version is compatible.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/MoEMLIRConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/MoEMLIRConfig.cmake
  ${PROJECT_BINARY_DIR}/MoEMLIRConfigVersion.cmake
  DESTINATION ${MOE_INSTALL_CMAKE_DIR})
