#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace imgstore {

// Text the client commands print, as pure functions (no I/O), so the exact
// output is testable.

// A byte count in binary units with one decimal past 1 KiB: "0 B", "512 B",
// "1.5 KiB", "12.3 MiB", "2.0 GiB". Negative counts print as "0 B".
std::string FormatBytes(int64_t bytes);
// A rate: "1.5 MiB/s".
std::string FormatRate(double bytes_per_second);
// A duration in seconds as one short unit: "3s", "4m", "2h", "5d"; "never"
// when negative (the tracker's "never heard from").
std::string FormatAge(int64_t seconds);
// part/whole with one decimal: "12.5%"; "<0.1%" for a non-zero part that
// would round to 0.0; "-" when whole is not positive.
std::string FormatPercent(int64_t part, int64_t whole);

// An aligned table: each column padded to its widest cell, two spaces
// between columns, no trailing spaces, one '\n' after each line. `align`
// has one letter per column, 'l' or 'r' (missing letters mean 'l').
std::string FormatTable(const std::vector<std::vector<std::string>>& rows,
                        std::string_view align);

// What `imgstore import` has done so far.
struct ImportCounts {
  int64_t total = 0;     // files found
  int64_t imported = 0;  // uploaded now
  int64_t already = 0;   // same bytes already stored
  int64_t skipped = 0;   // not images
  int64_t failed = 0;
  int64_t not_tried = 0;  // left when the import gave up
  int64_t bytes = 0;      // bytes uploaded
  int64_t done() const { return imported + already + skipped + failed; }
};

// The progress line, without '\r': "[#####.....]  120/500  34.5 MiB
// 5.2 MiB/s  skipped 3  failed 0". `elapsed_s` gives the rate; none is shown
// before a tenth of a second has passed.
std::string FormatProgress(const ImportCounts& counts, double elapsed_s);
// "imported N, already stored M, skipped K (see above), failed F", and
// ", not tried T" when the import gave up.
std::string FormatSummary(const ImportCounts& counts);

}  // namespace imgstore
