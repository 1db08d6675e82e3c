#include "http/metrics.h"

#include <gtest/gtest.h>

namespace imgstore::http {
namespace {

TEST(MetricsTest, CountersAndGaugesAreTypedAsTheyBehave) {
  Metrics m("x");
  m.AddGauge("backlog", "Now.", [] { return 3.0; });
  m.AddCounter("moves_total", "Ever.", [] { return 7.0; });
  m.AddCounter("seconds_total", "By stage.",
               {{"stage=\"a\"", [] { return 1.5; }}});
  m.Counter("files_total", "Counted.").fetch_add(2);
  const std::string out = m.Render();
  for (std::string_view want :
       {"# TYPE x_backlog gauge\nx_backlog 3\n",
        "# TYPE x_moves_total counter\nx_moves_total 7\n",
        "# TYPE x_seconds_total counter\nx_seconds_total{stage=\"a\"} 1.5\n",
        "# TYPE x_files_total counter\nx_files_total 2\n",
        "# TYPE x_http_requests_total counter\n"}) {
    EXPECT_NE(out.find(want), std::string::npos) << want << "\nin:\n" << out;
  }
}

}  // namespace
}  // namespace imgstore::http
