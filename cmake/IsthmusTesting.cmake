# isthmus_add_gtest(NAME name SOURCES ... [LIBS ...] [LABELS unit|multiproc|wan|gpu ...] [TIMEOUT s]
#                   [NEEDS target ...])
#
# NEEDS: programs the test runs (isthmus_run, hello_centers, ...): built before the test.
# One GoogleTest executable, registered test by test with CTest (so GTEST_SKIP shows as skipped).
# Every test gets a hard timeout: multi-process tests must never hang CI.
function(isthmus_add_gtest)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;NEEDS" ${ARGN})
  if(NOT ISTHMUS_BUILD_TESTS)
    return()
  endif()
  find_package(GTest REQUIRED)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main Threads::Threads)
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  isthmus_warnings(${T_NAME})
  if(T_NEEDS)
    add_dependencies(${T_NAME} ${T_NEEDS})
  endif()
  include(GoogleTest)
  gtest_discover_tests(${T_NAME}
    PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "ISTHMUS_BUILD_DIR=${PROJECT_BINARY_DIR};ISTHMUS_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    DISCOVERY_TIMEOUT 60)
endfunction()
