# ---- objects: the API objects slicer reads and writes, built and parsed in one
# place (ResourceSlices of the DRA driver so far); pure, no I/O.
file(GLOB OBJECTS_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/objects/*.c)
add_library(slicer_objects STATIC ${OBJECTS_SOURCES})
target_include_directories(slicer_objects PUBLIC ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(slicer_objects PUBLIC slicer_core slicer_base PkgConfig::JANSSON)
target_compile_options(slicer_objects PRIVATE -Wconversion)
target_link_libraries(slicer_agent PUBLIC slicer_objects)
target_link_libraries(slicer_controller PUBLIC slicer_objects)
