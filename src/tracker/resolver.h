#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/image_id.h"
#include "core/image_record.h"
#include "core/server.h"
#include "meta/metadata_store.h"
#include "tracker/server_registry.h"

namespace imgstore {

// The most ids one POST /v1/resolve may ask for (SPEC §4: a page's worth).
inline constexpr size_t kMaxResolveIds = 1000;

// "The URL to use now" (SPEC §4): a copy on a usable server, else the
// default image with available = false.
struct Resolved {
  std::string url;
  bool available = false;
};

// Turns ids into URLs: one store query for where the images are
// (MetadataStore::Locate: memory on SQLite, placements on PostgreSQL),
// server health from the registry's memory. Thread-safe; blocks on the
// store.
class Resolver {
 public:
  Resolver(MetadataStore& store, const ServerRegistry& registry,
           std::string default_image_url)
      : store_(store),
        registry_(registry),
        default_image_url_(std::move(default_image_url)) {}

  // Reads spread over usable copies, stably per image (the same id gets the
  // same copy while health is unchanged, so browser caches keep working).
  // Both forms choose the same copy, given the same servers in the same
  // order (the store's: ascending server_id) and MakeImagePath's paths.
  Resolved Choose(const ImageRecord& image, const ServerView& servers) const;
  Resolved Choose(const ImageLocation& image, const ServerView& servers) const;

  struct Found {
    ImageId id;
    Resolved now;
  };
  struct Batch {
    std::vector<Found> images;         // the known ids: sorted, each once
    std::vector<std::string> missing;  // unknown or malformed ids
  };
  // `ids` as sent: a repeated id is resolved once (but listed in `missing`
  // as often as it was sent, malformed ids first, then unknown ones, each in
  // request order). One store query (MetadataStore::Locate).
  Result<Batch> ResolveMany(const std::vector<std::string_view>& ids) const;

  // One id, as GET /i/{id} needs it: kNotFound when malformed or unknown.
  // A point lookup (MetadataStore::Locate of one id).
  Result<Resolved> ResolveOne(std::string_view id) const;

  // The direct URL of a copy on a server.
  static std::string CopyUrl(const ServerRow& server,
                             const Placement& placement);

  const std::string& default_image_url() const { return default_image_url_; }

 private:
  MetadataStore& store_;
  const ServerRegistry& registry_;
  const std::string default_image_url_;
};

// ---- the POST /v1/resolve wire format ----
//
// Request {"ids": [...]}, reply {"images": {"<id>": {"url", "available"}},
// "missing": [...]} (SPEC §4). Written by hand rather than through a JSON
// DOM: a page's resolve is the tracker's hottest call, and building and
// freeing a tree of a few hundred nodes per call was a quarter of its CPU.

// The ids of a request body, each as sent (JSON escapes decoded), in
// order. Back to back in one buffer, so a request costs two allocations,
// not one per id.
class ResolveRequest {
 public:
  size_t size() const { return ends_.size(); }
  std::string_view id(size_t i) const {
    const size_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(text_).substr(begin, ends_[i] - begin);
  }
  // Views into this object: valid while it lives, unchanged.
  std::vector<std::string_view> ids() const;

  void Reserve(size_t bytes, size_t ids) {
    text_.reserve(bytes);
    ends_.reserve(ids);
  }
  void Add(std::string_view id) {
    text_ += id;
    ends_.push_back(text_.size());
  }

 private:
  std::string text_;
  std::vector<size_t> ends_;
};

// Parses a request body as nlohmann::json::parse would (same grammar, UTF-8
// checks and number limits: a body the canonical shape {"ids":["<id>",...]}
// does not fit is read by nlohmann's SAX reader, without building a DOM),
// keeping only the top-level "ids" (the last one if repeated).
// kInvalidArgument, checked in this order: "body is not a JSON object"
// (malformed JSON, invalid UTF-8, or not an object); "expected {"ids":
// [...]}" (missing or not an array); "at most N ids per call" (more than
// kMaxResolveIds); "ids must be strings". At most kMaxResolveIds ids are
// ever kept, so memory stays below the body's size whatever it holds.
Result<ResolveRequest> ParseResolveRequest(std::string_view body);

// The reply body for `batch`, as one string: images in batch order.
std::string FormatResolveReply(const Resolver::Batch& batch);

// Appends `text` as a JSON string literal: quotes, backslashes and control
// characters escaped (as nlohmann::json::dump does), other bytes as they
// are. `text` must be valid UTF-8 for the result to be valid JSON.
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace imgstore
