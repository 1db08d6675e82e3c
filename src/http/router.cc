#include "http/router.h"

namespace imgstore::http {

namespace {

// Path segments after the leading '/'; more than kMaxSegments is no route.
constexpr size_t kMaxSegments = 8;
using Segments = boost::container::small_vector<std::string_view, kMaxSegments>;

Segments Split(std::string_view path) {
  Segments out;
  if (path.empty() || path[0] != '/') return out;
  path.remove_prefix(1);
  while (out.size() <= kMaxSegments) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace

Router::Router(std::vector<Route> routes) {
  for (Route& r : routes) {
    std::vector<std::string> segments;
    for (std::string_view seg : Split(r.pattern)) segments.emplace_back(seg);
    routes_.push_back(Compiled{std::move(r), std::move(segments)});
  }
}

Router::Match Router::Find(beast_http::verb method,
                           std::string_view path) const {
  Match match;
  match.status = beast_http::status::not_found;
  if (path.empty() || path[0] != '/') return match;
  const Segments parts = Split(path);
  const beast_http::verb wanted =
      method == beast_http::verb::head ? beast_http::verb::get : method;
  for (const Compiled& c : routes_) {
    if (c.segments.size() != parts.size()) continue;
    boost::container::small_vector<std::string_view, 4> params;
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      if (c.segments[i] == "{}") {
        ok = !parts[i].empty();
        params.push_back(parts[i]);
      } else {
        ok = c.segments[i] == parts[i];
      }
    }
    if (!ok) continue;
    if (c.route.method == wanted) {
      match.route = &c.route;
      match.params = std::move(params);
      match.status = beast_http::status::ok;
      return match;
    }
    match.status = beast_http::status::method_not_allowed;
    if (!match.allow.empty()) match.allow += ", ";
    match.allow += std::string(beast_http::to_string(c.route.method));
    if (c.route.method == beast_http::verb::get) match.allow += ", HEAD";
  }
  return match;
}

}  // namespace imgstore::http
