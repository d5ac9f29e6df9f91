// What a monorepo's code sees of corepy: headers by workspace path, the public targets, and the
// dependencies corepy_dependencies() declared.
#include <memory_resource>
#include <vector>

#include "allocators/arena_resource.h"
#include "corepy/arena.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "gtest/gtest.h"
#include "ops/reduce.h"

TEST(Embedding, ArenaScopeServesPmrContainersAndRewinds) {
  const std::size_t before = corepy::arena_stats().used;
  const float sum = corepy::with_arena([before](corepy::ArenaResource& arena) {
    std::pmr::vector<float> values({1.0f, 2.0f, 3.5f}, &arena);
    EXPECT_GT(arena.stats().used, before);
    return corepy::ops::sum_f32(values);
  });
  EXPECT_EQ(sum, 6.5f);
  EXPECT_EQ(corepy::arena_stats().used, before);
}

TEST(Embedding, ConfigurationParsesSizes) {
  EXPECT_EQ(*corepy::parse_byte_size("64KiB"), 64u * 1024u);
  EXPECT_FALSE(corepy::parse_byte_size("lots").ok());
}

TEST(Embedding, DispatchAndConfigurationFromTheMonorepo) {
  const float x[] = {1.0f, 2.0f, 3.0f};
  EXPECT_EQ(corepy::sum_f32_cpu_dispatch(x, 3), 6.0f);
  corepy::Options o;
  o.allocator = "stats(arena)";
  EXPECT_TRUE(corepy::configure(o).ok());
  EXPECT_EQ(corepy::mean_f32_cpu_dispatch(x, 3), 2.0f);
  EXPECT_NE(corepy::op_stats_json().find("\"op\":\"mean_f32\",\"calls\":1"), std::string::npos);
  corepy::reset_configuration();
}
