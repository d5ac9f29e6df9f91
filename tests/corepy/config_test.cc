// Configuration: sources and their order (code > flags > environment > defaults), bad values
// named once while the runtime keeps its defaults, configure() all-or-nothing.
#include "corepy/config.h"

#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::string, corepy_allocator);
ABSL_DECLARE_FLAG(std::string, corepy_arena_size);
ABSL_DECLARE_FLAG(std::string, corepy_op_arena_sizes);
ABSL_DECLARE_FLAG(std::string, corepy_worker_spin);

namespace corepy {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { clear(); }
  void TearDown() override { clear(); }
  static void clear() {
    for (const char* v : {"COREPY_ALLOCATOR", "COREPY_ARENA_SIZE", "COREPY_ARENA_MAX_SIZE",
                          "COREPY_OP_ARENA_SIZES", "COREPY_LOG", "COREPY_WORKER_SPIN"}) {
      unsetenv(v);
    }
    absl::SetFlag(&FLAGS_corepy_allocator, "");
    absl::SetFlag(&FLAGS_corepy_arena_size, "");
    absl::SetFlag(&FLAGS_corepy_op_arena_sizes, "");
    absl::SetFlag(&FLAGS_corepy_worker_spin, "");
    reset_configuration();
  }
};

TEST_F(ConfigTest, Defaults) {
  const Settings s = settings();
  EXPECT_EQ(s.allocator, "arena");
  EXPECT_EQ(s.arena_size, 1u << 20);
  EXPECT_EQ(s.arena_max_size, 0u);
  EXPECT_FALSE(s.debug_log);
  for (std::size_t size : s.op_arena_sizes) EXPECT_EQ(size, 0u);
  EXPECT_EQ(s.worker_spin, std::chrono::microseconds(50));
  EXPECT_EQ(internal::worker_spin(), std::chrono::microseconds(50));
}

TEST_F(ConfigTest, EnvironmentThenFlagsThenCode) {
  setenv("COREPY_ARENA_SIZE", "64KiB", 1);
  setenv("COREPY_ALLOCATOR", "system", 1);
  setenv("COREPY_LOG", "debug", 1);
  reset_configuration();
  EXPECT_EQ(settings().arena_size, 64u << 10);
  EXPECT_EQ(settings().allocator, "system");
  EXPECT_TRUE(settings().debug_log);

  absl::SetFlag(&FLAGS_corepy_arena_size, "128KiB");
  reset_configuration();
  EXPECT_EQ(settings().arena_size, 128u << 10);  // the flag wins over the environment
  EXPECT_EQ(settings().allocator, "system");     // the environment still sets the rest

  Options code;
  code.arena_size = 256u << 10;
  ASSERT_TRUE(configure(code).ok());
  EXPECT_EQ(settings().arena_size, 256u << 10);  // code wins over both
  Options more;
  more.allocator = "stats( arena )";
  ASSERT_TRUE(configure(more).ok());
  EXPECT_EQ(settings().allocator, "stats(arena)");  // canonical form
  EXPECT_EQ(settings().arena_size, 256u << 10);    // earlier configure() calls are kept

  reset_configuration();
  EXPECT_EQ(settings().arena_size, 128u << 10);  // code forgotten
}

TEST_F(ConfigTest, BadEnvironmentValuesAreNamedOnceAndTheDefaultsKept) {
  setenv("COREPY_ARENA_SIZE", "lots", 1);
  setenv("COREPY_ALLOCATOR", "nosuch", 1);
  setenv("COREPY_OP_ARENA_SIZES", "sum_f33=1KiB", 1);
  setenv("COREPY_LOG", "loud", 1);
  testing::internal::CaptureStderr();
  reset_configuration();
  reset_configuration();  // read twice: named once
  const std::string err = testing::internal::GetCapturedStderr();
  const Settings s = settings();
  EXPECT_EQ(s.arena_size, 1u << 20);
  EXPECT_EQ(s.allocator, "arena");
  EXPECT_FALSE(s.debug_log);
  for (const char* needle :
       {"ignoring COREPY_ARENA_SIZE=\"lots\": invalid byte size \"lots\"",
        "ignoring COREPY_ALLOCATOR=\"nosuch\"", "unknown allocator \"nosuch\"; accepted: arena",
        "ignoring COREPY_OP_ARENA_SIZES=\"sum_f33=1KiB\"", "unknown op \"sum_f33\"",
        "ignoring COREPY_LOG=\"loud\"", "accepted: debug, off"}) {
    EXPECT_NE(err.find(needle), std::string::npos) << needle << "\nin:\n" << err;
  }
  std::size_t count = 0;
  for (std::size_t pos = err.find("COREPY_ARENA_SIZE"); pos != std::string::npos;
       pos = err.find("COREPY_ARENA_SIZE", pos + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u) << err;
}

TEST_F(ConfigTest, BadFlagValuesAreNamedWithTheFlag) {
  absl::SetFlag(&FLAGS_corepy_allocator, "limit(arena)");
  testing::internal::CaptureStderr();
  reset_configuration();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("ignoring --corepy_allocator=\"limit(arena)\""), std::string::npos) << err;
  EXPECT_NE(err.find("needs max=<size>"), std::string::npos) << err;
  EXPECT_NE(err.find("keeping the default \"arena\""), std::string::npos) << err;
  EXPECT_EQ(settings().allocator, "arena");
}

TEST_F(ConfigTest, ConfigureReturnsTheErrorAndChangesNothing) {
  Options good;
  good.arena_size = 4096;
  ASSERT_TRUE(configure(good).ok());

  Options bad;
  bad.arena_size = 8192;
  bad.allocator = "stats(arena, pool)";
  absl::Status s = configure(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("\"stats\" wraps exactly one allocator, but was given 2"),
            std::string::npos)
      << s;
  EXPECT_EQ(settings().arena_size, 4096u);  // nothing applied, not even the good field

  Options bad_ops;
  bad_ops.op_arena_sizes = "sum_f32=12 parsecs";
  s = configure(bad_ops);
  EXPECT_NE(std::string(s.message()).find("sum_f32: invalid byte size \"12 parsecs\""),
            std::string::npos)
      << s;
}

TEST_F(ConfigTest, OpArenaSizes) {
  absl::StatusOr<std::array<std::size_t, kOpCount>> sizes =
      parse_op_arena_sizes(" sum_f32=64KiB , mean_f32=256KiB ");
  ASSERT_TRUE(sizes.ok()) << sizes.status();
  EXPECT_EQ((*sizes)[static_cast<std::size_t>(Op::kSumF32)], 64u << 10);
  EXPECT_EQ((*sizes)[static_cast<std::size_t>(Op::kMeanF32)], 256u << 10);
  EXPECT_EQ((*sizes)[static_cast<std::size_t>(Op::kAllBool)], 0u);
  EXPECT_TRUE(parse_op_arena_sizes("").ok());
  EXPECT_FALSE(parse_op_arena_sizes("sum_f32").ok());
  EXPECT_FALSE(parse_op_arena_sizes("sum_f32=").ok());
  EXPECT_FALSE(parse_op_arena_sizes("=4KiB").ok());
  const absl::Status s = parse_op_arena_sizes("sum_f32=1KiB,nope=2KiB").status();
  EXPECT_NE(std::string(s.message()).find("unknown op \"nope\"; ops: sum_f32, sum_i32"),
            std::string::npos)
      << s;

  absl::SetFlag(&FLAGS_corepy_op_arena_sizes, "any_bool=8KiB");
  reset_configuration();
  EXPECT_EQ(settings().op_arena_sizes[static_cast<std::size_t>(Op::kAnyBool)], 8u << 10);
}

TEST_F(ConfigTest, LogLevelsAreReadAlikeFromEverySource) {
  for (const char* on : {"debug", "DEBUG", " Debug "}) EXPECT_TRUE(*parse_log_level(on)) << on;
  for (const char* off : {"off", "OFF", "none", "0", ""}) EXPECT_FALSE(*parse_log_level(off)) << off;
  EXPECT_EQ(parse_log_level("loud").status().message(),
            "invalid log level \"loud\"; accepted: debug, off");
}

TEST_F(ConfigTest, WorkerSpinIsADurationUpToOneSecond) {
  using std::chrono::nanoseconds;
  const std::pair<const char*, nanoseconds> good[] = {{"0", nanoseconds(0)},
                                                      {"50us", nanoseconds(50000)},
                                                      {" 0.2ms ", nanoseconds(200000)},
                                                      {"1s", nanoseconds(1000000000)},
                                                      {"1ns", nanoseconds(1)},
                                                      {"999999999ns", nanoseconds(999999999)}};
  for (const auto& [text, want] : good) {
    absl::StatusOr<nanoseconds> got = parse_worker_spin(text);
    ASSERT_TRUE(got.ok()) << text << ": " << got.status();
    EXPECT_EQ(*got, want) << text;
    EXPECT_EQ(*parse_worker_spin(format_worker_spin(*got)), *got) << "round trip of " << text;
  }
  for (const char* bad : {"", "50", "-1us", "1.000000001s", "2s", "1m0s", "inf", "-inf", "50 us",
                          "fast", "9223372036854775807ns", "1e9s", "0x10us"}) {
    absl::StatusOr<nanoseconds> got = parse_worker_spin(bad);
    ASSERT_FALSE(got.ok()) << bad << " parsed as " << got->count() << " ns";
    EXPECT_NE(std::string(got.status().message()).find("invalid worker_spin"), std::string::npos)
        << got.status();
    EXPECT_NE(std::string(got.status().message()).find("from 0 (workers sleep at once) to 1s"),
              std::string::npos)
        << got.status();
  }

  setenv("COREPY_WORKER_SPIN", "200us", 1);
  reset_configuration();
  EXPECT_EQ(settings().worker_spin, std::chrono::microseconds(200));
  EXPECT_EQ(internal::worker_spin(), std::chrono::microseconds(200));
  absl::SetFlag(&FLAGS_corepy_worker_spin, "0");
  reset_configuration();
  EXPECT_EQ(settings().worker_spin, nanoseconds(0));  // the flag over the environment
  Options code;
  code.worker_spin = std::chrono::milliseconds(1);
  ASSERT_TRUE(configure(code).ok());
  EXPECT_EQ(settings().worker_spin, std::chrono::milliseconds(1));  // code over both
  EXPECT_EQ(internal::worker_spin(), std::chrono::milliseconds(1));

  for (nanoseconds out_of_range : {nanoseconds(-1), nanoseconds::min(),
                                   ops::kMaxWorkerSpin + nanoseconds(1), nanoseconds::max()}) {
    Options bad;
    bad.worker_spin = out_of_range;
    bad.arena_size = 4096;
    const absl::Status s = configure(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << out_of_range.count();
    EXPECT_NE(std::string(s.message())
                  .find(absl::StrCat("invalid worker_spin \"", out_of_range.count(), "ns\"")),
              std::string::npos)
        << s;
    EXPECT_EQ(settings().worker_spin, std::chrono::milliseconds(1));  // nothing changed
    EXPECT_NE(settings().arena_size, 4096u);
  }

  setenv("COREPY_WORKER_SPIN", "5s", 1);
  absl::SetFlag(&FLAGS_corepy_worker_spin, "");
  testing::internal::CaptureStderr();
  reset_configuration();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("ignoring COREPY_WORKER_SPIN=\"5s\": invalid worker_spin \"5s\""),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("keeping the default 50us"), std::string::npos) << err;
  EXPECT_EQ(settings().worker_spin, std::chrono::microseconds(50));
}

TEST_F(ConfigTest, GenerationChangesWithEveryNewConfiguration) {
  const std::uint64_t before = internal::config_generation();
  Options o;
  o.debug_log = true;
  ASSERT_TRUE(configure(o).ok());
  EXPECT_GT(internal::config_generation(), before);
  EXPECT_TRUE(internal::debug_log_enabled());
}

// ---- issue 10 ----

// A size no upstream can serve anywhere (1 PiB: past RAM and swap, past the sanitizers' and
// Valgrind's largest allocation, past what 47-bit address spaces can map).
constexpr const char* kImpossible = "1048576GiB";
constexpr std::size_t kImpossibleBytes = std::size_t{1} << 50;

// Defect 5: configure() accepted arenas that could not be built; every op then failed.
TEST_F(ConfigTest, ConfigureRefusesAnArenaTheUpstreamCannotServeAndChangesNothing) {
  Options good;
  good.arena_size = 64 << 10;
  ASSERT_TRUE(configure(good).ok());

  Options bad;
  bad.arena_size = kImpossibleBytes;
  absl::Status s = configure(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(std::string(s.message()).find("arena_size from configure(): an arena of 1125899906842624 bytes cannot be built"),
            std::string::npos)
      << s;
  EXPECT_EQ(settings().arena_size, 64u << 10);

  bad = Options{};
  bad.allocator = "stats(arena(size=1048576GiB))";
  s = configure(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(std::string(s.message()).find("allocator from configure()"), std::string::npos) << s;
  EXPECT_EQ(settings().allocator, "arena");

  bad = Options{};
  bad.op_arena_sizes = "sum_f32=64KiB,mean_f32=1048576GiB";
  s = configure(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(std::string(s.message()).find("mean_f32: an arena of 1125899906842624 bytes"),
            std::string::npos)
      << s;
  EXPECT_EQ(settings().op_arena_sizes[0], 0u);

  // A limit below the arena's own block: the arena cannot be built over it either.
  bad = Options{};
  bad.allocator = "arena(upstream=limit(system, max=4KiB))";
  s = configure(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(std::string(s.message()).find("limit of 4096 bytes exceeded"), std::string::npos) << s;
  EXPECT_EQ(settings().allocator, "arena");
  EXPECT_EQ(settings().arena_size, 64u << 10);
}

TEST_F(ConfigTest, AnImpossibleArenaFromTheEnvironmentIsNamedAndTheDefaultKept) {
  setenv("COREPY_ARENA_SIZE", kImpossible, 1);
  setenv("COREPY_OP_ARENA_SIZES", "sum_f32=1048576GiB", 1);
  testing::internal::CaptureStderr();
  reset_configuration();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("corepy: ignoring COREPY_ARENA_SIZE=\"1048576GiB\": an arena of "
                     "1125899906842624 bytes cannot be built"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("using the default 1MiB"), std::string::npos) << err;
  EXPECT_NE(err.find("corepy: ignoring COREPY_OP_ARENA_SIZES=\"sum_f32=1048576GiB\": sum_f32: "),
            std::string::npos)
      << err;
  EXPECT_EQ(settings().arena_size, std::size_t{1} << 20);
  EXPECT_EQ(settings().op_arena_sizes[0], 0u);

  setenv("COREPY_ALLOCATOR", "arena(size=1048576GiB)", 1);
  unsetenv("COREPY_ARENA_SIZE");
  unsetenv("COREPY_OP_ARENA_SIZES");
  testing::internal::CaptureStderr();
  reset_configuration();
  const std::string err2 = testing::internal::GetCapturedStderr();
  EXPECT_NE(err2.find("corepy: ignoring COREPY_ALLOCATOR=\"arena(size=1048576GiB)\""),
            std::string::npos)
      << err2;
  EXPECT_EQ(settings().allocator, "arena");
}

// Defect 13: a bad flag said "keeping the default" while the environment's value stayed.
TEST_F(ConfigTest, ABadFlagSaysWhichValueStaysInForce) {
  setenv("COREPY_ARENA_SIZE", "4MiB", 1);
  absl::SetFlag(&FLAGS_corepy_arena_size, "lots");
  testing::internal::CaptureStderr();
  reset_configuration();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("corepy: ignoring --corepy_arena_size=\"lots\": invalid byte size \"lots\""),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("; keeping COREPY_ARENA_SIZE=\"4MiB\""), std::string::npos) << err;
  EXPECT_EQ(err.find("keeping the default"), std::string::npos) << err;
  EXPECT_EQ(settings().arena_size, 4u << 20);
}

TEST_F(ConfigTest, LongValuesAreCutInMessages) {
  const std::string huge(100000, 'x');
  setenv("COREPY_ALLOCATOR", huge.c_str(), 1);
  testing::internal::CaptureStderr();
  reset_configuration();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_LT(err.size(), 2000u) << err.substr(0, 3000);
  EXPECT_NE(err.find(std::string(200, 'x') + "...\" (100000 chars)"), std::string::npos) << err;
  EXPECT_EQ(err.find(std::string(201, 'x')), std::string::npos);
  EXPECT_EQ(settings().allocator, "arena");

  Options o;
  o.op_arena_sizes = "sum_f32=" + huge;
  const absl::Status s = configure(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(s.message().size(), 1000u);
  EXPECT_NE(std::string(s.message()).find("(100008 chars)"), std::string::npos) << s;
}

TEST_F(ConfigTest, ARepeatedOpInPerOpSizesIsRefused) {
  const auto sizes = parse_op_arena_sizes("sum_f32=1KiB,sum_f32=2KiB");
  ASSERT_FALSE(sizes.ok());
  EXPECT_NE(std::string(sizes.status().message()).find("op \"sum_f32\" is given more than once"),
            std::string::npos)
      << sizes.status();
  Options o;
  o.op_arena_sizes = "sum_f32=1KiB, mean_f32=4KiB ,sum_f32=2KiB";
  EXPECT_EQ(configure(o).code(), absl::StatusCode::kInvalidArgument);
  setenv("COREPY_OP_ARENA_SIZES", "sum_f32=1KiB,sum_f32=2KiB", 1);
  testing::internal::CaptureStderr();
  reset_configuration();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("is given more than once; keeping the default none"), std::string::npos)
      << err;
  EXPECT_EQ(settings().op_arena_sizes[0], 0u);
}

}  // namespace
}  // namespace corepy
