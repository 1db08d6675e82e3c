#pragma once

#include <string>
#include <string_view>

#include "core/error.h"

namespace imgstore::http {

struct MultipartPart {
  std::string_view content_type;  // of the part; may be empty
  std::string_view filename;
  std::string_view body;  // borrowed from the request body
};

// Whether a Content-Type is `prefix` or begins with it ("image/"), in any
// case: media types are case-insensitive (RFC 9110 §8.3.1).
bool TypeIs(std::string_view type, std::string_view prefix);

// Finds the part named `field` in a multipart/form-data body (RFC 7578).
// kInvalidArgument when the content type has no boundary, the body is
// malformed, or there is no such field or more than one.
Result<MultipartPart> FindFormField(std::string_view content_type,
                                    std::string_view body,
                                    std::string_view field);

}  // namespace imgstore::http
