# kubelet/: slicer's node agent as a kubelet DRA plugin (docs/internals/kubelet.md).
# Included (OPTIONAL) at the end of the top-level CMakeLists.txt.
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
pkg_check_modules(PROTOBUF_C REQUIRED IMPORTED_TARGET libprotobuf-c)
find_program(PROTOC_C protoc-c REQUIRED)

# protoc-c generates the message code from our .proto files into the build dir.
set(KL_PROTO_DIR ${CMAKE_SOURCE_DIR}/src/kubelet/proto)
set(KL_GEN_DIR ${CMAKE_BINARY_DIR}/gen/kubelet)
set(KL_PROTOS pluginregistration dra_v1 dra_v1beta1)
set(KL_GEN_SOURCES)
foreach(p ${KL_PROTOS})
  list(APPEND KL_GEN_SOURCES ${KL_GEN_DIR}/${p}.pb-c.c)
  add_custom_command(
    OUTPUT ${KL_GEN_DIR}/${p}.pb-c.c ${KL_GEN_DIR}/${p}.pb-c.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${KL_GEN_DIR}
    COMMAND ${PROTOC_C} --c_out=${KL_GEN_DIR} -I${KL_PROTO_DIR} ${KL_PROTO_DIR}/${p}.proto
    DEPENDS ${KL_PROTO_DIR}/${p}.proto
    COMMENT "protoc-c ${p}.proto")
endforeach()

# Generated code: no -Werror pickiness of ours (it is protoc-c's style).
add_library(slicer_kubelet_pb STATIC ${KL_GEN_SOURCES})
target_include_directories(slicer_kubelet_pb PUBLIC ${KL_GEN_DIR})
target_link_libraries(slicer_kubelet_pb PUBLIC PkgConfig::PROTOBUF_C)
target_compile_options(slicer_kubelet_pb PRIVATE -Wno-error -Wno-missing-prototypes
  -Wno-strict-prototypes -Wno-unused-parameter)

add_library(slicer_kubelet STATIC src/kubelet/frame.c src/kubelet/grpc.c src/kubelet/dra.c)
target_include_directories(slicer_kubelet PUBLIC src)
target_link_libraries(slicer_kubelet PUBLIC slicer_base PRIVATE slicer_kubelet_pb
  PkgConfig::NGHTTP2)
target_compile_options(slicer_kubelet PRIVATE -Wconversion)
if(SLICER_FUZZ)
  target_compile_options(slicer_kubelet PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
endif()

# The unit tests (test/unit/test_kubelet.c, created by the top-level glob) also
# speak HTTP/2 and protobuf as a client.
if(TARGET test_kubelet)
  target_link_libraries(test_kubelet PRIVATE slicer_kubelet slicer_kubelet_pb PkgConfig::NGHTTP2)
endif()

# Against the kubelet's own Go client packages: a C fixture server on the
# plugin, and test/kubelet (k8s.io/kubelet v0.37.2, grpc-go) as the client.
add_executable(kubelet_dra_fixture test/kubelet/dra_fixture.c)
target_link_libraries(kubelet_dra_fixture PRIVATE slicer_kubelet)
add_test(NAME kubelet/grpc
  COMMAND bash ${CMAKE_SOURCE_DIR}/test/kubelet/kubelet.sh $<TARGET_FILE:kubelet_dra_fixture>)
set_tests_properties(kubelet/grpc PROPERTIES LABELS kubelet TIMEOUT 600 SKIP_RETURN_CODE 77)
