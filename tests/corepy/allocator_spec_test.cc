// The allocator spec grammar: what parses, its canonical text, and how bad text is named.
#include "corepy/allocator_spec.h"

#include <string>

#include "gtest/gtest.h"

namespace corepy {
namespace {

std::string canonical(const char* text) {
  absl::StatusOr<AllocatorSpec> spec = parse_allocator_spec(text);
  EXPECT_TRUE(spec.ok()) << text << ": " << spec.status();
  return spec.ok() ? spec->to_string() : "";
}

std::string error_of(const char* text) {
  absl::StatusOr<AllocatorSpec> spec = parse_allocator_spec(text);
  EXPECT_FALSE(spec.ok()) << text << " parsed as " << spec->to_string();
  return spec.ok() ? "" : std::string(spec.status().message());
}

TEST(AllocatorSpecTest, NamesAndNesting) {
  EXPECT_EQ(canonical("arena"), "arena");
  EXPECT_EQ(canonical("  stats( arena )  "), "stats(arena)");
  EXPECT_EQ(canonical("limit(arena, max=64MiB)"), "limit(arena,max=64MiB)");
  EXPECT_EQ(canonical("arena(upstream=mimalloc)"), "arena(upstream=mimalloc)");
  EXPECT_EQ(canonical("stats(limit(arena(size=4MiB, upstream=stats(pool)), max=1GiB))"),
            "stats(limit(arena(size=4MiB,upstream=stats(pool)),max=1GiB))");
  EXPECT_EQ(canonical("arena()"), "arena");
  EXPECT_EQ(canonical("x(a,b,c)"), "x(a,b,c)");
}

TEST(AllocatorSpecTest, ParametersComeAfterWrappedAllocatorsInCanonicalForm) {
  EXPECT_EQ(canonical("limit(max=1KiB, arena)"), "limit(arena,max=1KiB)");
}

TEST(AllocatorSpecTest, StructureIsExposed) {
  absl::StatusOr<AllocatorSpec> spec = parse_allocator_spec("limit(arena(size=1MiB), max=2GiB)");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->name, "limit");
  ASSERT_EQ(spec->inner.size(), 1u);
  EXPECT_EQ(spec->inner[0].name, "arena");
  ASSERT_NE(spec->inner[0].param("size"), nullptr);
  EXPECT_EQ(spec->inner[0].param("size")->name, "1MiB");
  ASSERT_NE(spec->param("max"), nullptr);
  EXPECT_EQ(spec->param("max")->name, "2GiB");
  EXPECT_EQ(spec->param("min"), nullptr);
}

TEST(AllocatorSpecTest, MalformedTextIsQuotedWithPositionAndExpectation) {
  std::string e = error_of("");
  EXPECT_NE(e.find("invalid allocator spec \"\""), std::string::npos) << e;
  EXPECT_NE(e.find("expected a name at position 0"), std::string::npos) << e;

  e = error_of("stats(arena");
  EXPECT_NE(e.find("\"stats(arena\""), std::string::npos) << e;
  EXPECT_NE(e.find("expected ',' or ')' at position 11, found the end"), std::string::npos) << e;

  e = error_of("limit(arena, max=)");
  EXPECT_NE(e.find("expected a name at position 17, found ')'"), std::string::npos) << e;

  e = error_of("arena)");
  EXPECT_NE(e.find("expected end of text"), std::string::npos) << e;

  e = error_of("arena(,)");
  EXPECT_NE(e.find("position 6"), std::string::npos) << e;

  EXPECT_NE(error_of("a b").find("position 2"), std::string::npos);
  EXPECT_NE(error_of("arena(size=1MiB").find("found the end"), std::string::npos);
  EXPECT_NE(error_of("stats(=x)").find("expected a name"), std::string::npos);
  EXPECT_NE(error_of("ar#ena").find("found '#'"), std::string::npos);
}

TEST(AllocatorSpecTest, DeepNestingIsRefusedNotOverflowingTheStack) {
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += "s(";
  deep += "arena";
  for (int i = 0; i < 10000; ++i) deep += ")";
  EXPECT_NE(error_of(deep.c_str()).find("levels of nesting"), std::string::npos);
  std::string ok;
  for (int i = 0; i < 30; ++i) ok += "s(";
  ok += "arena";
  for (int i = 0; i < 30; ++i) ok += ")";
  EXPECT_TRUE(parse_allocator_spec(ok).ok());
}

}  // namespace
}  // namespace corepy
