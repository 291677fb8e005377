// Energy of a measured interval: RAPL package counters when readable
// (/sys/class/powercap/*-rapl:N/energy_uj), else the TDP-based estimate
// E = (P_tdp - P_idle) * t with P_idle = 0.3 * P_tdp. Every figure carries the
// method that produced it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "util/timer.h"

namespace edgerag {

struct EnergyReading {
  double joules = 0;
  double seconds = 0;
  std::string method;  // "rapl", "tdp-estimate (T W)" or "unavailable"
  bool valid() const { return method != "unavailable"; }
};

class EnergyMeter {
 public:
  // tdp_watts <= 0: no estimate without RAPL. `powercap_root` is for tests.
  explicit EnergyMeter(double tdp_watts, std::string powercap_root = "/sys/class/powercap");
  bool has_rapl() const { return !zones_.empty(); }
  void start();
  EnergyReading stop() const;

 private:
  struct Zone {
    std::string path;
    uint64_t max_range = 0;
    uint64_t start = 0;
  };
  double tdp_;
  std::vector<Zone> zones_;  // package zones (sub-zones such as core/dram are inside them)
  Timer timer_;
};

// The estimate alone: (1 - 0.3) * tdp * seconds.
double tdp_energy_joules(double tdp_watts, double seconds);

// Electricity cost of a million tokens: J/token x 10^6 / (3.6 x 10^6 J/kWh) x price per kWh.
inline double cost_per_million(double joules_per_token, double price_per_kwh) {
  return joules_per_token * 1e6 / 3.6e6 * price_per_kwh;
}

}  // namespace edgerag
