#include "http/file_body.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <charconv>
#include <ctime>
#include <utility>

namespace imgstore::http {

namespace {
constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed",
                                 "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::optional<uint64_t> ParseNumber(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}
}  // namespace

OpenFile::OpenFile(int fd_in, uint64_t size_in, int64_t mtime_ns,
                   std::string_view content_type, std::string etag_in)
    : fd(fd_in),
      size(size_in),
      mtime_s(mtime_ns / 1'000'000'000),
      etag(std::move(etag_in)),
      last_modified(HttpDate(mtime_ns / 1'000'000'000)),
      head(fmt::format("Content-Type: {}\r\nContent-Length: {}\r\nETag: "
                       "{}\r\nLast-Modified: {}\r\n",
                       content_type, size_in, etag, last_modified)) {}

OpenFile::~OpenFile() { ::close(fd); }

std::string HttpDate(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  return fmt::format("{}, {:02d} {} {:04d} {:02d}:{:02d}:{:02d} GMT",
                     kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::optional<int64_t> ParseHttpDate(std::string_view text) {
  if (text.size() != 29) {
    // The two obsolete forms recipients must still take (RFC 9110 §5.6.7):
    // "Sunday, 06-Nov-94 08:49:37 GMT" and "Sun Nov  6 08:49:37 1994".
    const std::string copy(text);
    for (const char* form :
         {"%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
      struct tm tm = {};
      const char* end = strptime(copy.c_str(), form, &tm);
      if (end != nullptr && *end == '\0')
        return static_cast<int64_t>(timegm(&tm));
    }
    return std::nullopt;
  }
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  if (text.substr(25) != " GMT") return std::nullopt;
  struct tm tm = {};
  auto num = [&](size_t at, size_t n) {
    return ParseNumber(text.substr(at, n));
  };
  auto day = num(5, 2), year = num(12, 4), hh = num(17, 2), mm = num(20, 2),
       ss = num(23, 2);
  if (!day || !year || !hh || !mm || !ss) return std::nullopt;
  int month = -1;
  for (int i = 0; i < 12; ++i) {
    if (text.substr(8, 3) == kMonths[i]) month = i;
  }
  if (month < 0) return std::nullopt;
  tm.tm_mday = int(*day);
  tm.tm_mon = month;
  tm.tm_year = int(*year) - 1900;
  tm.tm_hour = int(*hh);
  tm.tm_min = int(*mm);
  tm.tm_sec = int(*ss);
  return static_cast<int64_t>(timegm(&tm));
}

namespace {

// A position in a Range header: digits, any number of them; past what 64
// bits hold it is "beyond any file" (a last position clamps to the end, a
// first one is past it), not malformed.
std::optional<uint64_t> ParseRangeNumber(std::string_view s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) return UINT64_MAX;
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// One range of a Range header. nullopt: malformed; a zero length: wholly
// past the end (unsatisfiable).
std::optional<ByteRange> ParseOneRange(std::string_view spec, uint64_t size) {
  while (!spec.empty() && (spec.front() == ' ' || spec.front() == '\t'))
    spec.remove_prefix(1);
  while (!spec.empty() && (spec.back() == ' ' || spec.back() == '\t'))
    spec.remove_suffix(1);
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  if (a.empty()) {  // suffix: the last n bytes
    auto n = ParseRangeNumber(b);
    if (!n) return std::nullopt;
    const uint64_t len = std::min(*n, size);
    return ByteRange{size - len, len};
  }
  auto first = ParseRangeNumber(a);
  if (!first) return std::nullopt;
  std::optional<uint64_t> last;
  if (!b.empty()) {
    last = ParseRangeNumber(b);
    if (!last || *last < *first) return std::nullopt;
  }
  if (*first >= size) return ByteRange{};
  const uint64_t end = last ? std::min(*last, size - 1) : size - 1;
  return ByteRange{*first, end - *first + 1};
}

}  // namespace

RangeRequest ParseRange(std::string_view header, uint64_t size) {
  const RangeRequest whole;
  // The unit is case-insensitive (RFC 9110 §14.1).
  constexpr std::string_view kPrefix = "bytes=";
  if (!boost::beast::iequals(header.substr(0, kPrefix.size()), kPrefix))
    return whole;
  std::string_view specs = header.substr(kPrefix.size());
  std::vector<ByteRange> ranges;
  size_t asked = 0;
  while (!specs.empty()) {
    const size_t comma = specs.find(',');
    std::string_view spec = specs.substr(0, comma);
    specs = comma == std::string_view::npos ? std::string_view()
                                            : specs.substr(comma + 1);
    // Empty list elements ("bytes=,0-4") are allowed (RFC 9110 §5.6.1).
    if (spec.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (++asked > kMaxRanges) return whole;
    auto range = ParseOneRange(spec, size);
    if (!range) return whole;
    if (range->length > 0) ranges.push_back(*range);
  }
  if (asked == 0) return whole;
  if (ranges.empty()) return {RangeKind::kUnsatisfiable, {}, {}};
  if (ranges.size() == 1) return {RangeKind::kPartial, ranges[0], {}};
  std::vector<ByteRange> sorted = ranges;
  std::sort(
      sorted.begin(), sorted.end(),
      [](const ByteRange& x, const ByteRange& y) { return x.first < y.first; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i].first < sorted[i - 1].first + sorted[i - 1].length)
      return whole;
  }
  return {RangeKind::kMultiple, {}, std::move(ranges)};
}

}  // namespace imgstore::http
