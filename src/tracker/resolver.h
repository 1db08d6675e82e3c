#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/image_record.h"
#include "core/server.h"
#include "meta/metadata_store.h"
#include "tracker/server_registry.h"

namespace imgstore {

// "The URL to use now" (SPEC §4): a copy on a usable server, else the
// default image with available = false.
struct Resolved {
  std::string url;
  bool available = false;
};

// Turns ids into URLs: one store query for the images, server health from
// the registry's memory. Thread-safe; blocks on the store.
class Resolver {
 public:
  Resolver(MetadataStore& store, const ServerRegistry& registry,
           std::string default_image_url)
      : store_(store),
        registry_(registry),
        default_image_url_(std::move(default_image_url)) {}

  // Reads spread over usable copies, stably per image (the same id gets the
  // same copy while health is unchanged, so browser caches keep working).
  Resolved Choose(const ImageRecord& image, const ServerView& servers) const;

  struct Batch {
    std::unordered_map<std::string, Resolved> images;  // by id
    std::vector<std::string> missing;  // unknown or malformed ids
  };
  Result<Batch> ResolveMany(const std::vector<std::string>& ids) const;

  // The direct URL of a copy on a server.
  static std::string CopyUrl(const ServerRow& server,
                             const Placement& placement);

  const std::string& default_image_url() const { return default_image_url_; }

 private:
  MetadataStore& store_;
  const ServerRegistry& registry_;
  const std::string default_image_url_;
};

}  // namespace imgstore
