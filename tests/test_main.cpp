// main() of test_core and test_gui: runs the Qt Test class of the area named first on the
// command line, with the rest of the arguments as Qt Test's (e.g. test_core train -v2 fitTwice).
#include "test_main.h"

#include <QtTest>
#ifdef PRETEXT_TEST_WIDGETS
#include <QApplication>
#endif

#include <cstdio>
#include <map>
#include <string>

namespace pretext::test {
namespace {
std::map<std::string, TestFactory>& areas() {
  static std::map<std::string, TestFactory> registered;
  return registered;
}
}  // namespace

bool registerArea(const char* area, TestFactory make) {
  areas()[area] = std::move(make);
  return true;
}
}  // namespace pretext::test

int main(int argc, char** argv) {
  auto& areas = pretext::test::areas();
  auto listAreas = [&](std::FILE* out) {
    for (const auto& [name, make] : areas) std::fprintf(out, "%s\n", name.c_str());
  };
  const std::string area = argc > 1 ? argv[1] : "";
  if (area == "--list") {
    listAreas(stdout);
    return 0;
  }
  auto found = areas.find(area);
  if (found == areas.end()) {
    std::fprintf(stderr, "usage: %s AREA [Qt Test options]; %s. The areas:\n", argv[0],
                 area.empty() ? "no area given" : ("no area named '" + area + "'").c_str());
    listAreas(stderr);
    return 2;
  }
#ifdef PRETEXT_TEST_WIDGETS
  QApplication app(argc, argv);
#else
  QCoreApplication app(argc, argv);
#endif
  QCoreApplication::setAttribute(Qt::AA_Use96Dpi, true);
  QStringList args = QCoreApplication::arguments();
  args.removeAt(1);  // the area
  auto testObject = found->second();
  return QTest::qExec(testObject.get(), args);
}
