#include "http/query.h"

#include <algorithm>
#include <charconv>

namespace imgstore::http {

std::optional<std::string_view> QueryValue(std::string_view query,
                                           std::string_view key) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      return eq == std::string_view::npos ? std::string_view()
                                          : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

Result<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    unsigned value = 0;
    const char* first = s.data() + i + 1;
    const char* last = s.data() + std::min(i + 3, s.size());
    auto [end, ec] = std::from_chars(first, last, value, 16);
    if (ec != std::errc() || end != s.data() + i + 3 || value == 0) {
      return Fail(ErrorCode::kInvalidArgument, "bad percent-escape in query");
    }
    out += char(value);
    i += 2;
  }
  return out;
}

}  // namespace imgstore::http
