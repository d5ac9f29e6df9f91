// Counter: value, peak and total, and the nested-region arithmetic every scope shares.
#include "allocators/counter.h"

#include "gtest/gtest.h"

namespace corepy {
namespace {

TEST(CounterTest, IncreasesRaiseValueTotalAndPeakAndDecreasesOnlyValue) {
  Counter c;
  c += 100;
  c += 50;
  c -= 120;
  c += 10;
  EXPECT_EQ(c.value, 40u);
  EXPECT_EQ(c.peak, 150u);
  EXPECT_EQ(c.total, 160u);
}

TEST(CounterTest, AnObservedValueMovesThePeakButNotTheTotal) {
  Counter c;
  c.observe(70);
  c.observe(20);
  EXPECT_EQ(c.value, 20u);
  EXPECT_EQ(c.peak, 70u);
  EXPECT_EQ(c.total, 0u);
}

TEST(CounterTest, ARegionsPeakStartsAtTheCurrentValueAndFoldsIntoTheEnclosingOne) {
  Counter c;
  c += 500;
  c -= 400;                                   // peak 500, value 100
  const std::size_t outer = c.open_region();  // the region starts at 100
  EXPECT_EQ(c.peak, 100u);
  c += 200;
  c -= 200;
  EXPECT_EQ(c.peak, 300u);  // the region's own peak
  {
    const std::size_t middle = c.open_region();
    c += 50;
    EXPECT_EQ(c.peak, 150u);  // the inner region only
    c -= 50;
    c.close_region(middle);
  }
  EXPECT_EQ(c.peak, 300u);  // the inner region's 150 changed nothing
  c.close_region(outer);
  EXPECT_EQ(c.peak, 500u);  // the enclosing peak was higher
}

TEST(CounterTest, NestedRegionsFoldTheirPeaksOutwardExactly) {
  Counter c;
  const std::size_t outer = c.open_region();
  c += 10;
  const std::size_t inner = c.open_region();
  c += 90;  // 100 inside the inner region
  c -= 90;
  c.close_region(inner);
  EXPECT_EQ(c.peak, 100u);  // the inner peak reaches the outer region
  c.close_region(outer);
  EXPECT_EQ(c.peak, 100u);
}

TEST(CounterTest, ATrackedSubBlockFoldsAsRmmDoesOffsetByTheEnclosingValue) {
  Counter outer;
  outer += 1000;
  outer -= 900;  // value 100, peak 1000, total 1000
  Counter sub;   // relative to where it began
  sub += 300;
  sub -= 250;  // value 50, peak 300, total 300
  outer.add_counters_from_tracked_sub_block(sub);
  EXPECT_EQ(outer.value, 150u);
  EXPECT_EQ(outer.peak, 1000u);  // 100 + 300 is below the earlier peak
  EXPECT_EQ(outer.total, 1300u);
  Counter big;
  big += 2000;
  outer.add_counters_from_tracked_sub_block(big);
  EXPECT_EQ(outer.peak, 2150u);  // 150 + 2000
}

TEST(CounterTest, SinceGivesTheRegionRelativeToItsStartWhichFoldsBackToTheSamePeak) {
  Counter c;
  c += 100;
  const Counter start = c;
  const std::size_t outer = c.open_region();
  c += 40;
  c += 60;
  c -= 30;
  const Counter region = c.since(start);
  EXPECT_EQ(region.value, 70u);
  EXPECT_EQ(region.peak, 100u);
  EXPECT_EQ(region.total, 100u);
  Counter folded = start;
  folded.add_counters_from_tracked_sub_block(region);
  c.close_region(outer);
  EXPECT_EQ(folded.value, c.value);
  EXPECT_EQ(folded.peak, c.peak);
  EXPECT_EQ(folded.total, c.total);
}

}  // namespace
}  // namespace corepy
