// What a monorepo's code sees of corepy: headers by workspace path, the public targets, and the
// dependencies corepy_dependencies() declared.
#include <memory_resource>
#include <vector>

#include "allocators/arena_resource.h"
#include "corepy/arena.h"
#include "corepy/config.h"
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
