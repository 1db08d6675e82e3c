#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace imgstore::http {

// The raw (still escaped) value of `key` in a query string "a=1&b=2", the
// first when it is given twice; "" for "a" or "a=", nullopt when absent.
std::optional<std::string_view> QueryValue(std::string_view query,
                                           std::string_view key);

// Decodes %XX escapes. kInvalidArgument for a truncated or non-hex escape
// and for %00, which no file name or id may hold.
Result<std::string> PercentDecode(std::string_view s);

}  // namespace imgstore::http
