# edgerag_module(NAME DEPS ...): a static library from every .cpp in src/NAME.
# Each module is its own target so a module builds and tests on its own.
function(edgerag_module name)
  file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  if(_srcs)
    add_library(edgerag_${name} STATIC ${_srcs})
    target_include_directories(edgerag_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(edgerag_${name} PUBLIC ${ARGN})
  else()  # header-only (or not yet written) module
    add_library(edgerag_${name} INTERFACE)
    target_include_directories(edgerag_${name} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(edgerag_${name} INTERFACE ${ARGN})
  endif()
  add_library(edgerag::${name} ALIAS edgerag_${name})
endfunction()

# edgerag_test(NAME DEPS ...): one GoogleTest binary from every .cpp in tests/NAME.
function(edgerag_test name)
  file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${name}/*.cpp)
  if(NOT _srcs)
    return()
  endif()
  add_executable(test_${name} ${_srcs})
  target_link_libraries(test_${name} PRIVATE ${ARGN} GTest::gtest_main)
  target_include_directories(test_${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(test_${name} PRIVATE EDGERAG_SHARED_DIR="${EDGERAG_SHARED_DIR}"
    EDGERAG_TESTS_DIR="${CMAKE_CURRENT_SOURCE_DIR}")
  gtest_discover_tests(test_${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
    PROPERTIES ENVIRONMENT "EDGERAG_SHARED=${EDGERAG_SHARED_DIR}" LABELS unit)
endfunction()
