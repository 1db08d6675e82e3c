#include "app/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/server.h"
#include "http/client.h"

namespace imgstore {

namespace {

// "HOST:PORT" -> host, port, checked by CLI11 at parse time.
void AddListen(CLI::App& app, std::string& host, uint16_t& port,
               const std::string& fallback) {
  app.add_option_function<std::string>(
         "--listen",
         [&host, &port](const std::string& value) {
           size_t colon = value.rfind(':');
           if (colon == std::string::npos || colon + 1 == value.size()) {
             throw CLI::ValidationError("--listen",
                                        "expected HOST:PORT, got " + value);
           }
           int p = 0;
           try {
             p = std::stoi(value.substr(colon + 1));
           } catch (...) {
             p = -1;
           }
           if (p < 0 || p > 65535)
             throw CLI::ValidationError("--listen", "bad port in " + value);
           host = value.substr(0, colon);
           if (host.size() > 2 && host.front() == '[' && host.back() == ']')
             host = host.substr(1, host.size() - 2);  // [::1]:8080
           if (host.empty()) host = "0.0.0.0";
           port = uint16_t(p);
         },
         "address to listen on, HOST:PORT")
      ->default_str(fallback);
}

// Ten years: longer is a typo, and still fits every duration type used.
constexpr double kMaxSeconds = 315'360'000;

template <typename Rep>
void AddSeconds(CLI::App& app, const std::string& name,
                std::chrono::duration<Rep>& value, const std::string& help) {
  app.add_option_function<double>(
         name,
         [&value, name](double s) {
           // "nan" and "inf" parse as doubles; neither is a duration.
           if (!std::isfinite(s) || s <= 0 || s > kMaxSeconds)
             throw CLI::ValidationError(
                 name, fmt::format("must be a number of seconds above 0 and "
                                   "at most {}",
                                   kMaxSeconds));
           value = std::chrono::duration<Rep>(Rep(s));
         },
         help)
      ->default_str(std::to_string(value.count()));
}

// A number at least `min` (0 or 1), and at most `max`: CLI11's own checks
// name a range up to the largest double, three hundred digits long.
CLI::Validator AtLeast(int min, double max = HUGE_VAL) {
  return CLI::Validator(
      [min, max](std::string& value) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(value.c_str(), &end);
        if (value.empty() || *end != '\0' || !std::isfinite(v))
          return "expected a number, got '" + value + "'";
        if (v < min)
          return min == 0 ? "must be 0 or more" : "must be 1 or more";
        if (v > max) return fmt::format("must be at most {:.0f}", max);
        return {};
      },
      min == 0 ? "NUMBER >= 0" : "NUMBER >= 1");
}

// A number of type T from `min` to `max`, refused in plain words (CLI11's
// Range calls "two" out of range); `kind` names what is expected.
template <typename T>
CLI::Validator NumberBetween(T min, T max, const char* kind) {
  return CLI::Validator(
      [min, max, kind](std::string& value) -> std::string {
        T v = 0;
        const char* end = value.data() + value.size();
        auto [at, ec] = std::from_chars(value.data(), end, v);
        if (value.empty() || ec != std::errc() || at != end)
          return fmt::format("expected {}, got '{}'", kind, value);
        if (v < min || v > max)
          return fmt::format("must be from {} to {}", min, max);
        return {};
      },
      fmt::format("{}..{}", min, max));
}

}  // namespace

CLI::Validator Between(long long min, long long max) {
  return NumberBetween(min, max, "a whole number");
}

CLI::Validator BetweenReal(double min, double max) {
  return NumberBetween(min, max, "a number");
}

namespace {

// An http:// or https:// URL, checked with the other flags rather than at
// the first request.
CLI::Validator WebUrl() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        auto url = http::CheckRootUrl(value);
        return url ? std::string() : url.error().message;
      },
      "URL");
}

// A secret: an empty one would sign with no key at all.
CLI::Validator NotEmpty() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        return value.empty() ? "must not be empty" : std::string();
      },
      "TEXT");
}

}  // namespace

void AddNodeFlags(CLI::App& app, NodeOptions& o) {
  AddListen(app, o.host, o.port, "127.0.0.1:9001");
  app.add_option("--root", o.root, "directory of image files (PicRootPath)")
      ->required();
  app.add_option("--tracker", o.tracker_urls,
                 "tracker URL heartbeats go to (a balancer's; or several, "
                 "comma-separated or repeated, tried in turn)")
      ->envname("IMGSTORE_TRACKER")
      ->required()
      ->delimiter(',')
      ->check(WebUrl());
  app.add_option("--secret", o.secret, "cluster secret shared with trackers")
      ->envname("IMGSTORE_SECRET")
      ->required()
      ->check(NotEmpty());
  app.add_option("--name", o.name, "server name (default node-PORT)")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            auto name = CheckServerName(value);
            return name ? std::string() : name.error().message;
          },
          "NAME"));
  app.add_option("--public-url", o.public_url,
                 "root URL browsers use (default http://LISTEN); https:// "
                 "when a TLS proxy is in front")
      ->check(WebUrl());
  app.add_option("--internal-url", o.internal_url,
                 "URL trackers store and delete at, when not --public-url "
                 "(default with an https --public-url: http://LISTEN)")
      ->check(WebUrl());
  app.add_option("--max-pics", o.max_pics, "most images this node holds")
      ->capture_default_str()
      ->check(AtLeast(1, double(kMaxPicAmount)));
  app.add_option("--disk-reserve", o.disk_reserve_bytes,
                 "bytes kept free: writes are refused (507) below it")
      ->capture_default_str()
      ->check(AtLeast(0));
  AddSeconds(app, "--heartbeat", o.heartbeat_interval,
             "seconds between heartbeats");
  app.add_option("--max-upload-bytes", o.max_body_bytes,
                 "largest image a tracker may store here (keep it at least "
                 "the trackers' --max-upload-bytes)")
      ->capture_default_str()
      ->check(AtLeast(1));
  app.add_option("--io-threads", o.io_threads, "threads serving sockets")
      ->capture_default_str()
      ->check(Between(1, 64));
  app.add_option("--scrub-rate", o.scrub_rate_bytes_per_s,
                 "bytes per second the integrity scrub reads at most (0: no "
                 "scrub)")
      ->capture_default_str()
      // An unsigned option takes "-1" as 2^64 - 1: refuse it by hand.
      ->check(CLI::Validator(
          [](const std::string& v) {
            return v.find('-') == std::string::npos
                       ? std::string()
                       : std::string("must not be negative");
          },
          ""));
  AddSeconds(app, "--scrub-interval", o.scrub_interval,
             "seconds to pause after a full scrub pass");
}

void AddTrackerFlags(CLI::App& app, TrackerOptions& o) {
  AddListen(app, o.host, o.port, "127.0.0.1:8080");
  app.add_option(
         "--db", o.db_url,
         "metadata store: sqlite:PATH or postgresql://USER@HOST:PORT/DB")
      ->capture_default_str();
  app.add_option("--secret", o.secret, "cluster secret shared with nodes")
      ->envname("IMGSTORE_SECRET")
      ->required()
      ->check(NotEmpty());
  app.add_option_function<std::string>(
         "--resolve-index",
         [&o](const std::string& v) { o.resolve_index = v == "on"; },
         "SQLite only: keep every image's copies in memory for resolve "
         "(~65 bytes an image; the tracker must be the file's only writer)")
      ->check(CLI::IsMember({"on", "off"}))
      ->default_str("on");
  app.add_option("--public-url", o.public_url,
                 "root URL of this tracker (default http://LISTEN)")
      ->check(WebUrl());
  app.add_option_function<std::string>(
         "--placement",
         [&o](const std::string& v) {
           o.placement = v == "random" ? PlacementPolicy::kRandom
                                       : PlacementPolicy::kWeighted;
         },
         "server choice for uploads: weighted or random")
      ->check(CLI::IsMember({"weighted", "random"}))
      ->default_str("weighted");
  app.add_option("--replicas", o.replicas,
                 "copies of each image on distinct servers (with fewer usable "
                 "servers, uploads store what they can; repair adds the rest)")
      ->capture_default_str()
      ->check(Between(1, 16));
  AddSeconds(app, "--repair-grace", o.repair_grace,
             "seconds a server may be unusable before its images are copied "
             "elsewhere");
  app.add_option("--repair-concurrency", o.repair_concurrency,
                 "images repaired, drained or moved at once")
      ->capture_default_str()
      ->check(Between(1, 64));
  app.add_option("--repair-rate", o.repair_bytes_per_second,
                 "bytes per second repair, drain and rebalance may copy (0: "
                 "unlimited)")
      ->capture_default_str()
      ->check(AtLeast(0));
  app.add_option("--default-image", o.default_image_path,
                 "image served for images whose servers are all down (default "
                 "built in)")
      ->check(CLI::ExistingFile);
  app.add_option("--admin-token", o.admin_token,
                 "token for admin endpoints (none: open)")
      ->envname("IMGSTORE_ADMIN_TOKEN")
      // An empty token would open the admin API while looking set.
      ->check(CLI::Validator(
          [](const std::string& v) {
            return v.empty() ? std::string(
                                   "must not be empty (leave it out "
                                   "for an open admin API)")
                             : std::string();
          },
          ""));
  AddSeconds(app, "--heartbeat-timeout", o.heartbeat_timeout,
             "seconds without a heartbeat before a server is unusable");
  app.add_option("--max-upload-bytes", o.max_upload_bytes,
                 "largest upload body")
      ->capture_default_str()
      ->check(AtLeast(1));
  app.add_option("--upload-memory", o.upload_memory,
                 "upload bodies held in memory at once; past it uploads get "
                 "503 with Retry-After (0: 16 x --max-upload-bytes)")
      ->capture_default_str()
      ->check(AtLeast(0));
  app.add_option("--max-pixels", o.max_pixels, "largest image, width x height")
      ->capture_default_str()
      ->check(AtLeast(1));
  app.add_option("--disk-reserve", o.disk_reserve_bytes,
                 "servers with less free disk than this get no new images")
      ->capture_default_str()
      ->check(AtLeast(0));
  app.add_option(
         "--workers", o.worker_threads,
         "threads for uploads and queries (default: 8 per core, at least 16)")
      ->capture_default_str()
      ->check(Between(1, 512));
}

void AddClientFlags(CLI::App& app, ClientOptions& o) {
  app.add_option("--tracker", o.tracker_url, "tracker URL")
      ->envname("IMGSTORE_TRACKER")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            // A node's list of trackers, copied into a client's config.
            return value.find(',') == std::string::npos
                       ? std::string()
                       : "a client talks to one tracker: give one URL (a "
                         "balancer's, or any tracker's)";
          },
          ""))
      ->check(WebUrl());
  app.add_option("--admin-token", o.admin_token, "admin token")
      ->envname("IMGSTORE_ADMIN_TOKEN");
}

Result<ExpandedArgs> ExpandConfig(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  std::string file;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) {
      file = args[i + 1];
      args.erase(args.begin() + long(i), args.begin() + long(i) + 2);
      break;
    }
    if (args[i].rfind("--config=", 0) == 0) {
      file = args[i].substr(9);
      args.erase(args.begin() + long(i));
      break;
    }
  }
  if (file.empty()) return ExpandedArgs{std::move(args), {}, {}};
  // toml++ says "could not be opened (line 0)" for any reason; the system's
  // reason is the one to give. A directory opens, and reads as nothing.
  if (std::error_code ec; std::filesystem::is_directory(file, ec)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("config {}: is a directory", file));
  }
  if (std::FILE* f = std::fopen(file.c_str(), "r")) {
    std::fclose(f);
  } else {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("config {}: {}", file, std::strerror(errno)));
  }
  toml::table table;
  try {
    table = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("config {}: {} (line {})", file, e.description(),
                            e.source().begin.line));
  }
  // Config flags go right after the subcommand name (args[1]) so that the
  // command line's own flags, later, take precedence.
  // A --config before the subcommand's name still means the subcommand's.
  size_t insert = std::min<size_t>(2, args.size());
  std::vector<std::string> flags;
  std::vector<std::string> names;
  for (const auto& [key, value] : table) {
    // By the value's own type: toml++'s value<T>() would read `true` as 1,
    // and `replicas = true` would mean one copy.
    std::string text;
    if (auto s = value.value_exact<std::string>()) {
      text = *s;
    } else if (auto i = value.value_exact<int64_t>()) {
      text = std::to_string(*i);
    } else if (auto d = value.value_exact<double>()) {
      text = fmt::format("{}", *d);
    } else if (auto b = value.value_exact<bool>()) {
      text = *b ? "true" : "false";
    } else if (const toml::array* list = value.as_array();
               list != nullptr && !list->empty() &&
               list->is_homogeneous(toml::node_type::string)) {
      // tracker = ["http://a:8080", "http://b:8080"], as --tracker a,b.
      for (const toml::node& item : *list) {
        if (!text.empty()) text += ',';
        text += *item.value_exact<std::string>();
      }
    } else if (value.is_table()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("config {}: [{}]: sections are not read; one "
                              "file per command, its keys at the top",
                              file, std::string(key.str())));
    } else {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("config {}: {} must be a string, number, "
                              "boolean or list of strings",
                              file, key.str()));
    }
    // admin_token reads as admin-token: TOML keys are often snake case.
    std::string name(key.str());
    std::replace(name.begin(), name.end(), '_', '-');
    flags.push_back(fmt::format("--{}={}", name, text));
    names.push_back("--" + name);
  }
  args.insert(args.begin() + long(insert), flags.begin(), flags.end());
  return ExpandedArgs{std::move(args), std::move(file), std::move(names)};
}

}  // namespace imgstore
