# Installs the static library, its headers under include/tilenet/, and a CMake package so that
# consumers write find_package(tilenet) and link tilenet::tilenet.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS tilenet EXPORT tilenetTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tilenet)
foreach(dir kernels tensor nn optim)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tilenet/${dir}
    FILES_MATCHING PATTERN "*.h")
endforeach()
install(EXPORT tilenetTargets NAMESPACE tilenet:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tilenet)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/tilenetConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tilenetConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tilenet)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tilenetConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tilenetConfig.cmake ${PROJECT_BINARY_DIR}/tilenetConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tilenet)
