#include "http/file_body.h"

#include <fmt/format.h>
#include <unistd.h>

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
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  if (text.size() != 29 || text.substr(25) != " GMT") return std::nullopt;
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

RangeRequest ParseRange(std::string_view header, uint64_t size) {
  RangeRequest whole;
  constexpr std::string_view kPrefix = "bytes=";
  if (header.substr(0, kPrefix.size()) != kPrefix) return whole;
  std::string_view spec = header.substr(kPrefix.size());
  if (spec.find(',') != std::string_view::npos) return whole;
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return whole;
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  RangeRequest out{RangeKind::kPartial, {}};
  if (a.empty()) {  // suffix: the last n bytes
    auto n = ParseNumber(b);
    if (!n) return whole;
    if (*n == 0 || size == 0) return {RangeKind::kUnsatisfiable, {}};
    uint64_t len = std::min(*n, size);
    out.range = {size - len, len};
    return out;
  }
  auto first = ParseNumber(a);
  if (!first) return whole;
  std::optional<uint64_t> last;
  if (!b.empty()) {
    last = ParseNumber(b);
    if (!last || *last < *first) return whole;
  }
  if (*first >= size) return {RangeKind::kUnsatisfiable, {}};
  uint64_t end = last ? std::min(*last, size - 1) : size - 1;
  out.range = {*first, end - *first + 1};
  return out;
}

}  // namespace imgstore::http
