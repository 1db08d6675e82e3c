#include "core/log_every.h"

#include <gtest/gtest.h>

namespace imgstore {
namespace {

TEST(LogEveryTest, OnceAPeriod) {
  LogEvery hourly(std::chrono::hours(1));
  EXPECT_TRUE(hourly.Due()) << "the first time";
  EXPECT_FALSE(hourly.Due());
  EXPECT_FALSE(hourly.Due());
  LogEvery always(std::chrono::seconds(0));
  EXPECT_TRUE(always.Due());
  EXPECT_TRUE(always.Due());
}

}  // namespace
}  // namespace imgstore
