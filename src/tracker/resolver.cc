#include "tracker/resolver.h"

#include <xxhash.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>
#include <utility>

#include "core/hex.h"
#include "core/layout.h"

namespace imgstore {

std::string Resolver::CopyUrl(const ServerRow& server,
                              const Placement& placement) {
  std::string url;
  url.reserve(server.server_url.size() + 1 + placement.relative_path.size());
  url += server.server_url;
  url += '/';
  url += placement.relative_path;
  return url;
}

namespace {

// The copy to read among `copies` (a server id each, in the store's
// order): the usable ones counted, then one picked by a hash of the id.
// Copies on a draining server are picked only when no other is usable:
// they are about to move, and a page cached with their URL would break.
// Counted and then indexed rather than collected: this runs for every id
// of every page. Returns the chosen copy's index and server, or nullptr
// when no copy is usable.
template <typename ServerIdOf>
std::pair<size_t, const ServerRow*> PickCopy(const ImageId& id, size_t copies,
                                             ServerIdOf server_id_of,
                                             const ServerView& servers) {
  bool staying_only = true;
  auto for_each_usable = [&](auto&& fn) {
    for (size_t i = 0; i < copies; ++i) {
      const int64_t server_id = server_id_of(i);
      for (const ServerRow& s : servers) {
        if (s.server_id == server_id && s.flg_usable &&
            !(staying_only && s.state == ServerState::kDraining)) {
          if (fn(i, s)) return;
        }
      }
    }
  };
  size_t usable = 0;
  auto count = [&](size_t, const ServerRow&) {
    ++usable;
    return false;
  };
  for_each_usable(count);
  if (usable == 0) {
    staying_only = false;
    for_each_usable(count);
  }
  if (usable == 0) return {0, nullptr};
  const uint64_t h = XXH3_64bits(id.str().data(), id.str().size());
  size_t pick = h % usable;
  std::pair<size_t, const ServerRow*> out{0, nullptr};
  for_each_usable([&](size_t i, const ServerRow& s) {
    if (pick-- != 0) return false;
    out = {i, &s};
    return true;
  });
  return out;
}

}  // namespace

Resolved Resolver::Choose(const ImageRecord& image,
                          const ServerView& servers) const {
  auto [copy, server] = PickCopy(
      image.id, image.placements.size(),
      [&](size_t i) { return image.placements[i].server_id; }, servers);
  if (server == nullptr) return Resolved{default_image_url_, false};
  return Resolved{CopyUrl(*server, image.placements[copy]), true};
}

Resolved Resolver::Choose(const ImageLocation& image,
                          const ServerView& servers) const {
  auto [copy, server] = PickCopy(
      image.id, image.server_ids.size(),
      [&](size_t i) { return image.server_ids[i]; }, servers);
  if (server == nullptr) return Resolved{default_image_url_, false};
  // Every copy of an image is at the same relative path.
  std::string url;
  url.reserve(server->server_url.size() + 1 + kMaxRelativePath);
  url += server->server_url;
  url += '/';
  AppendRelativePath(url, image.id, image.format);
  return Resolved{std::move(url), true};
}

Result<Resolver::Batch> Resolver::ResolveMany(
    const std::vector<std::string_view>& ids) const {
  Batch batch;
  std::vector<ImageId> parsed;
  parsed.reserve(ids.size());
  for (std::string_view text : ids) {
    auto id = ImageId::Parse(text);
    if (id) {
      parsed.push_back(*std::move(id));
    } else {
      batch.missing.emplace_back(text);
    }
  }
  // Malformed ids only: no query, but still each listed once below.
  Result<std::vector<ImageLocation>> images = std::vector<ImageLocation>{};
  if (!parsed.empty()) images = store_.Locate(parsed);
  if (!images) return Fail(images.error());
  // Sorted, so that each requested id is a binary search and a store that
  // returned an image twice cannot list it twice.
  auto by_id = [](const ImageLocation& a, const ImageLocation& b) {
    return a.id < b.id;
  };
  if (!std::is_sorted(images->begin(), images->end(), by_id)) {
    std::sort(images->begin(), images->end(), by_id);
  }
  auto same_id = [](const ImageLocation& a, const ImageLocation& b) {
    return a.id == b.id;
  };
  images->erase(std::unique(images->begin(), images->end(), same_id),
                images->end());
  const ServerView servers = registry_.Snapshot();
  batch.images.reserve(images->size());
  for (ImageLocation& image : *images) {
    Resolved now = Choose(image, servers);
    batch.images.push_back(Found{std::move(image.id), std::move(now)});
  }
  for (const ImageId& id : parsed) {
    auto it = std::lower_bound(
        batch.images.begin(), batch.images.end(), id,
        [](const Found& found, const ImageId& key) { return found.id < key; });
    if (it == batch.images.end() || it->id != id) {
      batch.missing.push_back(id.str());
    }
  }
  if (batch.missing.size() > 1) {
    // Each unknown id once, however often it was asked for.
    std::vector<std::string> once;
    std::unordered_set<std::string> seen;
    for (std::string& m : batch.missing) {
      if (seen.insert(m).second) once.push_back(std::move(m));
    }
    batch.missing = std::move(once);
  }
  return batch;
}

Result<Resolved> Resolver::ResolveOne(std::string_view text) const {
  auto id = ImageId::Parse(text);
  if (!id) return Fail(ErrorCode::kNotFound, "no such image");
  auto images = store_.Locate({*id});
  if (!images) return Fail(images.error());
  if (images->empty()) return Fail(ErrorCode::kNotFound, "no such image");
  return Choose(images->front(), registry_.Snapshot());
}

// ---- wire format ----

std::vector<std::string_view> ResolveRequest::ids() const {
  std::vector<std::string_view> out;
  out.reserve(size());
  for (size_t i = 0; i < size(); ++i) out.push_back(id(i));
  return out;
}

namespace {

using nlohmann::json;

// The ids are shorter than the body (each takes at least 3 bytes of it):
// room for them up front is one allocation, not a doubling series; capped,
// so that a huge body costs only what it holds.
constexpr size_t kReserveBytes = 64 * 1024;

tl::unexpected<Error> TooManyIds() {
  return Fail(ErrorCode::kInvalidArgument,
              "at most " + std::to_string(kMaxResolveIds) + " ids per call");
}

// SAX events of one request body, keeping the top-level "ids" array's
// strings. Every handler returns whether to go on; parse_error stops.
// `depth_` counts the containers open around the current event: 1 inside
// the top-level object, 2 directly inside the ids array.
class ResolveRequestReader {
 public:
  enum class Ids { kAbsent, kNotArray, kArray };

  explicit ResolveRequestReader(size_t body_size) : body_size_(body_size) {}

  bool null() { return Scalar(nullptr); }
  bool boolean(bool) { return Scalar(nullptr); }
  bool number_integer(json::number_integer_t) { return Scalar(nullptr); }
  bool number_unsigned(json::number_unsigned_t) { return Scalar(nullptr); }
  bool number_float(json::number_float_t, const json::string_t&) {
    return Scalar(nullptr);
  }
  bool string(json::string_t& value) { return Scalar(&value); }
  bool binary(json::binary_t&) { return Scalar(nullptr); }

  bool start_object(size_t) {
    if (depth_ == 0) {
      ++depth_;
      return true;
    }
    return Open(/*array=*/false);
  }
  bool key(json::string_t& name) {
    if (depth_ == 1) value_is_ids_ = name == "ids";
    return true;
  }
  bool end_object() {
    --depth_;
    return true;
  }
  bool start_array(size_t) {
    if (depth_ == 0) return false;  // not an object: nothing to read
    return Open(/*array=*/true);
  }
  bool end_array() {
    if (depth_ == 2 && in_ids_) in_ids_ = false;
    --depth_;
    return true;
  }
  bool parse_error(size_t, const std::string&,
                   const nlohmann::detail::exception&) {
    return false;
  }

  Ids ids() const { return ids_; }
  size_t count() const { return count_; }
  bool all_strings() const { return all_strings_; }
  ResolveRequest& request() { return request_; }

 private:
  // A value that is no container; `text` when it is a string.
  bool Scalar(const std::string* text) {
    if (depth_ == 0) return false;  // a bare scalar is not an object
    if (depth_ == 1) {
      if (value_is_ids_) ids_ = Ids::kNotArray;
      value_is_ids_ = false;
    } else if (depth_ == 2 && in_ids_) {
      Element(text);
    }
    return true;
  }

  bool Open(bool array) {
    if (depth_ == 1) {
      if (value_is_ids_) {
        // A later "ids" replaces an earlier one, as in a parsed DOM.
        ids_ = array ? Ids::kArray : Ids::kNotArray;
        in_ids_ = array;
        count_ = 0;
        all_strings_ = true;
        request_ = ResolveRequest();
        request_.Reserve(std::min(body_size_, kReserveBytes),
                         std::min(body_size_ / 3, kMaxResolveIds));
      }
      value_is_ids_ = false;
    } else if (depth_ == 2 && in_ids_) {
      Element(nullptr);
    }
    ++depth_;
    return true;
  }

  void Element(const std::string* text) {
    ++count_;
    if (text == nullptr) {
      all_strings_ = false;
    } else if (count_ <= kMaxResolveIds) {
      request_.Add(*text);
    }
  }

  const size_t body_size_;
  size_t depth_ = 0;
  bool value_is_ids_ = false;  // the last top-level key was "ids"
  bool in_ids_ = false;        // inside the ids array (at depth 2)
  Ids ids_ = Ids::kAbsent;
  size_t count_ = 0;  // elements of the ids array, of any type
  bool all_strings_ = true;
  ResolveRequest request_;  // the first kMaxResolveIds strings
};

bool IsJsonSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool IsIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// The body every well-behaved client sends, {"ids":["<id>",...]} with ids
// of [A-Za-z0-9_-] only (so no escapes) and JSON white space between
// tokens, read in one pass: several times faster than the SAX reader. Such a
// body is valid JSON meaning exactly that, so the answer is the one the full
// parser would give; at any other byte this gives up (nullopt) and the full
// parser decides.
std::optional<Result<ResolveRequest>> ParsePlainRequest(std::string_view body) {
  size_t i = 0;
  auto space = [&] {
    while (i < body.size() && IsJsonSpace(body[i])) ++i;
  };
  auto token = [&](std::string_view t) {
    space();
    if (body.substr(i, t.size()) != t) return false;
    i += t.size();
    return true;
  };
  if (!token("{") || !token("\"ids\"") || !token(":") || !token("[")) {
    return std::nullopt;
  }
  ResolveRequest request;
  request.Reserve(std::min(body.size(), kReserveBytes),
                  std::min(body.size() / 3, kMaxResolveIds));
  size_t count = 0;
  if (!token("]")) {
    for (;;) {
      if (!token("\"")) return std::nullopt;
      const size_t start = i;
      while (i < body.size() && IsIdChar(body[i])) ++i;
      if (i == body.size() || body[i] != '"') return std::nullopt;
      if (++count <= kMaxResolveIds) {
        request.Add(body.substr(start, i - start));
      }
      ++i;
      if (token(",")) continue;
      if (token("]")) break;
      return std::nullopt;
    }
  }
  if (!token("}")) return std::nullopt;
  space();
  if (i != body.size()) return std::nullopt;
  if (count > kMaxResolveIds) return TooManyIds();
  return request;
}

}  // namespace

Result<ResolveRequest> ParseResolveRequest(std::string_view body) {
  if (auto plain = ParsePlainRequest(body)) return *std::move(plain);
  ResolveRequestReader reader(body.size());
  if (!json::sax_parse(body, &reader)) {
    return Fail(ErrorCode::kInvalidArgument, "body is not a JSON object");
  }
  if (reader.ids() != ResolveRequestReader::Ids::kArray) {
    return Fail(ErrorCode::kInvalidArgument, "expected {\"ids\": [...]}");
  }
  if (reader.count() > kMaxResolveIds) return TooManyIds();
  if (!reader.all_strings()) {
    return Fail(ErrorCode::kInvalidArgument, "ids must be strings");
  }
  return std::move(reader.request());
}

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  size_t plain = 0;  // start of the run not yet copied
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text, plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        AppendHex(out, std::span<const unsigned char>(&c, 1));
        break;
    }
  }
  out.append(text, plain);
  out += '"';
}

std::string FormatResolveReply(const Resolver::Batch& batch) {
  // Keys in nlohmann::json's (sorted) order, so the bytes are those the
  // DOM-built reply had.
  size_t size = 32;
  for (const Resolver::Found& f : batch.images) {
    size += f.id.str().size() + f.now.url.size() + 40;
  }
  for (const std::string& m : batch.missing) size += m.size() + 3;
  std::string out;
  out.reserve(size);
  out += "{\"images\":{";
  for (size_t i = 0; i < batch.images.size(); ++i) {
    const Resolver::Found& f = batch.images[i];
    if (i > 0) out += ',';
    AppendJsonString(out, f.id.str());
    out += f.now.available ? ":{\"available\":true,\"url\":"
                           : ":{\"available\":false,\"url\":";
    AppendJsonString(out, f.now.url);
    out += '}';
  }
  out += "},\"missing\":[";
  for (size_t i = 0; i < batch.missing.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(out, batch.missing[i]);
  }
  out += "]}";
  return out;
}

}  // namespace imgstore
