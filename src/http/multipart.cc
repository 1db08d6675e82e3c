#include "http/multipart.h"

#include <boost/beast/core/string.hpp>
#include <cctype>
#include <optional>
#include <string>

namespace imgstore::http {

bool TypeIs(std::string_view type, std::string_view prefix) {
  return boost::beast::iequals(type.substr(0, prefix.size()), prefix);
}

namespace {

// The value of `key=` (a lower-case name) in a header's parameters,
// unquoted. Parameter names are case-insensitive (RFC 2045 §5.1), values
// not.
std::string_view Parameter(std::string_view header, std::string_view key) {
  std::string lower(header);
  for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
  size_t at = 0;
  while ((at = lower.find(key, at)) != std::string::npos) {
    bool boundary_ok = at == 0 || header[at - 1] == ';' ||
                       header[at - 1] == ' ' || header[at - 1] == '\t';
    size_t eq = at + key.size();
    if (boundary_ok && eq < header.size() && header[eq] == '=') {
      std::string_view v = header.substr(eq + 1);
      if (!v.empty() && v[0] == '"') {
        v.remove_prefix(1);
        return v.substr(0, v.find('"'));
      }
      return v.substr(0, v.find(';'));
    }
    at = eq;
  }
  return {};
}

}  // namespace

Result<MultipartPart> FindFormField(std::string_view content_type,
                                    std::string_view body,
                                    std::string_view field) {
  std::string_view boundary = Parameter(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 200) {
    return Fail(ErrorCode::kInvalidArgument,
                "multipart body without a boundary");
  }
  const std::string delimiter = "--" + std::string(boundary);
  std::optional<MultipartPart> found;
  size_t at = body.find(delimiter);
  while (at != std::string_view::npos) {
    at += delimiter.size();
    if (body.substr(at, 2) == "--") break;  // closing delimiter
    if (body.substr(at, 2) != "\r\n") break;
    at += 2;
    size_t head_end = body.find("\r\n\r\n", at);
    if (head_end == std::string_view::npos) break;
    std::string_view head = body.substr(at, head_end - at);
    size_t content = head_end + 4;
    size_t next = body.find("\r\n" + delimiter, content);
    if (next == std::string_view::npos) break;
    MultipartPart part;
    std::string_view disposition;
    while (!head.empty()) {
      size_t eol = head.find("\r\n");
      std::string_view line = head.substr(0, eol);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view name = line.substr(0, colon);
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (boost::beast::iequals(name, "Content-Disposition"))
          disposition = value;
        if (boost::beast::iequals(name, "Content-Type"))
          part.content_type = value;
      }
      if (eol == std::string_view::npos) break;
      head.remove_prefix(eol + 2);
    }
    if (Parameter(disposition, "name") == field) {
      // One field, one answer: a second would be dropped unsaid (a form's
      // <input multiple> sends one part per file).
      if (found) {
        return Fail(ErrorCode::kInvalidArgument,
                    "multipart body has more than one field \"" +
                        std::string(field) + "\": send one per request");
      }
      part.filename = Parameter(disposition, "filename");
      part.body = body.substr(content, next - content);
      found = part;
    }
    at = next + 2;
  }
  if (found) return *found;
  return Fail(ErrorCode::kInvalidArgument,
              "multipart body has no field \"" + std::string(field) + "\"");
}

}  // namespace imgstore::http
