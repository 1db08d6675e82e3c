#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imgstore::pages {

// Server-side rendering of the demo site and the dashboard shell, from the
// templates and assets embedded out of web/ (cmake/Embed.cmake). Pure
// functions of their arguments; thread-safe.

struct GalleryImage {
  std::string id;
  std::string url;  // the URL to use now: a node's, or the default image
  bool available = true;
  std::string content_type;
  int64_t width = 0;
  int64_t height = 0;
  int64_t bytes = 0;
  int64_t created_at = 0;  // Unix seconds
};

struct ReplicaInfo {
  int64_t server_id = 0;
  std::string server_name;
  std::string url;  // this copy's direct URL
  bool usable = false;
};

struct ImageDetail {
  GalleryImage image;
  std::string sha256;
  std::vector<ReplicaInfo> replicas;
};

// GET / (and /?page=N): recent images, newest first, `page` counted from 1.
std::string Gallery(const std::vector<GalleryImage>& images, int64_t page,
                    bool has_next, int64_t total_images);
// GET /images/{id}: one image with its metadata and copies.
std::string ImagePage(const ImageDetail& detail);
// GET /images/{id} of an id that is not (or no longer) stored.
std::string NoSuchImage();
// A page that cannot be shown now (the database does not answer): why.
std::string Unavailable(std::string_view why);
// The answer to the gallery's form posted without its script, when the
// upload is refused: why.
std::string UploadRefused(std::string_view why);
// GET /admin: the dashboard shell; its script reads /v1/servers.
std::string Admin();

struct Asset {
  std::string_view content_type;
  std::string_view bytes;
  std::string_view version;  // the pages link "/static/{name}?v={version}"
};
// GET /static/{name}: a CSS, JS or image asset; nullopt when unknown.
std::optional<Asset> Static(std::string_view name);

// PNG bytes of the built-in default image.
std::string_view BuiltinDefaultImage();

}  // namespace imgstore::pages
