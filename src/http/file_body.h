#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imgstore::http {

// An open, immutable file ready to be sent: its descriptor and what the
// response headers need, computed once when opened. Owns fd (closed on
// destruction). Shared (shared_ptr) between the open-file cache and the
// responses in flight, so a file deleted meanwhile is still sent whole.
struct OpenFile {
  OpenFile(int fd_in, uint64_t size_in, int64_t mtime_ns,
           std::string_view content_type, std::string etag_in);
  ~OpenFile();
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;

  const int fd;
  const uint64_t size;
  const int64_t mtime_s;
  const std::string etag;           // strong, quoted, the caller's
  const std::string last_modified;  // IMF-fixdate
  // "Content-Type, Content-Length, ETag, Last-Modified" header lines of a
  // whole-file 200, rendered once (see Response::raw_head).
  const std::string head;
};

// An HTTP date (IMF-fixdate, RFC 9110 §5.6.7) for Unix seconds.
std::string HttpDate(int64_t unix_seconds);
// Parses an IMF-fixdate, or one of the two obsolete forms; nullopt when
// malformed.
std::optional<int64_t> ParseHttpDate(std::string_view text);

// A satisfiable byte range [first, first + length).
struct ByteRange {
  uint64_t first = 0;
  uint64_t length = 0;
};

// What a Range header asks of a file of `size` bytes.
enum class RangeKind { kWhole, kPartial, kMultiple, kUnsatisfiable };
struct RangeRequest {
  RangeKind kind = RangeKind::kWhole;
  ByteRange range;                  // kPartial: the one range
  std::vector<ByteRange> multiple;  // kMultiple: two or more, in order asked
};

// The most ranges one request may ask for; more are ignored (kWhole).
inline constexpr size_t kMaxRanges = 16;

// Parses a Range header value: "bytes=" and one or more comma-separated
// ranges ("a-b", "a-", "-n"). Ranges wholly past the end are dropped; when
// none is left the answer is kUnsatisfiable (416). Ignored (kWhole: RFC 9110
// lets a server ignore Range): other units, a malformed range, more than
// kMaxRanges, and ranges that overlap (a small request for a large answer).
RangeRequest ParseRange(std::string_view header, uint64_t size);

}  // namespace imgstore::http
