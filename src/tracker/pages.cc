#include "tracker/pages.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <initializer_list>
#include <span>
#include <utility>
#include <vector>

#include "core/embedded.h"
#include "core/hex.h"

namespace imgstore {
// Every file of web/, compiled in by imgstore_embed(imgstore_tracker Web ...)
// in src/tracker/CMakeLists.txt.
extern const std::span<const EmbeddedFile> kWeb;
}  // namespace imgstore

namespace imgstore::pages {
namespace {

// The files under web/ that GET /static/{name} may return, by public name.
// An allowlist rather than a path lookup: templates are not served, and no
// name is ever turned into a path.
struct AssetEntry {
  std::string_view name;
  std::string_view path;  // in kWeb
  std::string_view content_type;
};
constexpr AssetEntry kAssets[] = {
    {"style.css", "style.css", "text/css; charset=utf-8"},
    {"site.js", "site/site.js", "text/javascript; charset=utf-8"},
    {"admin.js", "admin/admin.js", "text/javascript; charset=utf-8"},
    {"favicon.svg", "favicon.svg", "image/svg+xml"},
    {"default-image.png", "default-image.png", "image/png"},
};

// A file of web/. Every path asked for here is a literal of this file, so a
// missing one is a build mistake: crash loudly (the unit tests render every
// page) rather than serve half a page.
std::string_view WebFile(std::string_view path) {
  for (const EmbeddedFile& file : kWeb) {
    if (file.path == path) return file.bytes;
  }
  std::fprintf(stderr, "internal error: web/%.*s is not embedded\n",
               static_cast<int>(path.size()), path.data());
  std::abort();
}

// An asset's version: a hash of its bytes, computed once.
std::string_view AssetVersion(const AssetEntry& asset) {
  static const auto versions = [] {
    std::vector<std::string> out;
    for (const AssetEntry& a : kAssets)
      out.push_back(Sha256Hex(WebFile(a.path)).substr(0, 12));
    return out;
  }();
  return versions[size_t(&asset - kAssets)];
}

// "/static/NAME?v=VERSION": a page loads the assets of the tracker that
// rendered it, never a cached older one, and browsers may keep them.
std::string AssetHref(std::string_view name) {
  for (const AssetEntry& asset : kAssets) {
    if (asset.name == name)
      return fmt::format("/static/{}?v={}", name, AssetVersion(asset));
  }
  std::fprintf(stderr, "internal error: no asset %.*s\n",
               static_cast<int>(name.size()), name.data());
  std::abort();
}

std::string Script(std::string_view name) {
  return fmt::format("<script src=\"{}\" defer></script>", AssetHref(name));
}

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// One value for a template: {{name}} inserts it escaped, {{{name}}} as it is.
// Raw values are only ever markup this file built from escaped parts.
struct Var {
  std::string_view name;
  std::string value;
};

// Replaces {{name}} (escaped) and {{{name}}} (raw) in `tpl`. A name without a
// value renders as nothing, so a template may carry optional slots.
std::string Render(std::string_view tpl, std::span<const Var> vars) {
  std::string out;
  out.reserve(tpl.size() * 2);
  size_t pos = 0;
  while (true) {
    size_t open = tpl.find("{{", pos);
    if (open == std::string_view::npos) break;
    bool raw = open + 2 < tpl.size() && tpl[open + 2] == '{';
    std::string_view close_mark = raw ? "}}}" : "}}";
    size_t name_start = open + (raw ? 3 : 2);
    size_t close = tpl.find(close_mark, name_start);
    if (close == std::string_view::npos) break;
    out.append(tpl.substr(pos, open - pos));
    std::string_view name = tpl.substr(name_start, close - name_start);
    for (const Var& var : vars) {
      if (var.name != name) continue;
      out += raw ? var.value : Escape(var.value);
      break;
    }
    pos = close + close_mark.size();
  }
  out.append(tpl.substr(pos));
  return out;
}

std::string Render(std::string_view tpl, std::initializer_list<Var> vars) {
  return Render(tpl, std::span<const Var>(vars.begin(), vars.size()));
}

// URLs come from servers' heartbeats and the API, so they may be hostile:
// only http(s) and same-origin paths reach an href or src.
std::string SafeUrl(std::string_view url, std::string_view fallback) {
  auto starts_with_nocase = [&](std::string_view prefix) {
    if (url.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
      char c = url[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != prefix[i]) return false;
    }
    return true;
  };
  // "//host" and "/\host" are other hosts to a browser, not paths.
  bool path = url.size() >= 1 && url[0] == '/' &&
              (url.size() == 1 || (url[1] != '/' && url[1] != '\\'));
  if (starts_with_nocase("http://") || starts_with_nocase("https://") || path) {
    return std::string(url);
  }
  return std::string(fallback);
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  return value < 10 ? fmt::format("{:.1f} {}", value, units[unit])
                    : fmt::format("{:.0f} {}", value, units[unit]);
}

// "image/webp" → "WebP": the names people know the formats by.
std::string FormatType(std::string_view content_type) {
  struct Name {
    std::string_view type, name;
  };
  constexpr Name kNames[] = {{"image/jpeg", "JPEG"}, {"image/png", "PNG"},
                             {"image/gif", "GIF"},   {"image/webp", "WebP"},
                             {"image/avif", "AVIF"}, {"image/heic", "HEIC"},
                             {"image/heif", "HEIC"}};
  for (const Name& n : kNames) {
    if (n.type == content_type) return std::string(n.name);
  }
  if (content_type.empty()) return "Unknown type";
  size_t slash = content_type.find('/');
  std::string sub(slash == std::string_view::npos
                      ? content_type
                      : content_type.substr(slash + 1));
  for (char& c : sub) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return sub;
}

std::string FormatDims(const GalleryImage& image) {
  if (image.width <= 0 || image.height <= 0) return "Unknown size";
  return fmt::format("{} × {}", image.width, image.height);
}

// created_at as ("2024-05-01T09:30:00Z", "2024-05-01 09:30 UTC").
std::pair<std::string, std::string> FormatTime(int64_t unix_seconds) {
  if (unix_seconds <= 0) return {"", "Unknown"};
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return {"", "Unknown"};
  char iso[32];
  char shown[32];
  std::strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::strftime(shown, sizeof shown, "%Y-%m-%d %H:%M UTC", &tm);
  return {iso, shown};
}

std::string Plural(int64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

constexpr std::string_view kCurrent = " aria-current=\"page\"";

std::string Layout(std::string_view title, std::string_view page,
                   std::string content, std::string scripts) {
  return Render(WebFile("layout.html"),
                {{"title", std::string(title)},
                 {"page", std::string(page)},
                 {"nav_gallery", page == "admin" ? "" : std::string(kCurrent)},
                 {"nav_admin", page == "admin" ? std::string(kCurrent) : ""},
                 {"favicon", AssetHref("favicon.svg")},
                 {"stylesheet", AssetHref("style.css")},
                 {"content", std::move(content)},
                 {"scripts", std::move(scripts)}});
}

std::string Card(const GalleryImage& image) {
  std::string alt =
      image.available
          ? fmt::format("Image {}", image.id)
          : fmt::format("Image {} is unavailable: its server is down",
                        image.id);
  return Render(WebFile("site/card.html"),
                {{"id", image.id},
                 {"url", SafeUrl(image.url, "/default-image")},
                 {"alt", alt},
                 {"card_class", image.available ? "" : " is-unavailable"},
                 {"badge", image.available
                               ? ""
                               : "<span class=\"badge badge-down thumb-badge\">"
                                 "Server down</span>"},
                 {"dims", FormatDims(image)},
                 {"type", FormatType(image.content_type)},
                 {"size", FormatBytes(image.bytes)}});
}

std::string PageHref(int64_t page) {
  return page <= 1 ? "/" : fmt::format("/?page={}", page);
}

std::string Pager(int64_t page, bool has_next) {
  if (page <= 1 && !has_next) return "";
  std::string newer =
      page > 1
          ? fmt::format(
                "<a class=\"button button-quiet\" rel=\"prev\" href=\"{}\">"
                "<span aria-hidden=\"true\">←</span> Newer</a>",
                PageHref(page - 1))
          : "<span class=\"button button-quiet is-disabled\" "
            "aria-disabled=\"true\">"
            "<span aria-hidden=\"true\">←</span> Newer</span>";
  std::string older =
      has_next
          ? fmt::format(
                "<a class=\"button button-quiet\" rel=\"next\" href=\"{}\">"
                "Older <span aria-hidden=\"true\">→</span></a>",
                PageHref(page + 1))
          : "<span class=\"button button-quiet is-disabled\" "
            "aria-disabled=\"true\">"
            "Older <span aria-hidden=\"true\">→</span></span>";
  return fmt::format(
      "<nav class=\"pager\" aria-label=\"Pages\">{}<span "
      "class=\"pager-current\">Page {}</span>"
      "{}</nav>",
      newer, page, older);
}

}  // namespace

std::string Gallery(const std::vector<GalleryImage>& images, int64_t page,
                    bool has_next, int64_t total_images) {
  if (page < 1) page = 1;
  std::string grid;
  if (!images.empty()) {
    grid = "<ul class=\"grid\" id=\"gallery-grid\">\n";
    for (const GalleryImage& image : images) grid += Card(image);
    grid += "</ul>";
  } else if (page == 1) {
    grid =
        "<div class=\"empty\" id=\"gallery-empty\"><p class=\"empty-title\">No "
        "images yet</p>"
        "<p>Upload the first one above: it is stored on one of the image "
        "servers and "
        "shown here straight from it.</p></div>";
  } else {
    grid = fmt::format(
        "<div class=\"empty\" id=\"gallery-empty\"><p "
        "class=\"empty-title\">Nothing on page {}"
        "</p><p><a href=\"/\">Back to the newest images</a></p></div>",
        page);
  }
  std::string summary =
      total_images == 0
          ? "No images stored yet."
          : fmt::format("{} stored · page {}",
                        Plural(total_images, "image", "images"), page);
  std::string content =
      Render(WebFile("site/gallery.html"), {{"summary", summary},
                                            {"grid", std::move(grid)},
                                            {"pager", Pager(page, has_next)}});
  std::string title =
      page == 1 ? "Gallery" : fmt::format("Gallery, page {}", page);
  return Layout(title, "gallery", std::move(content), Script("site.js"));
}

std::string ImagePage(const ImageDetail& detail) {
  const GalleryImage& image = detail.image;
  std::string server =
      image.available ? "Unknown" : "None: every server holding it is down";
  int64_t usable = 0;
  std::string rows;
  for (const ReplicaInfo& replica : detail.replicas) {
    if (replica.usable) ++usable;
    std::string name = replica.server_name.empty()
                           ? fmt::format("server {}", replica.server_id)
                           : replica.server_name;
    if (image.available && replica.url == image.url) {
      server = fmt::format("{} (#{})", name, replica.server_id);
    }
    rows += Render(
        WebFile("site/replica.html"),
        {{"name", name},
         {"server_id", fmt::format("{}", replica.server_id)},
         {"status", replica.usable
                        ? "<span class=\"badge badge-ok\">Up</span>"
                        : "<span class=\"badge badge-down\">Down</span>"},
         {"url", SafeUrl(replica.url, "#")}});
  }
  std::string replicas =
      rows.empty()
          ? "<p class=\"muted\">No copies recorded.</p>"
          : "<div class=\"table-wrap\"><table class=\"table\"><thead><tr>"
            "<th scope=\"col\">Server</th><th scope=\"col\">Status</th>"
            "<th scope=\"col\">URL</th></tr></thead><tbody>" +
                rows + "</tbody></table></div>";
  std::string copies = detail.replicas.empty()
                           ? "None"
                           : fmt::format("{} ({} on a server that is up)",
                                         detail.replicas.size(), usable);
  std::string notice = image.available
                           ? ""
                           : "<p class=\"notice notice-warn\" "
                             "role=\"status\">Every server holding this image "
                             "is down right now, so the default image is shown "
                             "instead. The image comes back "
                             "as soon as one of them does.</p>";
  std::string size_attrs =
      image.available && image.width > 0 && image.height > 0
          ? fmt::format(" width=\"{}\" height=\"{}\"", image.width,
                        image.height)
          : "";
  auto [created_iso, created] = FormatTime(image.created_at);
  std::string content = Render(
      WebFile("site/image.html"),
      {{"id", image.id},
       {"url", SafeUrl(image.url, "/default-image")},
       {"alt",
        image.available
            ? fmt::format("Image {}", image.id)
            : fmt::format("Default image: image {} is unavailable", image.id)},
       {"size_attrs", size_attrs},
       {"url_heading",
        image.available ? "Direct URL" : "URL to use now: the default image"},
       {"notice", notice},
       {"dims", FormatDims(image)},
       {"type", FormatType(image.content_type)},
       {"content_type", image.content_type},
       {"size", FormatBytes(image.bytes)},
       {"bytes", fmt::format("{}", image.bytes)},
       {"created_iso", created_iso},
       {"created", created},
       {"server", server},
       {"copies", copies},
       {"sha256", detail.sha256.empty() ? "Unknown" : detail.sha256},
       {"replicas", replicas}});
  return Layout(fmt::format("Image {}", image.id), "image", std::move(content),
                Script("site.js"));
}

std::string NoSuchImage() {
  return Layout(
      "No such image", "image",
      "<div class=\"empty\"><p class=\"empty-title\">No such image</p>"
      "<p>It was never stored here, or it was deleted.</p>"
      "<p><a href=\"/\">Back to the newest images</a></p></div>",
      "");
}

std::string Unavailable(std::string_view why) {
  return Layout("Not available", "error",
                fmt::format("<div class=\"empty\"><p class=\"empty-title\">"
                            "This page cannot be shown right now</p>"
                            "<p>{}</p><p>Try again in a moment.</p></div>",
                            Escape(why)),
                "");
}

std::string UploadRefused(std::string_view why) {
  return Layout("Not stored", "error",
                fmt::format("<div class=\"empty\"><p class=\"empty-title\">"
                            "The image was not stored</p><p>{}</p>"
                            "<p><a href=\"/\">Back to the gallery</a></p>"
                            "</div>",
                            Escape(why)),
                "");
}

std::string Admin() {
  return Layout("Dashboard", "admin", std::string(WebFile("admin/admin.html")),
                Script("admin.js"));
}

std::optional<Asset> Static(std::string_view name) {
  for (const AssetEntry& asset : kAssets) {
    if (asset.name == name)
      return Asset{asset.content_type, WebFile(asset.path),
                   AssetVersion(asset)};
  }
  return std::nullopt;
}

std::string_view BuiltinDefaultImage() { return WebFile("default-image.png"); }

}  // namespace imgstore::pages
