#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace imgstore {

// The closed set of failures. Each maps to one HTTP status and one JSON
// "code" in http/respond.cc; nothing else decides a status.
enum class ErrorCode {
  kInvalidArgument,      // 400: malformed request
  kUnauthenticated,      // 401: missing or bad signature / token
  kForbidden,            // 403: token valid but not allowed
  kNotFound,             // 404
  kMethodNotAllowed,     // 405: the path exists, the method does not
  kConflict,             // 409
  kTooLarge,             // 413
  kUnsupportedMedia,     // 415: not an image, or a refused format (SVG)
  kUndecodable,          // 422: an image that fails to decode, or a bomb
  kUnavailable,          // 503: no server can take it, a peer is down
  kInsufficientStorage,  // 507: disk or capacity full
  kIo,                   // 500: an operating-system failure
  kInternal,             // 500: a bug
};

// Stable lower-case name of a code ("not_found"), used in JSON and logs.
std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;  // "what we were doing: why"
};

template <typename T>
using Result = tl::expected<T, Error>;

// Shorthand for `return Fail(ErrorCode::kNotFound, "image x")`.
inline tl::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}
inline tl::unexpected<Error> Fail(Error error) {
  return tl::unexpected<Error>(std::move(error));
}

}  // namespace imgstore
