#pragma once
// Every tests/test_<area>.cpp is one Qt Test class, registered under its area name with
// PRETEXT_TEST_AREA (in place of QTEST_MAIN). The areas are linked into two programs, test_core
// (core only) and test_gui (viz and ui), each compiled in unity batches; CTest's test_<area>
// runs "test_core <area>" or "test_gui <area>", and "test_core --list" lists the areas.
#include <QObject>
#include <functional>
#include <memory>

namespace pretext::test {
using TestFactory = std::function<std::unique_ptr<QObject>()>;
bool registerArea(const char* area, TestFactory make);
}  // namespace pretext::test

#define PRETEXT_TEST_AREA(Class, area)                                      \
  static const bool pretextTestArea##Class = ::pretext::test::registerArea( \
      area, []() -> std::unique_ptr<QObject> { return std::make_unique<Class>(); });
