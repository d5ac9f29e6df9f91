#include "allocators/arena_resource.h"
#include "gtest/gtest.h"
TEST(Smoke, Allocates) {
  corepy::ArenaResource a(1024);
  void* p = a.allocate(10, 8);
  EXPECT_NE(p, nullptr);
  EXPECT_EQ(a.stats().used, 10u);
}
