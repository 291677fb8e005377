// Minimal leveled logging to stderr (stdout is reserved for command output/JSON).
#pragma once
#include <cstdio>

#include <fmt/format.h>

namespace edgerag {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3, Quiet = 4 };

LogLevel log_level();
void set_log_level(LogLevel level);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  if (level < log_level()) return;
  static const char* names[] = {"debug", "info", "warn", "error"};
  fmt::print(stderr, "[{}] {}\n", names[static_cast<int>(level)], fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace edgerag
