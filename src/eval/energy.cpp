#include "eval/energy.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

namespace edgerag {
namespace {

bool read_u64(const std::string& path, uint64_t* v) {
  std::ifstream f(path);
  return static_cast<bool>(f >> *v);
}

}  // namespace

double tdp_energy_joules(double tdp_watts, double seconds) { return (tdp_watts - 0.3 * tdp_watts) * seconds; }

EnergyMeter::EnergyMeter(double tdp_watts, std::string powercap_root) : tdp_(tdp_watts) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(powercap_root, ec)) {
    const std::string name = e.path().filename().string();
    // Top-level package zones only ("intel-rapl:0", "amd-rapl:1"; not "intel-rapl:0:0").
    const auto colon = name.find(':');
    if (name.find("rapl") == std::string::npos || colon == std::string::npos ||
        name.find(':', colon + 1) != std::string::npos)
      continue;
    Zone z;
    z.path = (e.path() / "energy_uj").string();
    uint64_t v;
    if (!read_u64(z.path, &v)) continue;  // present but not readable (needs root on recent kernels)
    if (!read_u64((e.path() / "max_energy_range_uj").string(), &z.max_range)) z.max_range = 0;
    zones_.push_back(z);
  }
}

void EnergyMeter::start() {
  for (auto& z : zones_) read_u64(z.path, &z.start);
  timer_.reset();
}

EnergyReading EnergyMeter::stop() const {
  EnergyReading r;
  r.seconds = timer_.seconds();
  if (!zones_.empty()) {
    uint64_t total = 0;
    for (const auto& z : zones_) {
      uint64_t now = z.start;
      read_u64(z.path, &now);
      total += now >= z.start ? now - z.start : now + z.max_range - z.start;  // counter wrapped
    }
    r.joules = total * 1e-6;
    r.method = "rapl";
  } else if (tdp_ > 0) {
    r.joules = tdp_energy_joules(tdp_, r.seconds);
    r.method = fmt::format("tdp-estimate ({} W)", tdp_);
  } else {
    r.method = "unavailable";
  }
  return r;
}

}  // namespace edgerag
