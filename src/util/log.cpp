#include "util/log.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace edgerag {
namespace {
LogLevel initial_level() {
  const char* env = std::getenv("EDGERAG_LOG");
  if (!env) return LogLevel::Warn;
  if (!std::strcmp(env, "debug")) return LogLevel::Debug;
  if (!std::strcmp(env, "info")) return LogLevel::Info;
  if (!std::strcmp(env, "error")) return LogLevel::Error;
  if (!std::strcmp(env, "quiet")) return LogLevel::Quiet;
  return LogLevel::Warn;
}
std::atomic<LogLevel> g_level{initial_level()};
}  // namespace

LogLevel log_level() { return g_level.load(std::memory_order_relaxed); }
void set_log_level(LogLevel level) { g_level.store(level, std::memory_order_relaxed); }

}  // namespace edgerag
