#include "rag/ingest_progress.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace edgerag::rag {

double ingest_eta_seconds(const IngestProgress& p) {
  if (p.files_done == 0 || p.seconds <= 0 || p.files_done > p.files_total) return -1;
  return p.seconds / static_cast<double>(p.files_done) * static_cast<double>(p.files_total - p.files_done);
}

namespace {

std::string clock_text(double seconds) {
  if (seconds < 0) return "?";
  const auto s = static_cast<long long>(std::llround(seconds));
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) : fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

std::string ingest_progress_text(const IngestProgress& p, bool bar, size_t width) {
  const double rate = p.seconds > 0 ? static_cast<double>(p.chunks) / p.seconds : 0.0;
  const std::string eta = clock_text(ingest_eta_seconds(p));
  if (!bar)
    return fmt::format("ingest: {}/{} files, {} chunks, {:.1f} chunks/s, ETA {}", p.files_done, p.files_total, p.chunks,
                       rate, eta);
  constexpr size_t kCells = 20;
  const size_t filled = p.files_total ? std::min(kCells, p.files_done * kCells / p.files_total) : 0;
  std::string line = fmt::format("[{}{}] {}/{} files  {} chunks  {:.1f} chunks/s  ETA {}", std::string(filled, '#'),
                                 std::string(kCells - filled, '.'), p.files_done, p.files_total, p.chunks, rate, eta);
  // The current file's name fills what is left of the line, its end kept (the file name).
  if (line.size() + 10 < width && !p.current.empty()) {
    const size_t room = width - line.size() - 2;
    std::string name = p.current.size() <= room ? p.current : "..." + p.current.substr(p.current.size() - (room - 3));
    line += "  " + name;
  }
  return line.size() > width ? line.substr(0, width) : line;
}

}  // namespace edgerag::rag
