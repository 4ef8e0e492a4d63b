# ---- cdi: CDI specs for MIG slices (docs/internals/cdi.md) --------------------
# Included OPTIONAL from the top-level CMakeLists.txt, after the unit-test loop.
file(GLOB CDI_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/cdi/*.c)
add_library(slicer_cdi STATIC ${CDI_SOURCES})
target_include_directories(slicer_cdi PUBLIC ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(slicer_cdi PUBLIC slicer_base PkgConfig::JANSSON)
target_compile_options(slicer_cdi PRIVATE -Wconversion)

if(TARGET test_cdi)
  target_link_libraries(test_cdi PRIVATE slicer_cdi)
endif()

# test/cdi/cdi_gen: writes specs for test/cdi/cdi.sh, which checks them with
# the CDI project's own Go library (test/cdi, built by test/lib/gobuild.sh).
add_executable(cdi_gen ${CMAKE_SOURCE_DIR}/test/cdi/cdi_gen.c)
target_link_libraries(cdi_gen PRIVATE slicer_cdi)
target_compile_options(cdi_gen PRIVATE -Wconversion)
add_test(NAME cdi/validate
  COMMAND bash ${CMAKE_SOURCE_DIR}/test/cdi/cdi.sh $<TARGET_FILE:cdi_gen>)
set_tests_properties(cdi/validate PROPERTIES LABELS cdi SKIP_RETURN_CODE 77 TIMEOUT 600)
if(TEST unit/test_cdi)
  set_tests_properties(unit/test_cdi PROPERTIES LABELS "unit;cdi")
endif()
