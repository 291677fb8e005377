#include "eval/energy.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace edgerag;

TEST(Energy, TdpEstimate) {
  EXPECT_DOUBLE_EQ(tdp_energy_joules(100, 2), 140);  // (100 - 30) W * 2 s
  EnergyMeter m(50, "/nonexistent");
  EXPECT_FALSE(m.has_rapl());
  m.start();
  const EnergyReading r = m.stop();
  EXPECT_EQ(r.method, "tdp-estimate (50 W)");
  EXPECT_NEAR(r.joules, 35 * r.seconds, 1e-9);
  EnergyMeter none(0, "/nonexistent");
  none.start();
  EXPECT_FALSE(none.stop().valid());
}

TEST(Energy, CostPerMillionTokens) {
  // 3.6 J/token is 1 kWh per million tokens.
  EXPECT_DOUBLE_EQ(cost_per_million(3.6, 0.5), 0.5);
  EXPECT_DOUBLE_EQ(cost_per_million(0.18, 0.30), 0.015);
}

TEST(Energy, ReadsRaplCountersAndWraparound) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(::testing::TempDir()) / "powercap";
  fs::remove_all(root);
  auto write = [](const fs::path& p, const std::string& v) { std::ofstream(p) << v; };
  fs::create_directories(root / "intel-rapl:0");
  fs::create_directories(root / "intel-rapl:0:0");  // a sub-zone: not counted twice
  write(root / "intel-rapl:0" / "energy_uj", "999000000");
  write(root / "intel-rapl:0" / "max_energy_range_uj", "1000000000");
  write(root / "intel-rapl:0:0" / "energy_uj", "5");
  EnergyMeter m(0, root.string());
  ASSERT_TRUE(m.has_rapl());
  m.start();
  write(root / "intel-rapl:0" / "energy_uj", "2000000");  // wrapped: 1 J before + 2 J after
  const EnergyReading r = m.stop();
  EXPECT_EQ(r.method, "rapl");
  EXPECT_NEAR(r.joules, 3.0, 1e-9);
}
