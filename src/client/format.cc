#include "client/format.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace imgstore {

namespace {

// A value in units of 1024, one decimal. Bumps to the next unit when the
// rounded value would read "1024.0".
std::string Binary(double value, std::string_view suffix) {
  static constexpr std::array<std::string_view, 7> kUnits = {
      "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (!(value > 0)) value = 0;  // also catches NaN
  if (value < 1024) {
    return fmt::format("{:.0f} B{}", std::floor(value), suffix);
  }
  size_t unit = 0;
  while (unit + 1 < kUnits.size() && value >= 1023.95) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}{}", value, kUnits[unit], suffix);
}

}  // namespace

std::string FormatBytes(int64_t bytes) { return Binary(double(bytes), ""); }

std::string FormatRate(double bytes_per_second) {
  return Binary(bytes_per_second, "/s");
}

std::string FormatAge(int64_t seconds) {
  if (seconds < 0) return "never";
  if (seconds < 60) return fmt::format("{}s", seconds);
  if (seconds < 3600) return fmt::format("{}m", seconds / 60);
  if (seconds < 86400) return fmt::format("{}h", seconds / 3600);
  return fmt::format("{}d", seconds / 86400);
}

std::string FormatPercent(int64_t part, int64_t whole) {
  if (whole <= 0) return "-";
  const double pct = 100.0 * double(part) / double(whole);
  if (part > 0 && pct < 0.05) return "<0.1%";
  return fmt::format("{:.1f}%", pct);
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows,
                        std::string_view align) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (row.size() > width.size()) width.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) line += "  ";
      const size_t pad = width[c] - row[c].size();
      const bool right = c < align.size() && align[c] == 'r';
      if (right) line.append(pad, ' ');
      line += row[c];
      if (!right) line.append(pad, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

std::string FormatProgress(const ImportCounts& counts, double elapsed_s) {
  constexpr int kBarWidth = 20;
  const int64_t done = counts.done();
  int filled = kBarWidth;
  if (counts.total > 0) {
    filled =
        int(int64_t(kBarWidth) * std::min(done, counts.total) / counts.total);
  }
  std::string bar(size_t(filled), '#');
  bar.append(size_t(kBarWidth - filled), '.');
  std::string total = std::to_string(counts.total);
  std::string line = fmt::format("[{}] {:>{}}/{}  {}", bar, done, total.size(),
                                 total, FormatBytes(counts.bytes));
  if (elapsed_s >= 0.1) {
    line += "  " + FormatRate(double(counts.bytes) / elapsed_s);
  }
  line += fmt::format("  skipped {}  failed {}", counts.skipped, counts.failed);
  return line;
}

std::string FormatSummary(const ImportCounts& counts) {
  std::string out =
      fmt::format("imported {}, already stored {}, skipped {}{}, failed {}",
                  counts.imported, counts.already, counts.skipped,
                  counts.skipped > 0 ? " (see above)" : "", counts.failed);
  if (counts.not_tried > 0)
    out += fmt::format(", not tried {}", counts.not_tried);
  return out;
}

}  // namespace imgstore
