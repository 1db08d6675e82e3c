#include "http/router.h"

#include <gtest/gtest.h>

namespace imgstore::http {
namespace {

Response Nothing(const Request&) { return {}; }

TEST(RouterTest, MatchesAndDecides404And405) {
  using beast_http::verb;
  Router router({{verb::get, "/v1/images/{}", Dispatch::kInline, Nothing},
                 {verb::delete_, "/v1/images/{}", Dispatch::kInline, Nothing},
                 {verb::get, "/{}/{}/{}", Dispatch::kInline, Nothing},
                 {verb::get, "/", Dispatch::kInline, Nothing}});
  auto m = router.Find(verb::get, "/v1/images/abc");
  ASSERT_NE(m.route, nullptr);
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0], "abc");
  EXPECT_NE(router.Find(verb::head, "/v1/images/abc").route, nullptr);
  EXPECT_NE(router.Find(verb::get, "/").route, nullptr);
  auto not_allowed = router.Find(verb::post, "/v1/images/abc");
  EXPECT_EQ(not_allowed.route, nullptr);
  EXPECT_EQ(not_allowed.status, beast_http::status::method_not_allowed);
  EXPECT_NE(not_allowed.allow.find("DELETE"), std::string::npos);
  for (const char* p :
       {"/v1/images/", "/v1/images", "/v1/images/a/b", "", "v1", "/x/y/z/w"}) {
    auto miss = router.Find(verb::get, p);
    EXPECT_EQ(miss.route, nullptr) << p;
    EXPECT_EQ(miss.status, beast_http::status::not_found) << p;
  }
}

}  // namespace
}  // namespace imgstore::http
