// imgstore: one binary, one table of subcommands (SPEC §1). Each row adds
// its flags and returns what to run once they are parsed.
#include <malloc.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string_view>

#include "app/config.h"
#include "app/demo.h"

namespace imgstore {
namespace {

using Run = std::function<int()>;

struct Command {
  const char* name;
  const char* help;
  std::function<Run(CLI::App&)> add;
};

// Options live here for the process's life; each command binds to its own.
NodeOptions node_options;
TrackerOptions tracker_options;
DemoOptions demo_options;

// Each client command binds its own options too: CLI11 also fills the
// options of the commands not run from the environment, and shared storage
// would let those overwrite a flag given to the one that runs.
ClientOptions& ClientFlags(CLI::App& app) {
  static std::deque<ClientOptions> all;  // one per command; stable addresses
  ClientOptions& options = all.emplace_back();
  AddClientFlags(app, options);
  return options;
}

int Report(const Error& error) {
  std::fprintf(stderr, "imgstore: %s\n", error.message.c_str());
  return 1;
}

// Daemons hold a descriptor per connection, and a node one per cached open
// image: the soft limit (often 1024) is raised to the hard one, as a
// daemon's unit would with LimitNOFILE. The node sizes its cache by it.
//
// Request bodies of 4 MiB and more are mapped and unmapped by themselves:
// glibc would otherwise raise its mapping threshold to the largest body
// freed, keep the next ones in its heaps, and a burst of large uploads
// would leave the daemon holding that memory for good.
void SetUpDaemon() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
  (void)::mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
}

Run NodeCommand(CLI::App& app) {
  AddNodeFlags(app, node_options);
  return [] {
    SetUpDaemon();
    auto node = Node::Start(node_options);
    if (!node) return Report(node.error());
    (*node)->Run();
    return 0;
  };
}

Run TrackerCommand(CLI::App& app) {
  AddTrackerFlags(app, tracker_options);
  return [] {
    SetUpDaemon();
    auto tracker = Tracker::Start(tracker_options);
    if (!tracker) return Report(tracker.error());
    (*tracker)->Run();
    return 0;
  };
}

Run DemoCommand(CLI::App& app) {
  app.add_option("--port", demo_options.port, "tracker port")
      ->capture_default_str()
      ->check(Between(1, 65535).description(""));
  app.add_option("--nodes", demo_options.nodes, "number of nodes")
      ->capture_default_str()
      ->check(Between(1, 32));
  app.add_option("--dir", demo_options.dir, "state directory")
      ->capture_default_str();
  return [] { return RunDemo(demo_options); };
}

Run UploadCommand(CLI::App& app) {
  ClientOptions& client = ClientFlags(app);
  static std::vector<std::string> files;
  static bool json = false;
  app.add_option("FILE", files, "image files")->required();
  app.add_flag("--json", json, "print one JSON object per file");
  return [&client] { return RunUpload(client, files, json); };
}

Run ImportCommand(CLI::App& app) {
  ClientOptions& client = ClientFlags(app);
  static std::string dir;
  static int jobs = 8;
  app.add_option("DIR", dir, "directory tree of images")
      ->required()
      ->check(CLI::Validator(
          [](const std::string& v) {
            std::error_code ec;
            if (std::filesystem::is_directory(v, ec)) return std::string();
            return std::filesystem::exists(v, ec) ? v + " is not a directory"
                                                  : v + ": no such directory";
          },
          ""));
  app.add_option("-j,--jobs", jobs, "uploads in parallel")
      ->capture_default_str()
      ->check(Between(1, 256));
  static bool json = false;
  app.add_flag("--json", json,
               "print one JSON object per file: its status (imported, "
               "already, skipped, failed) and image id");
  return [&client] { return RunImport(client, dir, jobs, json); };
}

Run GetCommand(CLI::App& app) {
  ClientOptions& client = ClientFlags(app);
  static std::string id, out;
  app.add_option("ID", id, "image id")->required();
  app.add_option("-o,--output", out, "file to write (default: stdout)");
  return [&client] { return RunGet(client, id, out); };
}

Run RmCommand(CLI::App& app) {
  ClientOptions& client = ClientFlags(app);
  static std::vector<std::string> ids;
  app.add_option("ID", ids, "image ids")->required();
  return [&client] { return RunRm(client, ids); };
}

Run StatsCommand(CLI::App& app) {
  ClientOptions& client = ClientFlags(app);
  return [&client] { return RunStats(client); };
}

Run ServersCommand(CLI::App& app) {
  ClientOptions& client = ClientFlags(app);
  static std::string verb = "list", arg;
  app.add_option(
         "VERB", verb,
         "list | add URL | drain ID | disable ID | enable ID | remove ID")
      ->check(CLI::IsMember(
          {"list", "add", "drain", "disable", "enable", "remove"}));
  app.add_option("ARG", arg, "URL (add) or server id");
  static bool wait = false;
  app.add_flag("--wait", wait,
               "drain: show progress until the server holds no images");
  return [&client] { return RunServers(client, verb, arg, wait); };
}

Run RebalanceCommand(CLI::App& app) {
  ClientOptions& client = ClientFlags(app);
  static double spread = 0.05;
  static bool wait = false, stop = false;
  app.add_option("--spread", spread,
                 "largest allowed gap between the fullest and the emptiest "
                 "server's fill ratio, as a share of the mean fill")
      ->capture_default_str()
      ->check(BetweenReal(0.0, 0.99));
  app.add_flag("--wait", wait, "show progress until done");
  app.add_flag("--stop", stop, "cancel a running rebalance");
  return [&client] { return RunRebalance(client, spread, wait, stop); };
}

Run FsckCommand(CLI::App& app) {
  ClientOptions& client = ClientFlags(app);
  static bool fix = false;
  static int64_t min_age = 3600;
  app.add_flag("--fix", fix,
               "delete orphan files and forget missing copies (their images "
               "are repaired from other copies)");
  app.add_option("--min-age", min_age,
                 "seconds a file must exist before it counts as an orphan")
      ->capture_default_str()
      ->check(Between(0, 1LL << 40));
  return [&client] { return RunFsck(client, fix, min_age); };
}

const Command kCommands[] = {
    {"node", "run an image server", NodeCommand},
    {"tracker",
     "run a tracker (metadata, placement, upload and resolve API, pages)",
     TrackerCommand},
    {"demo", "run a tracker and 3 nodes on 127.0.0.1 with SQLite", DemoCommand},
    {"upload", "upload image files; prints ID URL per file", UploadCommand},
    {"import", "upload a directory tree, skipping what is already stored",
     ImportCommand},
    {"get", "download an image", GetCommand},
    {"rm", "delete images", RmCommand},
    {"stats", "cluster totals", StatsCommand},
    {"servers", "list and manage image servers", ServersCommand},
    {"rebalance", "move images from the fullest servers to the emptiest",
     RebalanceCommand},
    {"fsck", "find (and fix) orphan files and missing copies", FsckCommand},
};

// Whether CLI11's message names `flag` itself ("--heartbeat"), not a
// longer one it begins ("--heartbeat-timeout").
bool MentionsFlag(std::string_view message, std::string_view flag) {
  for (size_t at = message.find(flag); at != std::string_view::npos;
       at = message.find(flag, at + 1)) {
    const size_t end = at + flag.size();
    if (end == message.size() ||
        !(std::isalnum(static_cast<unsigned char>(message[end])) ||
          message[end] == '-' || message[end] == '_'))
      return true;
  }
  return false;
}

}  // namespace
}  // namespace imgstore

int main(int argc, char** argv) {
  using namespace imgstore;
  auto expanded = ExpandConfig(argc, argv);
  if (!expanded) {
    Report(expanded.error());
    return 2;  // a usage error, as a bad flag
  }
  std::vector<std::string>& args = expanded->args;
  // `imgstore help [COMMAND]`, as git and most tools take it.
  if (args.size() >= 2 && args[1] == "help") {
    args.erase(args.begin() + 1);
    args.push_back("--help");
  }

  CLI::App app{
      "imgstore: distributed image storage and load balancing for web sites"};
  app.set_version_flag("--version", "imgstore " IMGSTORE_VERSION);
  app.require_subcommand(1);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--config",
                 "TOML file of flags (keys are flag names without the leading "
                 "dashes)");
  Run run;
  for (const Command& c : kCommands) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    sub->add_option(
        "--config",
        "TOML file of flags (keys are flag names without the leading "
        "dashes)");
    sub->set_version_flag("--version", "imgstore " IMGSTORE_VERSION);
    Run r = c.add(*sub);
    sub->callback([r, &run] { run = r; });
  }
  // CLI11 2.1 reads the environment for every command's options, not only
  // the one run: one command's IMGSTORE_TRACKER check would fail another
  // that gets its tracker from the command line. Only the command named
  // keeps its variables.
  std::string named;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--config") {
      ++i;
      continue;
    }
    const bool command =
        std::any_of(std::begin(kCommands), std::end(kCommands),
                    [&](const Command& c) { return args[i] == c.name; });
    if (command) {
      named = args[i];
      break;
    }
  }
  for (CLI::App* sub : app.get_subcommands(nullptr)) {
    if (sub->get_name() == named) continue;
    for (CLI::Option* opt : sub->get_options()) opt->envname("");
  }
  demo_options.self = "/proc/self/exe";
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  try {
    app.parse(int(cargs.size()), cargs.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // A flag nobody knows is the mistake to name first, before a missing
    // required one (which CLI11 checks earlier).
    const std::vector<std::string> extras = app.remaining(/*recurse=*/true);
    for (const std::string& extra : extras) {
      if (extra.size() > 1 && extra[0] == '-') {
        const std::string flag = extra.substr(0, extra.find('='));
        const auto& from_config = expanded->config_flags;
        if (std::find(from_config.begin(), from_config.end(), flag) !=
            from_config.end()) {
          std::fprintf(stderr,
                       "imgstore: config %s: unknown key %s for this command "
                       "(see --help)\n",
                       expanded->config_file.c_str(), flag.c_str() + 2);
        } else {
          std::fprintf(stderr, "imgstore: unknown flag %s (see --help)\n",
                       flag.c_str());
        }
        return 2;
      }
    }
    if (app.get_subcommands().empty() && !extras.empty()) {
      std::fprintf(stderr,
                   "imgstore: unknown command %s (see imgstore --help)\n",
                   extras.front().c_str());
      return 2;
    }
    if (app.get_subcommands().empty()) {
      std::string names;
      for (const Command& c : kCommands)
        names += std::string(names.empty() ? "" : ", ") + c.name;
      std::fprintf(stderr,
                   "imgstore: no command given: one of %s (see imgstore "
                   "--help)\n",
                   names.c_str());
      return 2;
    }
    // An argument too many: CLI11's words name neither it nor the command.
    if (!extras.empty()) {
      const std::string command = app.get_subcommands().front()->get_name();
      std::fprintf(stderr,
                   "imgstore: %s: unexpected argument %s (see imgstore %s "
                   "--help)\n",
                   command.c_str(), extras.front().c_str(), command.c_str());
      return 2;
    }
    std::string what = e.what();
    // CLI11's "Could not convert: --heartbeat = two", in the words of the
    // other refusals (every flag that can fail to convert is a number).
    constexpr std::string_view kConvert = "Could not convert: ";
    if (const size_t eq = what.find(" = ");
        what.starts_with(kConvert) && eq != std::string::npos) {
      what = what.substr(kConvert.size(), eq - kConvert.size()) +
             ": expected a number, got '" + what.substr(eq + 3) + "'";
    }
    // A bad value from the environment is named by its variable.
    for (CLI::App* sub : app.get_subcommands()) {
      for (const CLI::Option* opt : sub->get_options()) {
        const std::string flag = opt->get_name();
        const bool given =
            std::any_of(args.begin(), args.end(), [&](const std::string& a) {
              return a == flag || a.starts_with(flag + "=");
            });
        const std::string& env = opt->get_envname();
        if (!env.empty() && !given && what.starts_with(flag + ":")) {
          what = env + what.substr(flag.size());
        }
        // A missing value that the environment could have given says so:
        // an EnvironmentFile that did not load looks just like this.
        if (!env.empty() && what == flag + " is required") {
          what += std::getenv(env.c_str()) != nullptr
                      ? " (" + env + " is set but empty)"
                      : " (or set " + env + ")";
        }
      }
    }
    // So is a bad value from the config file, by its file: a flag the file
    // gave and the command line did not (its copy is the only one).
    for (const std::string& flag : expanded->config_flags) {
      const auto uses =
          std::count_if(args.begin(), args.end(), [&](const std::string& a) {
            return a == flag || a.starts_with(flag + "=");
          });
      if (uses == 1 && MentionsFlag(what, flag)) {
        what = "config " + expanded->config_file + ": " + what;
        break;
      }
    }
    std::fprintf(stderr, "imgstore: %s\n", what.c_str());
    return 2;
  }
  // The log is standard error (docs/OPERATIONS.md): standard output is
  // what a command prints for its user (ids, URLs, JSON lines).
  spdlog::set_default_logger(spdlog::stderr_color_mt("imgstore"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  return run ? run() : 1;
}
