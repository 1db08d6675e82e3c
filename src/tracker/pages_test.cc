#include "tracker/pages.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "core/hex.h"

namespace imgstore::pages {
namespace {

size_t Count(std::string_view haystack, std::string_view needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

GalleryImage Image(std::string id, std::string url, bool available = true) {
  GalleryImage image;
  image.id = std::move(id);
  image.url = std::move(url);
  image.available = available;
  image.content_type = "image/jpeg";
  image.width = 640;
  image.height = 480;
  image.bytes = 1536;
  image.created_at = 1700000000;
  return image;
}

// Hostile strings as they might arrive from a node's heartbeat or a name an
// operator typed: each must reach the page as text, never as markup.
constexpr const char* kScript = "<script>alert(1)</script>";

TEST(PagesTest, GalleryImagesPointStraightAtTheirNode) {
  std::string html =
      Gallery({Image("abcdefghijklmnop",
                     "http://127.0.0.1:9001/ab/cd/abcdefghijklmnop.jpg"),
               Image("qrstuvwxyzABCDEF",
                     "http://127.0.0.1:9002/ef/01/qrstuvwxyzABCDEF.jpg")},
              1, false, 2);
  EXPECT_NE(
      html.find("src=\"http://127.0.0.1:9001/ab/cd/abcdefghijklmnop.jpg\""),
      std::string::npos);
  EXPECT_NE(
      html.find("src=\"http://127.0.0.1:9002/ef/01/qrstuvwxyzABCDEF.jpg\""),
      std::string::npos);
  EXPECT_NE(html.find("href=\"/images/abcdefghijklmnop\""), std::string::npos);
  EXPECT_NE(html.find("640 × 480"), std::string::npos);
  EXPECT_NE(html.find("JPEG · 1.5 KiB"), std::string::npos);
  EXPECT_NE(html.find("2 images stored"), std::string::npos);
  EXPECT_NE(html.find("id=\"upload-form\""), std::string::npos);
  EXPECT_NE(html.find("<script src=\"/static/site.js?v="), std::string::npos);
  EXPECT_EQ(Count(html, "<li class=\"card"), 2u);
  EXPECT_EQ(html.find("Server down"), std::string::npos);
}

TEST(PagesTest, GalleryEscapesHostileText) {
  GalleryImage image =
      Image(std::string("\"><img src=x onerror=alert(1)>") + kScript,
            "http://n1/a\"onmouseover=\"alert(1)");
  image.content_type = "image/<b>";
  std::string html = Gallery({image}, 1, false, 1);
  EXPECT_EQ(html.find(kScript), std::string::npos);
  EXPECT_EQ(html.find("<img src=x"), std::string::npos);
  EXPECT_EQ(html.find("\"onmouseover=\""), std::string::npos);
  EXPECT_EQ(html.find("<B>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"),
            std::string::npos);
  EXPECT_NE(html.find("&quot;&gt;&lt;img src=x"), std::string::npos);
  EXPECT_NE(html.find("http://n1/a&quot;onmouseover=&quot;alert(1)"),
            std::string::npos);
  EXPECT_NE(html.find("&lt;B&gt;"), std::string::npos);
}

TEST(PagesTest, UrlsWithOtherSchemesNeverReachTheMarkup) {
  for (const char* url :
       {"javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x",
        "//evil.example/x.png", "/\\evil.example/x.png", " javascript:alert(1)",
        "vbscript:x"}) {
    std::string html = Gallery({Image("abcdefghijklmnop", url)}, 1, false, 1);
    EXPECT_EQ(html.find(url), std::string::npos) << url;
    EXPECT_NE(html.find("src=\"/default-image\""), std::string::npos) << url;
  }
  for (const char* url : {"https://cdn.example/ab/cd/x.png",
                          "HTTP://n1:9001/x.png", "/default-image"}) {
    std::string html = Gallery({Image("abcdefghijklmnop", url)}, 1, false, 1);
    EXPECT_NE(html.find(std::string("src=\"") + url + "\""), std::string::npos)
        << url;
  }
}

TEST(PagesTest, UnavailableImagesShowTheDefaultImageWithABadge) {
  std::string html =
      Gallery({Image("abcdefghijklmnop", "http://n1:9001/ab/cd/a.jpg"),
               Image("bbcdefghijklmnop", "/default-image", false),
               Image("cbcdefghijklmnop", "/default-image", false)},
              1, false, 3);
  EXPECT_EQ(Count(html, ">Server down</span>"), 2u);
  EXPECT_EQ(Count(html, " is-unavailable"), 2u);
  EXPECT_EQ(Count(html, "src=\"/default-image\""), 2u);
  EXPECT_NE(
      html.find(
          "alt=\"Image bbcdefghijklmnop is unavailable: its server is down\""),
      std::string::npos);
  EXPECT_NE(html.find("alt=\"Image abcdefghijklmnop\""), std::string::npos);
}

TEST(PagesTest, PagingLinks) {
  std::vector<GalleryImage> one = {
      Image("abcdefghijklmnop", "http://n1/a.jpg")};

  std::string only = Gallery(one, 1, false, 1);
  EXPECT_EQ(only.find("class=\"pager\""), std::string::npos);

  std::string first = Gallery(one, 1, true, 50);
  EXPECT_NE(first.find("rel=\"next\" href=\"/?page=2\""), std::string::npos);
  EXPECT_EQ(first.find("rel=\"prev\""), std::string::npos);
  EXPECT_NE(first.find("Page 1"), std::string::npos);

  std::string second = Gallery(one, 2, true, 50);
  EXPECT_NE(second.find("rel=\"prev\" href=\"/\""), std::string::npos);
  EXPECT_NE(second.find("rel=\"next\" href=\"/?page=3\""), std::string::npos);
  EXPECT_NE(second.find("<title>Gallery, page 2 · imgstore</title>"),
            std::string::npos);

  std::string last = Gallery(one, 3, false, 50);
  EXPECT_NE(last.find("rel=\"prev\" href=\"/?page=2\""), std::string::npos);
  EXPECT_EQ(last.find("rel=\"next\""), std::string::npos);
  EXPECT_NE(last.find("Older"), std::string::npos);  // shown, but not a link

  std::string clamped = Gallery(one, -4, false, 1);
  EXPECT_NE(clamped.find("page 1"), std::string::npos);
  EXPECT_EQ(clamped.find("page -4"), std::string::npos);
}

TEST(PagesTest, EmptyGalleryInvitesAnUpload) {
  std::string html = Gallery({}, 1, false, 0);
  EXPECT_NE(html.find("No images yet"), std::string::npos);
  EXPECT_NE(html.find("No images stored yet."), std::string::npos);
  EXPECT_NE(html.find("id=\"upload-form\""), std::string::npos);

  std::string beyond = Gallery({}, 7, false, 3);
  EXPECT_NE(beyond.find("Nothing on page 7"), std::string::npos);
  EXPECT_NE(beyond.find("rel=\"prev\" href=\"/?page=6\""), std::string::npos);
}

TEST(PagesTest, EveryPlaceholderIsFilled) {
  ImageDetail detail{Image("abcdefghijklmnop", "http://n1/a.jpg"), "ab12", {}};
  for (const std::string& html :
       {Gallery({Image("abcdefghijklmnop", "http://n1/a.jpg")}, 2, true, 30),
        Gallery({}, 1, false, 0), ImagePage(detail), Admin()}) {
    EXPECT_EQ(html.find("{{"), std::string::npos) << html;
    EXPECT_EQ(html.find("}}"), std::string::npos) << html;
    EXPECT_EQ(html.rfind("<!doctype html>", 0), 0u);
    EXPECT_NE(html.find("</html>"), std::string::npos);
  }
}

TEST(PagesTest, ImagePageShowsMetadataAndCopies) {
  ImageDetail detail;
  detail.image = Image("abcdefghijklmnop",
                       "http://127.0.0.1:9002/ab/cd/abcdefghijklmnop.jpg");
  detail.image.bytes = 3 * 1024 * 1024;
  detail.sha256 = std::string(64, 'f');
  detail.replicas = {
      {1, "n1", "http://127.0.0.1:9001/ab/cd/abcdefghijklmnop.jpg", false},
      {2, "n2", "http://127.0.0.1:9002/ab/cd/abcdefghijklmnop.jpg", true}};
  std::string html = ImagePage(detail);
  EXPECT_NE(html.find("<title>Image abcdefghijklmnop · imgstore</title>"),
            std::string::npos);
  EXPECT_NE(
      html.find("src=\"http://127.0.0.1:9002/ab/cd/abcdefghijklmnop.jpg\""),
      std::string::npos);
  EXPECT_NE(html.find("width=\"640\" height=\"480\""), std::string::npos);
  EXPECT_NE(html.find("640 × 480"), std::string::npos);
  EXPECT_NE(html.find("3.0 MiB"), std::string::npos);
  EXPECT_NE(html.find("3145728 bytes"), std::string::npos);
  EXPECT_NE(html.find("JPEG <span class=\"muted\">(image/jpeg)</span>"),
            std::string::npos);
  EXPECT_NE(html.find("<time datetime=\"2023-11-14T22:13:20Z\">2023-11-14 "
                      "22:13 UTC</time>"),
            std::string::npos);
  EXPECT_NE(html.find("<dd>n2 (#2)</dd>"), std::string::npos);
  EXPECT_NE(html.find("2 (1 on a server that is up)"), std::string::npos);
  EXPECT_NE(html.find(detail.sha256), std::string::npos);
  EXPECT_NE(html.find("href=\"/i/abcdefghijklmnop\""), std::string::npos);
  EXPECT_NE(
      html.find("value=\"http://127.0.0.1:9002/ab/cd/abcdefghijklmnop.jpg\""),
      std::string::npos);
  EXPECT_NE(
      html.find("href=\"http://127.0.0.1:9001/ab/cd/abcdefghijklmnop.jpg\""),
      std::string::npos);
  EXPECT_EQ(Count(html, ">Up</span>"), 1u);
  EXPECT_EQ(Count(html, ">Down</span>"), 1u);
  EXPECT_EQ(html.find("default image is shown"), std::string::npos);
  EXPECT_NE(html.find(">Direct URL</h2>"), std::string::npos);
}

TEST(PagesTest, ImagePageOfAnUnavailableImage) {
  ImageDetail detail;
  detail.image = Image("abcdefghijklmnop", "/default-image", false);
  detail.replicas = {
      {1, "", "http://127.0.0.1:9001/ab/cd/abcdefghijklmnop.jpg", false}};
  std::string html = ImagePage(detail);
  EXPECT_NE(html.find("default image is shown"), std::string::npos);
  EXPECT_NE(html.find("src=\"/default-image\""), std::string::npos);
  EXPECT_NE(html.find("URL to use now: the default image"), std::string::npos);
  EXPECT_EQ(html.find("width=\"640\""),
            std::string::npos);  // not the default image's size
  EXPECT_NE(html.find("None: every server holding it is down"),
            std::string::npos);
  EXPECT_NE(html.find("server 1"), std::string::npos);  // a copy without a name
  EXPECT_NE(
      html.find("alt=\"Default image: image abcdefghijklmnop is unavailable\""),
      std::string::npos);
}

TEST(PagesTest, ImagePageEscapesHostileText) {
  ImageDetail detail;
  detail.image = Image(kScript, "http://n1/x.jpg");
  detail.image.content_type = kScript;
  detail.sha256 = kScript;
  detail.replicas = {{1, kScript, "javascript:alert(1)", true},
                     {2, "n2\" onclick=\"x", "http://n1/x.jpg", true}};
  std::string html = ImagePage(detail);
  EXPECT_EQ(html.find(kScript), std::string::npos);
  EXPECT_EQ(html.find("javascript:"), std::string::npos);
  EXPECT_EQ(html.find("\" onclick=\""), std::string::npos);
  EXPECT_GE(Count(html, "&lt;script&gt;alert(1)&lt;/script&gt;"), 4u);
  EXPECT_NE(html.find("n2&quot; onclick=&quot;x (#2)"), std::string::npos);
}

TEST(PagesTest, AdminIsAShellForItsScript) {
  std::string html = Admin();
  EXPECT_NE(html.find("<script src=\"/static/admin.js?v="), std::string::npos);
  EXPECT_NE(html.find("id=\"servers-body\""), std::string::npos);
  EXPECT_NE(html.find("id=\"auth-form\""), std::string::npos);
  EXPECT_NE(html.find("id=\"add-form\""), std::string::npos);
  EXPECT_NE(html.find("href=\"/admin\" aria-current=\"page\""),
            std::string::npos);
  EXPECT_EQ(html.find("href=\"/\" aria-current"), std::string::npos);
}

TEST(PagesTest, StaticAssetsHaveTheirContentTypes) {
  struct Want {
    const char* name;
    const char* content_type;
    const char* contains;
  };
  const Want wants[] = {
      {"style.css", "text/css; charset=utf-8", ":root"},
      {"site.js", "text/javascript; charset=utf-8", "XMLHttpRequest"},
      {"admin.js", "text/javascript; charset=utf-8", "/v1/servers"},
      {"favicon.svg", "image/svg+xml", "<svg"},
      {"default-image.png", "image/png", "\x89PNG\r\n\x1a\n"},
  };
  for (const Want& want : wants) {
    auto asset = Static(want.name);
    ASSERT_TRUE(asset.has_value()) << want.name;
    EXPECT_EQ(asset->content_type, want.content_type) << want.name;
    EXPECT_NE(asset->bytes.find(want.contains), std::string_view::npos)
        << want.name;
  }
}

TEST(PagesTest, StaticRefusesUnknownNames) {
  const char* bad[] = {"",
                       "layout.html",
                       "site/site.js",
                       "admin/admin.html",
                       "../style.css",
                       "style.css/",
                       "/style.css",
                       "STYLE.CSS",
                       "style.css%00",
                       "default-image.svg",
                       "site/gallery.html",
                       "."};
  for (const char* name : bad) EXPECT_FALSE(Static(name).has_value()) << name;
  EXPECT_FALSE(Static(std::string_view("style.css\0", 10)).has_value());
}

TEST(PagesTest, EveryAssetThePagesLinkIsServed) {
  ImageDetail detail{Image("abcdefghijklmnop", "http://n1/a.jpg"), "", {}};
  // Each with the version of the bytes served now, which a change of the
  // file changes (so browsers may cache the URL for good).
  std::regex link("/static/([A-Za-z0-9._-]+)\\?v=([0-9a-f]{12})\"");
  for (const std::string& html :
       {Gallery({}, 1, false, 0), ImagePage(detail), Admin()}) {
    size_t found = 0;
    for (auto it = std::sregex_iterator(html.begin(), html.end(), link);
         it != std::sregex_iterator(); ++it) {
      auto asset = Static((*it)[1].str());
      ASSERT_TRUE(asset.has_value()) << (*it)[1].str();
      EXPECT_EQ(asset->version, (*it)[2].str());
      EXPECT_EQ(asset->version, Sha256Hex(asset->bytes).substr(0, 12));
      ++found;
    }
    EXPECT_GE(found, 3u);  // favicon, stylesheet, script
  }
}

TEST(PagesTest, BuiltinDefaultImageIsAPng) {
  std::string_view png = BuiltinDefaultImage();
  ASSERT_GT(png.size(), 100u);
  EXPECT_EQ(png.substr(0, 8), std::string_view("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png, Static("default-image.png")->bytes);
  // IHDR: 400 × 300, big-endian right after the chunk type.
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(png.substr(16, 8), std::string_view("\0\0\x01\x90\0\0\x01\x2c", 8));
}

}  // namespace
}  // namespace imgstore::pages
