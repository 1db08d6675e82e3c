#include "app/demo.h"
namespace imgstore {
int RunDemo(const DemoOptions&) { return 1; }
}  // namespace imgstore
