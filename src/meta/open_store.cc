// OpenMetadataStore: the one table from a --db URL to a store.
#include <string_view>

#include "meta/indexed_store.h"
#include "meta/metadata_store.h"
#include "meta/postgres_store.h"
#include "meta/sqlite_store.h"

namespace imgstore {

Result<std::unique_ptr<MetadataStore>> OpenMetadataStore(
    const std::string& url, const MetadataStoreOptions& options) {
  constexpr std::string_view kSqlite = "sqlite:";
  std::string_view text = url;
  if (text.starts_with(kSqlite)) {
    std::string path(text.substr(kSqlite.size()));
    if (path.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "metadata store URL sqlite: has no file path (want "
                  "sqlite:PATH)");
    }
    // Every connection of the pool would get its own empty database.
    if (path == ":memory:") {
      return Fail(ErrorCode::kInvalidArgument,
                  "metadata store URL sqlite::memory: is not supported: give "
                  "a file path");
    }
    auto store = SqliteStore::Open(path);
    if (!store) return Fail(store.error());
    if (!options.resolve_index) {
      return std::unique_ptr<MetadataStore>(*std::move(store));
    }
    // One tracker per SQLite file, so every write passes through this
    // process and the index stays exact (indexed_store.h).
    auto indexed = IndexedStore::Open(*std::move(store));
    if (!indexed) {
      return Fail(indexed.error().code, "open sqlite database " + path + ": " +
                                            indexed.error().message);
    }
    return std::unique_ptr<MetadataStore>(*std::move(indexed));
  }
  if (text.starts_with("postgresql://") || text.starts_with("postgres://")) {
    // libpq takes both spellings of the URI as they are. No resolve
    // index: other trackers write the same database behind this one's
    // back, so resolve uses the lean Locate query instead.
    auto store = PostgresStore::Open(url);
    if (!store) return Fail(store.error());
    return std::unique_ptr<MetadataStore>(*std::move(store));
  }
  // A bare file name: most likely meant as SQLite's.
  if (!text.empty() && text.find("://") == std::string_view::npos &&
      (text.starts_with("/") || text.starts_with(".") ||
       text.ends_with(".db") || text.find(':') == std::string_view::npos)) {
    return Fail(ErrorCode::kInvalidArgument,
                "metadata store URL '" + url +
                    "' has no scheme: write sqlite:" + url +
                    " for a SQLite file, or postgresql://USER@HOST:PORT/DB");
  }
  // Only the scheme is echoed: the rest of a mistyped PostgreSQL URL may
  // hold a password, and this message ends up in logs.
  std::string_view scheme = text.substr(0, text.find(':'));
  return Fail(ErrorCode::kInvalidArgument,
              "metadata store URL with scheme '" + std::string(scheme) +
                  "': expected sqlite:PATH or "
                  "postgresql://USER@HOST:PORT/DB");
}

std::string RedactStoreUrl(const std::string& url) {
  if (url.starts_with("sqlite:")) return url;
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "(unparsed url)";
  size_t start = scheme + 3;
  size_t at = url.find('@', start);
  size_t slash = url.find('/', start);
  if (at == std::string::npos || (slash != std::string::npos && at > slash)) {
    return url.substr(0, url.find('?'));
  }
  size_t colon = url.find(':', start);
  std::string out = url;
  if (colon != std::string::npos && colon < at) {
    out = url.substr(0, colon) + url.substr(at);
  }
  return out.substr(0, out.find('?'));
}

}  // namespace imgstore
