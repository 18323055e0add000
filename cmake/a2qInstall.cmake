include(CMakePackageConfigHelpers)

set(_a2q_install_targets a2q)
if(TARGET a2q_data)
  list(APPEND _a2q_install_targets a2q_data)
endif()
if(TARGET a2q_compiled)
  list(APPEND _a2q_install_targets a2q_compiled)
endif()
if(TARGET a2q_onnx)
  list(APPEND _a2q_install_targets a2q_onnx)
  set(A2Q_USES_ONNX TRUE)
else()
  set(A2Q_USES_ONNX FALSE)
endif()
install(TARGETS ${_a2q_install_targets} EXPORT a2qTargets)
if(OpenMP_CXX_FOUND)
  set(A2Q_USES_OPENMP TRUE)
else()
  set(A2Q_USES_OPENMP FALSE)
endif()
install(DIRECTORY include/a2q DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(A2Q_CMAKE_DIR ${CMAKE_INSTALL_DATADIR}/cmake/a2q)
install(EXPORT a2qTargets NAMESPACE a2q:: DESTINATION ${A2Q_CMAKE_DIR})

configure_package_config_file(cmake/a2qConfig.cmake.in ${PROJECT_BINARY_DIR}/a2qConfig.cmake
  INSTALL_DESTINATION ${A2Q_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/a2qConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/a2qConfig.cmake ${PROJECT_BINARY_DIR}/a2qConfigVersion.cmake
  DESTINATION ${A2Q_CMAKE_DIR})
