#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "client/commands.h"
#include "node/node.h"
#include "tracker/tracker.h"

namespace imgstore {

// Flags of each subcommand, bound to its options struct. Defaults shown by
// --help are the options structs' own member initialisers.
void AddNodeFlags(CLI::App& app, NodeOptions& options);
void AddTrackerFlags(CLI::App& app, TrackerOptions& options);
void AddClientFlags(CLI::App& app, ClientOptions& options);

// Checks a whole number from `min` to `max`, with a message that says so.
CLI::Validator Between(long long min, long long max);
// A number (a fraction, say) from `min` to `max`, with a plain refusal.
CLI::Validator BetweenReal(double min, double max);

// Expands `--config FILE` (a flat TOML table whose keys are flag names
// without dashes) into flags placed before the command line's own, so flags
// given on the command line win. Returns the new argument list, or a
// one-line error.
struct ExpandedArgs {
  std::vector<std::string> args;
  std::string config_file;                // empty: no --config
  std::vector<std::string> config_flags;  // "--name" of each key it set
};
Result<ExpandedArgs> ExpandConfig(int argc, char** argv);

}  // namespace imgstore
