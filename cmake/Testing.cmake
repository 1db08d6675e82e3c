# All unit tests (src/**/*_test.cc) go into one binary, imgstore_unit_tests;
# integration tests start the real imgstore binary (tests/integration).
include(CTest)
include(GoogleTest)
