#pragma once

#include <cstdint>
#include <string>

namespace imgstore {

struct DemoOptions {
  uint16_t port = 8080;  // the tracker's; nodes take the next ports
  int nodes = 3;
  std::string dir = "imgstore-demo";
  std::string self;  // path of this binary, to start children
};

// `imgstore demo`: a tracker and `nodes` nodes on 127.0.0.1 as child
// processes with SQLite under `dir`; prints the site URL and admin token;
// on Ctrl-C or SIGTERM stops every child it started, by pid. Returns the
// exit code.
int RunDemo(const DemoOptions& options);

}  // namespace imgstore
