#pragma once

#include <array>
#include <boost/beast/http.hpp>
#include <boost/container/small_vector.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/file_body.h"

namespace imgstore::http {

namespace beast_http = boost::beast::http;

using RequestMessage = beast_http::request<beast_http::string_body>;
using ResponseMessage = beast_http::response<beast_http::string_body>;

// A parsed request as handlers see it. Borrowed: valid during the call.
struct Request {
  const RequestMessage& message;
  std::string_view path;   // target without the query, not decoded
  std::string_view query;  // after '?', may be empty
  boost::container::small_vector<std::string_view, 4> params;  // "{}" segments
  std::string_view remote;  // peer address, for logs

  std::string_view Header(std::string_view name) const {
    auto it = message.find(name);
    if (it == message.end()) return {};
    return std::string_view(it->value());
  }
  std::string_view body() const { return message.body(); }
};

// What a handler returns: a message whose body is a string, or whose body
// bytes come from an open file (sent with sendfile by http/server.cc; the
// message then carries only headers, Content-Length already set).
struct Response {
  ResponseMessage message;
  // Hot path: when raw_head[0] is set, the server writes the status line,
  // Server, Date and Connection itself, then these ready-made header lines
  // ("Name: value\r\n" each) instead of serialising `message`'s fields.
  // Borrowed: they must live in `file` or in static storage.
  std::array<std::string_view, 2> raw_head{};
  std::shared_ptr<const OpenFile> file;
  uint64_t file_offset = 0;
  uint64_t file_length = 0;
};

}  // namespace imgstore::http
