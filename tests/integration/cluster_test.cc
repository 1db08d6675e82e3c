// A tracker and nodes as real processes on 127.0.0.1 (SPEC §3, §4, §6).
#include "testing/cluster.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/hex.h"
#include "core/image_id.h"

namespace imgstore::testing {
namespace {

using nlohmann::json;

json Parse(const std::string& body) {
  return json::parse(body, nullptr, false);
}

int64_t TotalImages(Cluster& c) {
  return c.Servers()["totals"]["images"].get<int64_t>();
}

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new Cluster(
        {.nodes = 3, .tracker_args = {"--max-upload-bytes", "1048576"}});
  }
  static void TearDownTestSuite() { delete cluster_; }
  static Cluster& c() { return *cluster_; }
  static Cluster* cluster_;
};
Cluster* ClusterTest::cluster_ = nullptr;

TEST_F(ClusterTest, UploadsEveryFormatAndServesIdenticalBytes) {
  struct Case {
    const char* file;
    const char* type;
  } cases[] = {{"small.jpg", "image/jpeg"},  {"small.png", "image/png"},
               {"small.gif", "image/gif"},   {"small.webp", "image/webp"},
               {"small.avif", "image/avif"}, {"small.heic", "image/heic"}};
  for (const Case& k : cases) {
    const std::string bytes = TestData(k.file);
    auto r = c().Upload(bytes, k.type);
    ASSERT_EQ(r.status, 201u) << k.file << r.body;
    json j = Parse(r.body);
    EXPECT_EQ(j["content_type"], k.type);
    EXPECT_EQ(j["bytes"], bytes.size());
    EXPECT_EQ(j["width"], 64);
    EXPECT_EQ(j["height"], 48);
    EXPECT_EQ(j["sha256"], Sha256Hex(bytes));
    ASSERT_EQ(j["replicas"].size(), 1u);
    const std::string id = j["id"];
    EXPECT_LE(id.size(), 32u);
    EXPECT_EQ(r.Header("Location"), "/v1/images/" + id);
    auto got = Get(j["url"].get<std::string>());
    EXPECT_EQ(got.status, 200u);
    EXPECT_EQ(got.body, bytes) << "byte-identical from the returned URL";
  }
}

TEST_F(ClusterTest, MultipartUpload) {
  const std::string bytes = TestData("small.png");
  const std::string body =
      "--b0undary\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"x.png\"\r\n"
      "Content-Type: image/png\r\n\r\n" +
      bytes + "\r\n--b0undary--\r\n";
  auto r = Send("POST", c().tracker_url() + "/v1/images", body,
                {{"Content-Type", "multipart/form-data; boundary=b0undary"}});
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(Get(Parse(r.body)["url"].get<std::string>()).body, bytes);
  // Media types are case-insensitive.
  r = Send("POST", c().tracker_url() + "/v1/images", body,
           {{"Content-Type", "Multipart/Form-Data; boundary=b0undary"}});
  EXPECT_EQ(r.status, 201u) << r.body;
  r = Send("POST", c().tracker_url() + "/v1/images", bytes,
           {{"Content-Type", "IMAGE/PNG"}});
  EXPECT_EQ(r.status, 201u) << r.body;
  // The limit (1 MiB here) is the file's, in a form as in a raw body.
  auto form = [&](size_t file_bytes) {
    std::string file = bytes + "form-limit";
    file.resize(file_bytes, 'x');
    return Send("POST", c().tracker_url() + "/v1/images",
                "--b0undary\r\nContent-Disposition: form-data; "
                "name=\"file\"; filename=\"x.png\"\r\n\r\n" +
                    file + "\r\n--b0undary--\r\n",
                {{"Content-Type", "multipart/form-data; boundary=b0undary"}});
  };
  auto at_limit = form(1 << 20);
  EXPECT_EQ(at_limit.status, 201u) << at_limit.body;
  EXPECT_EQ(Parse(at_limit.body)["bytes"], 1 << 20);
  auto over = form((1 << 20) + 1);
  EXPECT_EQ(over.status, 413u) << over.body;
  EXPECT_NE(over.body.find("file of 1048577 bytes is over the limit of "
                           "1048576"),
            std::string::npos)
      << over.body;
}

// Every image, page by page: each page names the next, none is missed or
// listed twice, the last says there is no more.
TEST_F(ClusterTest, ListsEveryImageByCursor) {
  std::set<std::string> uploaded;
  for (int i = 0; i < 5; ++i) {
    auto r = c().Upload(TestData("small.png"), "image/png");
    ASSERT_EQ(r.status, 201u);
    uploaded.insert(Parse(r.body)["id"].get<std::string>());
  }
  std::vector<std::string> listed;
  std::string after;
  for (int pages = 0; pages < 1000; ++pages) {
    auto r = Get(c().tracker_url() + "/v1/images?limit=2&after=" + after,
                 c().AdminHeaders());
    ASSERT_EQ(r.status, 200u) << r.body;
    const json page = Parse(r.body);
    ASSERT_LE(page["images"].size(), 2u);
    for (const json& image : page["images"])
      listed.push_back(image["id"].get<std::string>());
    if (page["next"].is_null()) break;
    after = page["next"].get<std::string>();
    EXPECT_EQ(after, listed.back());
  }
  EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end()));
  const std::set<std::string> unique(listed.begin(), listed.end());
  EXPECT_EQ(unique.size(), listed.size()) << "none twice";
  EXPECT_EQ(int64_t(listed.size()), TotalImages(c()));
  for (const std::string& id : uploaded) EXPECT_EQ(unique.count(id), 1u) << id;
}

TEST_F(ClusterTest, IdenticalBytesAreDistinctImages) {
  const std::string bytes = TestData("small.webp");
  json a = Parse(c().Upload(bytes, "image/webp").body);
  json b = Parse(c().Upload(bytes, "image/webp").body);
  ASSERT_NE(a["id"], b["id"]);
  auto found = Parse(
      Get(c().tracker_url() + "/v1/images?sha256=" + Sha256Hex(bytes)).body);
  std::set<std::string> ids;
  for (auto& id : found["ids"]) ids.insert(id);
  EXPECT_TRUE(ids.count(a["id"]) && ids.count(b["id"]));
  // The digest in upper case is the same digest.
  std::string upper = Sha256Hex(bytes);
  for (char& ch : upper)
    ch = char(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_EQ(Parse(Get(c().tracker_url() + "/v1/images?sha256=" + upper).body),
            found);
  // Deleting one leaves the other.
  auto del = Send(
      "DELETE", c().tracker_url() + "/v1/images/" + a["id"].get<std::string>(),
      "", c().AdminHeaders());
  EXPECT_EQ(del.status, 204u);
  EXPECT_EQ(Get(b["url"].get<std::string>()).body, bytes);
}

TEST_F(ClusterTest, ResolveAndRedirect) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(
        Parse(c().Upload(TestData("small.jpg"), "image/jpeg").body)["id"]);
  }
  json req = {{"ids",
               {ids[0], ids[1], ids[2], ids[3], ids[4],
                "AAAAAAAAAAAAAAAAAAAAAA", "bad!", "AAAAAAAAAAAAAAAAAAAAAA"}}};
  auto r = Send("POST", c().tracker_url() + "/v1/resolve", req.dump());
  ASSERT_EQ(r.status, 200u) << r.body;
  json j = Parse(r.body);
  for (const auto& id : ids) {
    ASSERT_TRUE(j["images"].contains(id));
    EXPECT_TRUE(j["images"][id]["available"].get<bool>());
    EXPECT_EQ(Get(j["images"][id]["url"].get<std::string>()).status, 200u);
  }
  EXPECT_EQ(j["missing"].size(), 2u) << "each unknown id once: " << r.body;

  auto redirect = Get(c().tracker_url() + "/i/" + ids[0]);
  EXPECT_EQ(redirect.status, 302u);
  EXPECT_EQ(redirect.Header("Location"), j["images"][ids[0]]["url"]);
  EXPECT_NE(redirect.Header("Cache-Control").find("max-age"),
            std::string::npos);
  EXPECT_EQ(redirect.Header("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(Get(c().tracker_url() + "/i/AAAAAAAAAAAAAAAAAAAAAA").status, 404u);

  auto meta = Parse(Get(c().tracker_url() + "/v1/images/" + ids[1]).body);
  EXPECT_EQ(meta["id"], ids[1]);
  EXPECT_TRUE(meta["available"].get<bool>());
  ASSERT_EQ(meta["replicas"].size(), 1u);
  EXPECT_TRUE(meta["replicas"][0]["usable"].get<bool>());
  auto unknown = Get(c().tracker_url() + "/v1/images/AAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(Parse(unknown.body)["error"]["message"], "no such image");
}

TEST_F(ClusterTest, DeleteRemovesEveryCopyAndNeedsTheToken) {
  json j = Parse(c().Upload(TestData("small.gif"), "image/gif").body);
  const std::string id = j["id"], url = j["url"];
  const std::string target = c().tracker_url() + "/v1/images/" + id;
  EXPECT_EQ(Send("DELETE", target, "").status, 401u);
  EXPECT_EQ(
      Send("DELETE", target, "", {{"Authorization", "Bearer nope"}}).status,
      403u);
  EXPECT_EQ(Get(url).status, 200u);
  auto admin = c().AdminHeaders();
  ASSERT_EQ(admin.at(0).second.rfind("Bearer ", 0), 0u);
  admin[0].second.replace(0, 6, "bearer");  // the scheme in any case
  EXPECT_EQ(Send("DELETE", target, "", admin).status, 204u);
  EXPECT_EQ(Get(url).status, 404u);
  EXPECT_EQ(Get(target).status, 404u);
  EXPECT_EQ(Send("DELETE", target, "", c().AdminHeaders()).status, 404u);
}

TEST_F(ClusterTest, BadInputIsRefusedAndChangesNothing) {
  const int64_t before = TotalImages(c());
  struct Case {
    const char* what;
    std::string body, type;
    unsigned status;
  } cases[] = {
      {"text", TestData("text.txt"), "image/jpeg", 415},
      {"svg", TestData("evil.svg"), "image/svg+xml", 415},
      {"text type", TestData("small.jpg"), "text/plain", 415},
      {"text, no type", TestData("text.txt"), "", 415},
      {"truncated jpeg", TestData("truncated.jpg"), "image/jpeg", 422},
      {"png bomb", TestData("bomb.png"), "image/png", 422},
      {"empty", "", "image/png", 400},
      {"oversized", std::string(2 << 20, 'x'), "image/jpeg", 413},
  };
  for (const Case& k : cases) {
    auto r = c().Upload(k.body, k.type);
    EXPECT_EQ(r.status, k.status) << k.what << ": " << r.body;
    json j = Parse(r.body);
    ASSERT_TRUE(j.is_object() && j.contains("error"))
        << k.what << ": " << r.body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  }
  EXPECT_EQ(Send("POST", c().tracker_url() + "/v1/resolve", "{not json").status,
            400u);
  EXPECT_EQ(
      Send("POST", c().tracker_url() + "/v1/resolve", "{\"ids\": 5}").status,
      400u);
  EXPECT_EQ(Get(c().tracker_url() + "/v1/servers").status, 401u);
  EXPECT_EQ(
      Get(c().tracker_url() + "/v1/servers", {{"Authorization", "Bearer x"}})
          .status,
      403u);
  EXPECT_EQ(Get(c().tracker_url() + "/v1/images?sha256=xyz").status, 400u);
  EXPECT_EQ(Get(c().tracker_url() + "/v1/images?sha256=").status, 400u);
  for (const char* query :
       {"limit=0", "limit=-1", "limit=abc", "limit=2.9", "offset=-5",
        "offset=abc", "after=bad!", "after=&offset=0"}) {
    EXPECT_EQ(Get(c().tracker_url() + "/v1/images?" + query, c().AdminHeaders())
                  .status,
              400u)
        << query;
  }
  EXPECT_EQ(Get(c().tracker_url() + "/v1/images?limit=9999", c().AdminHeaders())
                .status,
            200u)
      << "capped, not refused";
  // JSON requests are small: a resolve body past 1 MiB is refused before
  // it is read, where an upload may be 32 MiB.
  auto huge_resolve =
      Send("POST", c().tracker_url() + "/v1/resolve",
           R"({"ids":[")" + std::string(2 << 20, 'a') + R"("]})");
  EXPECT_EQ(huge_resolve.status, 413u) << huge_resolve.body;
  // The list of recent images names every id: admin only.
  EXPECT_EQ(Get(c().tracker_url() + "/v1/images").status, 401u);
  EXPECT_EQ(Get(c().tracker_url() + "/v1/images", c().AdminHeaders()).status,
            200u);
  auto wrong_method = Send("PUT", c().tracker_url() + "/v1/resolve", "{}");
  EXPECT_EQ(wrong_method.status, 405u);
  EXPECT_EQ(Parse(wrong_method.body)["error"]["code"], "method_not_allowed");
  EXPECT_EQ(wrong_method.Header("Allow"), "POST");

  // A heartbeat signed with a wrong secret is refused and logged, also
  // right after an unsigned one (anyone can send those: they must not take
  // the line a wrong secret gets).
  json beat = {{"name", "intruder"}, {"url", "http://127.0.0.1:1"},
               {"root", "/"},        {"images", 0},
               {"bytes_used", 0},    {"disk_free_bytes", 1 << 30},
               {"max_pics", 100},    {"uptime_s", 1},
               {"version", "x"}};
  EXPECT_EQ(
      Send("POST", c().tracker_url() + "/v1/heartbeat", beat.dump()).status,
      401u);
  auto hb = SignedSend("POST", c().tracker_url(), "/v1/heartbeat", beat.dump(),
                       "wrong");
  EXPECT_EQ(hb.status, 401u);
  EXPECT_TRUE(Eventually(
      [&] {
        // Who sent it, as its User-Agent says (a node adds its name).
        const std::string logs = c().Logs();
        const size_t at = logs.find("heartbeat from 127.0.0.1 (imgstore/");
        return at != std::string::npos &&
               logs.find("refused: signature: does not match", at) !=
                   std::string::npos;
      },
      std::chrono::seconds(3)));
  // Signed with the right secret, a URL that would split a redirect's
  // header is refused all the same: the node's flags check it too, but a
  // tracker takes no one's word for it.
  json forged = beat;
  forged["url"] = "https://x.example/a\r\nSet-Cookie: pwn=1";
  auto split = SignedSend("POST", c().tracker_url(), "/v1/heartbeat",
                          forged.dump(), kSecret);
  EXPECT_EQ(split.status, 400u) << split.body;
  // A name goes into log lines and pages: no line breaks, nothing else
  // but plain characters, not too long.
  for (const std::string& name :
       {std::string("evil\n2026 info server 1: removed"),
        std::string("rtl\u202e"), std::string(65, 'n')}) {
    json named = beat;
    named["name"] = name;
    EXPECT_EQ(SignedSend("POST", c().tracker_url(), "/v1/heartbeat",
                         named.dump(), kSecret)
                  .status,
              400u);
  }

  // A field of the wrong type is a 400, not an exception that ends the
  // tracker.
  for (auto [path, body] :
       {std::pair{"/v1/servers", R"({"url": 1})"},
        std::pair{"/v1/servers", R"({"url": "http://x:1",
                                        "max_pic_amount": "many"})"},
        std::pair{"/v1/fsck", R"({"fix": "yes"})"},
        // A server URL lands in Location headers and
        // pages: no CR LF, quotes, port out of range.
        std::pair{"/v1/servers", R"({"url": "http://x:1\r\nX: y"})"},
        std::pair{"/v1/servers", R"({"url": "http://x:1/\"><b>"})"},
        std::pair{"/v1/servers", R"({"url": "http://x:99999"})"},
        std::pair{"/v1/servers", R"({"url": "http://x:1", "name": "a\nb"})"}}) {
    auto typed =
        Send("POST", c().tracker_url() + path, body, c().AdminHeaders());
    EXPECT_EQ(typed.status, 400u) << path << " " << body << ": " << typed.body;
  }
  EXPECT_EQ(Get(c().tracker_url() + "/healthz").status, 200u);
  // The public gallery pages only so deep (no OFFSET scan of every image).
  auto deep = Get(c().tracker_url() + "/?page=9223372036854775807");
  EXPECT_EQ(deep.status, 200u);
  EXPECT_NE(deep.body.find("page 400"), std::string::npos);

  // A 64 KB request line.
  http::ClientRequest line;
  line.url = c().tracker_url() + "/" + std::string(64 * 1024, 'a');
  auto long_line = http::Fetch(line);
  ASSERT_TRUE(long_line.has_value());
  EXPECT_EQ(long_line->status, 414u);

  EXPECT_EQ(TotalImages(c()), before);
  EXPECT_EQ(c().Servers()["servers"].size(), 3u) << "no intruder row";
  EXPECT_EQ(Get(c().tracker_url() + "/healthz").status, 200u);
  auto ok = c().Upload(TestData("small.jpg"), "image/jpeg");
  EXPECT_EQ(ok.status, 201u) << "still takes uploads";
  auto untyped = c().Upload(TestData("small.png"), "");
  EXPECT_EQ(untyped.status, 201u) << "no Content-Type: the bytes decide";
  EXPECT_EQ(Parse(untyped.body)["content_type"], "image/png");
}

TEST_F(ClusterTest, ConcurrentUploadersNeverOverfill) {
  // Leave room for exactly 30 more images in the whole pool.
  json servers = c().Servers()["servers"];
  std::map<int64_t, int64_t> old_max;
  for (auto& s : servers) {
    old_max[s["server_id"]] = s["max_pic_amount"];
    json patch = {{"max_pic_amount", s["cur_pic_amount"].get<int64_t>() + 10}};
    auto r = Send("PATCH",
                  c().tracker_url() + "/v1/servers/" +
                      std::to_string(s["server_id"].get<int64_t>()),
                  patch.dump(), c().AdminHeaders());
    ASSERT_EQ(r.status, 200u) << r.body;
  }
  std::atomic<int> created{0}, full{0}, other{0};
  std::vector<std::thread> uploaders;
  const std::string bytes = TestData("small.jpg");
  for (int t = 0; t < 16; ++t) {
    uploaders.emplace_back([&] {
      for (int i = 0; i < 3; ++i) {
        auto r = c().Upload(bytes, "image/jpeg");
        (r.status == 201 ? created : r.status == 503 ? full : other)++;
      }
    });
  }
  for (auto& t : uploaders) t.join();
  EXPECT_EQ(created.load(), 30);
  EXPECT_EQ(full.load(), 18);
  EXPECT_EQ(other.load(), 0);
  for (auto& s : c().Servers()["servers"]) {
    EXPECT_EQ(s["cur_pic_amount"], s["max_pic_amount"]) << s.dump();
    EXPECT_EQ(s["flg_usable"], true) << s.dump();
    EXPECT_EQ(s["takes_uploads"], false) << "full: " << s.dump();
  }
  for (auto [id, max] : old_max) {
    Send("PATCH", c().tracker_url() + "/v1/servers/" + std::to_string(id),
         json{{"max_pic_amount", max}}.dump(), c().AdminHeaders());
  }
}

TEST_F(ClusterTest, ServerAdministration) {
  const std::string base = c().tracker_url() + "/v1/servers";
  // Add a server ahead of its first heartbeat: listed, not usable.
  auto added = Send("POST", base, json{{"url", "http://127.0.0.1:9"}}.dump(),
                    c().AdminHeaders());
  ASSERT_EQ(added.status, 201u) << added.body;
  const int64_t new_id = Parse(added.body)["server_id"];
  EXPECT_FALSE(Parse(added.body)["flg_usable"].get<bool>());
  // Its Location is its row, as the list has it.
  const std::string location = added.Header("Location");
  EXPECT_EQ(location, "/v1/servers/" + std::to_string(new_id));
  auto one = Get(c().tracker_url() + location, c().AdminHeaders());
  ASSERT_EQ(one.status, 200u) << one.body;
  EXPECT_EQ(Parse(one.body)["server_url"], "http://127.0.0.1:9");
  EXPECT_EQ(Get(c().tracker_url() + location).status, 401u) << "admin only";
  EXPECT_EQ(Get(base + "/999999", c().AdminHeaders()).status, 404u);
  EXPECT_EQ(
      Send("POST", base, json{{"url", "ftp://x"}}.dump(), c().AdminHeaders())
          .status,
      400u);
  // A name in use: a node beating under it would take either row.
  const std::string live_name = c().Servers()["servers"][0]["server_name"];
  auto twin =
      Send("POST", base,
           json{{"url", "http://127.0.0.1:10"}, {"name", live_name}}.dump(),
           c().AdminHeaders());
  EXPECT_EQ(twin.status, 409u) << twin.body;
  // The same URL again, with no name: the URL is what is taken.
  auto again = Send("POST", base, json{{"url", "http://127.0.0.1:9"}}.dump(),
                    c().AdminHeaders());
  EXPECT_EQ(again.status, 409u) << again.body;
  EXPECT_NE(again.body.find("already has url http://127.0.0.1:9"),
            std::string::npos)
      << again.body;
  // No name, and one made of the URL would break the rules for names.
  auto long_host =
      Send("POST", base,
           json{{"url", "http://" + std::string(70, 'h') + ":1"}}.dump(),
           c().AdminHeaders());
  EXPECT_EQ(long_host.status, 400u) << long_host.body;

  // Drain every real server but one: uploads all land on it.
  json servers = c().Servers()["servers"];
  std::vector<int64_t> real;
  for (auto& s : servers) {
    if (s["server_id"] != new_id) real.push_back(s["server_id"]);
  }
  ASSERT_EQ(real.size(), 3u);
  auto patch = [&](int64_t id, const char* state) {
    return Send("PATCH", base + "/" + std::to_string(id),
                json{{"state", state}}.dump(), c().AdminHeaders());
  };
  ASSERT_EQ(patch(real[0], "draining").status, 200u);
  ASSERT_EQ(patch(real[1], "disabled").status, 200u);
  EXPECT_EQ(patch(real[2], "removed").status, 400u);
  EXPECT_EQ(patch(999, "active").status, 404u);
  // A capacity past any disk would overflow the totals' sum.
  auto huge =
      Send("PATCH", base + "/" + std::to_string(real[2]),
           R"({"max_pic_amount": 9223372036854775807})", c().AdminHeaders());
  EXPECT_EQ(huge.status, 400u) << huge.body;
  // A misspelt field is refused, with the state beside it left alone.
  auto misspelt =
      Send("PATCH", base + "/" + std::to_string(real[2]),
           R"({"state": "disabled", "max_pics": 5})", c().AdminHeaders());
  EXPECT_EQ(misspelt.status, 400u) << misspelt.body;
  EXPECT_NE(misspelt.body.find("unknown field max_pics"), std::string::npos)
      << misspelt.body;
  for (int i = 0; i < 6; ++i) {
    json j = Parse(c().Upload(TestData("small.png"), "image/png").body);
    ASSERT_EQ(j["replicas"].size(), 1u);
    EXPECT_EQ(j["replicas"][0]["server_id"], real[2]);
  }
  ASSERT_EQ(patch(real[0], "active").status, 200u);
  ASSERT_EQ(patch(real[1], "active").status, 200u);

  // Remove: refused while it holds images, fine when empty.
  auto busy = Send("DELETE", base + "/" + std::to_string(real[2]), "",
                   c().AdminHeaders());
  EXPECT_EQ(busy.status, 409u);
  EXPECT_EQ(Send("DELETE", base + "/" + std::to_string(new_id), "",
                 c().AdminHeaders())
                .status,
            204u);
  EXPECT_EQ(c().Servers()["servers"].size(), 3u);
  // Removing twice is one removal: the same answer, logged once by name.
  EXPECT_EQ(Send("DELETE", base + "/" + std::to_string(new_id), "",
                 c().AdminHeaders())
                .status,
            204u);
  const std::string logs = c().Logs();
  const std::string line = "server " + std::to_string(new_id) + " (";
  const size_t first = logs.find(line);
  ASSERT_NE(first, std::string::npos) << logs;
  EXPECT_NE(logs.find("): removed by operator", first), std::string::npos)
      << logs;
  EXPECT_EQ(logs.find("removed by operator",
                      logs.find("removed by operator", first) + 1),
            std::string::npos)
      << logs;
}

// The value of one series in Prometheus text, -1 when absent.
double MetricValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.starts_with(series) &&
        line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// The pages: their own scripts only, never framed; a page past the end
// says how many images there are, not a count made up from its number.
TEST_F(ClusterTest, PagesCarrySecurityHeadersAndTrueCounts) {
  ASSERT_EQ(c().Upload(TestData("small.png"), "image/png").status, 201u);
  for (const char* path : {"/", "/admin", "/?page=400"}) {
    auto r = Get(c().tracker_url() + path);
    ASSERT_EQ(r.status, 200u) << path;
    EXPECT_NE(
        r.Header("Content-Security-Policy").find("frame-ancestors 'none'"),
        std::string::npos)
        << path;
    EXPECT_EQ(r.Header("X-Frame-Options"), "DENY") << path;
    EXPECT_EQ(r.Header("X-Content-Type-Options"), "nosniff") << path;
  }
  // An image page for an id not stored: a page that says so, a 404.
  for (const std::string& id : {ImageId::New().str(), std::string("bad!")}) {
    auto none = Get(c().tracker_url() + "/images/" + id);
    EXPECT_EQ(none.status, 404u);
    EXPECT_NE(none.body.find("No such image"), std::string::npos) << none.body;
    EXPECT_EQ(none.Header("Content-Type"), "text/html; charset=utf-8");
  }
  const int64_t images = c().Servers()["totals"]["images"];
  ASSERT_LT(images, 24 * 399);
  const std::string beyond = Get(c().tracker_url() + "/?page=400").body;
  EXPECT_NE(beyond.find("Nothing on page 400"), std::string::npos);
  EXPECT_EQ(beyond.find(std::to_string(24 * 399)), std::string::npos)
      << "no count made up from the page number";
}

// The gallery's form posted by a browser without the page's script: the
// new image's page, or a page saying why not; the API's JSON otherwise.
TEST_F(ClusterTest, FormPostedWithoutScriptGetsPages) {
  auto form = [](const std::string& bytes) {
    return "--b0undary\r\nContent-Disposition: form-data; name=\"file\"; "
           "filename=\"x.png\"\r\n\r\n" +
           bytes + "\r\n--b0undary--\r\n";
  };
  const std::pair<std::string, std::string> multipart{
      "Content-Type", "multipart/form-data; boundary=b0undary"};
  const std::pair<std::string, std::string> browser{
      "Accept", "text/html,application/xhtml+xml,*/*;q=0.8"};
  const int64_t before = TotalImages(c());
  auto r = Send("POST", c().tracker_url() + "/v1/images",
                form(TestData("small.png")), {multipart, browser});
  ASSERT_EQ(r.status, 303u) << r.body;
  const std::string location = r.Header("Location");
  ASSERT_TRUE(location.starts_with("/images/")) << location;
  auto page = Get(c().tracker_url() + location);
  EXPECT_EQ(page.status, 200u);
  EXPECT_EQ(TotalImages(c()), before + 1);

  r = Send("POST", c().tracker_url() + "/v1/images", form("not an image"),
           {multipart, browser});
  EXPECT_EQ(r.status, 415u);
  EXPECT_EQ(r.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("The image was not stored"), std::string::npos)
      << r.body;
  EXPECT_EQ(TotalImages(c()), before + 1);

  // Scripts and clients keep the API's answer.
  r = Send("POST", c().tracker_url() + "/v1/images",
           form(TestData("small.png")),
           {multipart, {"Accept", "application/json"}});
  EXPECT_EQ(r.status, 201u);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
}

// The pages name their scripts and styles by version: those URLs are kept
// by browsers for good, an unversioned one only for minutes.
TEST_F(ClusterTest, PagesLinkVersionedAssets) {
  const std::string home = Get(c().tracker_url() + "/").body;
  const size_t at = home.find("/static/style.css?v=");
  ASSERT_NE(at, std::string::npos) << home;
  const std::string href = home.substr(at, home.find('"', at) - at);
  auto versioned = Get(c().tracker_url() + href);
  EXPECT_EQ(versioned.status, 200u);
  EXPECT_EQ(versioned.Header("Cache-Control"),
            "public, max-age=31536000, immutable");
  EXPECT_EQ(versioned.Header("X-Content-Type-Options"), "nosniff");
  for (const char* stale : {"/static/style.css", "/static/style.css?v=0"}) {
    auto r = Get(c().tracker_url() + stale);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, versioned.body);
    EXPECT_EQ(r.Header("Cache-Control"), "public, max-age=300") << stale;
  }
}

TEST_F(ClusterTest, MetricsAndHealth) {
  EXPECT_EQ(Get(c().tracker_url() + "/healthz").status, 200u);
  auto stage = [](const std::string& m, const std::string& name) {
    return MetricValue(
        m,
        "imgstore_tracker_upload_stage_seconds_total{stage=\"" + name + "\"}");
  };
  const std::string before = Get(c().tracker_url() + "/metrics").body;
  ASSERT_EQ(c().Upload(TestData("small.png"), "image/png").status, 201u);
  std::string m = Get(c().tracker_url() + "/metrics").body;
  EXPECT_NE(m.find("imgstore_tracker_http_requests_total"), std::string::npos);
  EXPECT_NE(m.find("imgstore_tracker_servers_usable 3"), std::string::npos)
      << m;
  // Each server's health on its own series.
  const json servers = c().Servers()["servers"];
  for (const json& s : servers) {
    const std::string labels = fmt::format(
        "{{server_id=\"{}\",server_name=\"{}\"}}", s["server_id"].get<int>(),
        s["server_name"].get<std::string>());
    EXPECT_EQ(MetricValue(m, "imgstore_tracker_server_usable" + labels), 1)
        << m;
    EXPECT_EQ(MetricValue(m, "imgstore_tracker_server_takes_uploads" + labels),
              s["takes_uploads"].get<bool>() ? 1 : 0);
    EXPECT_GE(MetricValue(
                  m, "imgstore_tracker_server_heartbeat_age_seconds" + labels),
              0);
  }
  // Every upload passes all four stages; storing waits for a node's sync.
  for (const char* name : {"probe", "hash", "store", "record"}) {
    EXPECT_GE(stage(before, name), 0) << name << " missing:\n" << before;
    EXPECT_GE(stage(m, name), stage(before, name)) << name;
  }
  EXPECT_GT(stage(m, "store"), stage(before, "store")) << m;
  auto d = Get(c().tracker_url() + "/default-image");
  EXPECT_EQ(d.status, 200u);
  EXPECT_EQ(d.Header("Content-Type").substr(0, 6), "image/");
  EXPECT_EQ(d.Header("Access-Control-Allow-Origin"), "*");
  ASSERT_FALSE(d.Header("ETag").empty());
  auto again = Get(c().tracker_url() + "/default-image",
                   {{"If-None-Match", d.Header("ETag")}});
  EXPECT_EQ(again.status, 304u);
  EXPECT_TRUE(again.body.empty());

  // A request target in absolute form, as proxies send it (RFC 9112 §3.2.2).
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  const std::string port =
      c().tracker_url().substr(c().tracker_url().rfind(':') + 1);
  socket.connect(
      {boost::asio::ip::make_address("127.0.0.1"), uint16_t(std::stoi(port))});
  const std::string request = "GET " + c().tracker_url() +
                              "/healthz HTTP/1.1\r\nHost: x\r\n"
                              "Connection: close\r\n\r\n";
  boost::asio::write(socket, boost::asio::buffer(request));
  std::string reply;
  boost::system::error_code ec;
  boost::asio::read(socket, boost::asio::dynamic_buffer(reply), ec);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;

  // A chunk size that is not hex, where a body is read: a 400, not a
  // silent close.
  boost::asio::ip::tcp::socket chunked(io);
  chunked.connect(
      {boost::asio::ip::make_address("127.0.0.1"), uint16_t(std::stoi(port))});
  const std::string bad_chunk =
      "POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
      "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n";
  boost::asio::write(chunked, boost::asio::buffer(bad_chunk));
  std::string refused;
  boost::asio::read(chunked, boost::asio::dynamic_buffer(refused), ec);
  EXPECT_EQ(refused.rfind("HTTP/1.1 400", 0), 0u) << refused;
}

// The tracker's own disk fills up (its SQLite file on a 640 KiB tmpfs in a
// mount namespace of its own): uploads are refused with 507 and leave no
// file on the node; heartbeats it can no longer record still keep the
// node usable, so every image stored before resolves to its node past the
// heartbeat timeout, not to the default image. Space freed, uploads and
// heartbeats are recorded again.
TEST(PoolTest, TrackerWithAFullDiskRefusesUploadsAndKeepsServing) {
  TempDir dir;
  const std::string db = dir.str() + "/db";
  const std::string root = dir.str() + "/root";
  std::filesystem::create_directories(db);
  std::filesystem::create_directories(root);
  const uint16_t tracker_port = FreePort();
  const std::string tracker_url =
      "http://127.0.0.1:" + std::to_string(tracker_port);
  const std::string tracker = fmt::format(
      "mount -t tmpfs -o size=640k tmpfs {0} && "
      "head -c 131072 /dev/zero > {0}/ballast && exec {1} tracker --listen "
      "127.0.0.1:{2} --db sqlite:{0}/meta.db --secret {3} --replicas 1 "
      "--heartbeat-timeout 2",
      db, IMGSTORE_BINARY, tracker_port, kSecret);
  ChildProcess t({"/usr/bin/unshare", "-rm", "/bin/sh", "-c", tracker},
                 dir.str() + "/tracker.log");
  if (!WaitForStatus(tracker_url + "/healthz", 200)) {
    GTEST_SKIP() << "no unprivileged mount namespace here: "
                 << ReadFile(dir.str() + "/tracker.log");
  }
  const std::string node_url = "http://127.0.0.1:" + std::to_string(FreePort());
  ChildProcess n(
      {IMGSTORE_BINARY, "node", "--listen", node_url.substr(7), "--root", root,
       "--tracker", tracker_url, "--secret", kSecret, "--heartbeat", "1"},
      dir.str() + "/node.log");
  auto usable = [&] {
    json servers = Parse(Get(tracker_url + "/v1/servers").body)["servers"];
    return servers.size() == 1 && servers[0]["flg_usable"] == true;
  };
  ASSERT_TRUE(Eventually(usable, std::chrono::seconds(15)))
      << ReadFile(dir.str() + "/tracker.log");

  const std::string jpeg = TestData("small.jpg");
  const std::vector<std::pair<std::string, std::string>> as_jpeg = {
      {"Content-Type", "image/jpeg"}};
  std::vector<std::string> ids;
  http::ClientResponse refused;
  for (int i = 0; i < 1000 && refused.status == 0; ++i) {
    auto r = Send("POST", tracker_url + "/v1/images", jpeg, as_jpeg);
    if (r.status == 201) {
      ids.push_back(Parse(r.body)["id"]);
    } else {
      refused = r;
    }
  }
  ASSERT_EQ(refused.status, 507u) << refused.body;
  EXPECT_NE(refused.body.find("full"), std::string::npos) << refused.body;
  ASSERT_FALSE(ids.empty());
  auto files = [&] { return ImageFiles(root); };
  EXPECT_EQ(files(), ids.size()) << "one file per acknowledged upload";

  // Three heartbeat timeouts later, with no heartbeat recorded since.
  std::this_thread::sleep_for(std::chrono::seconds(6));
  EXPECT_TRUE(usable()) << Get(tracker_url + "/v1/servers").body;
  for (const std::string& id : ids) {
    json image = Parse(Get(tracker_url + "/v1/images/" + id).body);
    EXPECT_EQ(image["available"], true) << image.dump();
    EXPECT_EQ(image["url"].get<std::string>().rfind(node_url, 0), 0u)
        << image.dump();
  }
  EXPECT_EQ(Send("POST", tracker_url + "/v1/images", jpeg, as_jpeg).status,
            507u);
  EXPECT_EQ(files(), ids.size());
  EXPECT_EQ(Get(tracker_url + "/healthz").status, 200u);
  EXPECT_NE(ReadFile(dir.str() + "/tracker.log")
                .find("heartbeats cannot be recorded"),
            std::string::npos);

  // The tracker's file system as the tracker sees it, through its pid.
  std::error_code freed;
  std::filesystem::remove(fmt::format("/proc/{}/root{}/ballast", t.pid(), db),
                          freed);
  if (freed) {
    GTEST_SKIP() << "cannot reach the tracker's file system to free space: "
                 << freed.message();
  }
  auto again = Send("POST", tracker_url + "/v1/images", jpeg, as_jpeg);
  EXPECT_EQ(again.status, 201u) << again.body;
  EXPECT_EQ(files(), ids.size() + 1);
  EXPECT_TRUE(Eventually(
      [&] {
        return ReadFile(dir.str() + "/tracker.log")
                   .find("heartbeats are recorded again") != std::string::npos;
      },
      std::chrono::seconds(10)));
  n.Signal(SIGTERM);
  t.Signal(SIGTERM);
}

// A node that takes smaller files than the tracker (a lower
// --max-upload-bytes) is passed over for larger ones, as its heartbeat
// says: it refuses such a PUT by its head and closes the connection, which
// would look like a server gone, with no uploads for anyone until its next
// beat. With no node to take a file, the upload is a 413.
TEST(PoolTest, ANodesFileLimitIsPassedOverNotCalledDown) {
  Cluster c({.nodes = 0});
  c.StartNode(0, {"--max-upload-bytes", "4000"});
  c.StartNode(1);
  ASSERT_TRUE(c.WaitUsable(2)) << c.Logs();
  const std::string large = TestData("rotated.jpg");  // 9 KB
  const std::string small = TestData("small.jpg");    // under 2 KB
  ASSERT_GT(large.size(), 4000u);
  for (int i = 0; i < 10; ++i) {
    auto up = c.Upload(large + "large-" + std::to_string(i), "image/jpeg");
    ASSERT_EQ(up.status, 201u) << up.body;
    EXPECT_EQ(Parse(up.body)["url"].get<std::string>().rfind(c.NodeUrl(1), 0),
              0u);
  }
  int on_small = 0;
  for (int i = 0; i < 20; ++i) {
    auto up = c.Upload(small + "small-" + std::to_string(i), "image/jpeg");
    ASSERT_EQ(up.status, 201u) << up.body;
    on_small +=
        Parse(up.body)["url"].get<std::string>().rfind(c.NodeUrl(0), 0) == 0;
  }
  EXPECT_GT(on_small, 0) << "still takes the files it can";
  c.StopNode(1, SIGTERM);
  ASSERT_TRUE(c.WaitUsable(1, std::chrono::seconds(10))) << c.Logs();
  auto refused = c.Upload(large, "image/jpeg");
  EXPECT_EQ(refused.status, 413u) << refused.body;
  EXPECT_NE(refused.body.find("--max-upload-bytes"), std::string::npos)
      << refused.body;
  EXPECT_EQ(c.Upload(small + "after", "image/jpeg").status, 201u)
      << "the node was not called down by the refusal";
}

// A node whose browsers come through an HTTPS proxy: pages get its https
// URL, while the tracker stores, reads and deletes at its plain internal one.
TEST(PoolTest, HttpsPublicUrlStoresAtTheInternalUrl) {
  Cluster c({.nodes = 0, .tracker_args = {"--replicas", "1"}});
  const std::string public_url = "https://img1.example.test:8443";
  c.StartNode(0, {"--public-url", public_url + "/"});
  ASSERT_TRUE(c.WaitUsable(1)) << c.Logs();
  const json server = c.Servers()["servers"][0];
  EXPECT_EQ(server["server_url"], public_url);
  EXPECT_EQ(server["internal_url"], c.NodeUrl(0));
  // Its internal URL is taken: adding it as a server of its own is refused.
  auto twin = Send("POST", c.tracker_url() + "/v1/servers",
                   json{{"url", c.NodeUrl(0)}}.dump(), c.AdminHeaders());
  EXPECT_EQ(twin.status, 409u) << twin.body;

  const std::string bytes = TestData("small.jpg");
  auto up = c.Upload(bytes, "image/jpeg");
  ASSERT_EQ(up.status, 201u) << up.body << c.Logs();
  json j = Parse(up.body);
  const std::string url = j["url"];
  ASSERT_EQ(url.rfind(public_url + "/", 0), 0u) << url;
  const std::string path = url.substr(public_url.size());
  EXPECT_EQ(ReadFile(c.NodeRoot(0) + path), bytes) << "stored on the node";
  auto resolved = Parse(Send("POST", c.tracker_url() + "/v1/resolve",
                             json{{"ids", {j["id"]}}}.dump())
                            .body);
  EXPECT_EQ(resolved["images"][j["id"].get<std::string>()]["url"], url);

  auto del = Send("DELETE",
                  c.tracker_url() + "/v1/images/" + j["id"].get<std::string>(),
                  "", c.AdminHeaders());
  EXPECT_EQ(del.status, 204u) << del.body;
  EXPECT_FALSE(std::filesystem::exists(c.NodeRoot(0) + path))
      << "deleted at the internal URL";
}

// A node given several trackers (no balancer in front) beats through one
// that runs, the first being down.
TEST(PoolTest, NodeWithSeveralTrackersBeatsThroughOneThatRuns) {
  Cluster c({.nodes = 0, .tracker_args = {"--replicas", "1"}});
  TempDir dir;
  const std::string dead = "http://127.0.0.1:" + std::to_string(FreePort());
  // The trackers from a config file's list, as from --tracker a,b.
  std::ofstream(dir.path() / "node.toml")
      << "tracker = [\"" << dead << "\", \"" << c.tracker_url() << "\"]\n";
  ChildProcess node({IMGSTORE_BINARY, "node", "--listen",
                     "127.0.0.1:" + std::to_string(FreePort()), "--root",
                     dir.str() + "/root", "--config", dir.str() + "/node.toml",
                     "--secret", kSecret, "--heartbeat", "1"},
                    dir.str() + "/node.log");
  ASSERT_TRUE(c.WaitUsable(1)) << node.Log();
  EXPECT_EQ(c.Upload(TestData("small.jpg"), "image/jpeg").status, 201u);
  EXPECT_NE(node.Log().find("heartbeats accepted"), std::string::npos)
      << node.Log();
}

// An image deleted while one of its servers is down: the tracker answers
// 204 at once, and the file goes when the server is back, so the old URL
// does not keep serving a deleted image.
TEST(PoolTest, DeleteWhileAServerIsDownRemovesItsFileWhenBack) {
  Cluster c({.nodes = 2,
             .tracker_args = {"--replicas", "2", "--heartbeat-timeout", "2"}});
  const std::string bytes = TestData("small.png");
  json j = Parse(c.Upload(bytes, "image/png").body);
  ASSERT_EQ(j["replicas"].size(), 2u) << j.dump();
  const std::string url = j["url"];
  const std::string path = url.substr(url.find('/', 7));
  ASSERT_EQ(ReadFile(c.NodeRoot(0) + path), bytes);

  c.StopNode(0, SIGKILL);
  auto del = Send("DELETE",
                  c.tracker_url() + "/v1/images/" + j["id"].get<std::string>(),
                  "", c.AdminHeaders());
  EXPECT_EQ(del.status, 204u) << del.body;
  EXPECT_FALSE(std::filesystem::exists(c.NodeRoot(1) + path));
  EXPECT_TRUE(std::filesystem::exists(c.NodeRoot(0) + path)) << "down";

  c.StartNode(0);
  EXPECT_TRUE(
      Eventually([&] { return !std::filesystem::exists(c.NodeRoot(0) + path); },
                 std::chrono::seconds(20)))
      << c.Logs();
}

// A node started again on its root from another port, without --name, is
// the same server at a new URL (its name is kept in the root); a second
// node on a root in use does not start.
TEST(PoolTest, NodeMovedToAnotherPortKeepsItsServer) {
  Cluster c({.nodes = 0, .tracker_args = {"--replicas", "1"}});
  const std::string root = c.dir() + "/moving";
  auto start = [&](const std::string& port) {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{IMGSTORE_BINARY, "node", "--listen",
                                 "127.0.0.1:" + port, "--root", root,
                                 "--tracker", c.tracker_url(), "--secret",
                                 kSecret, "--heartbeat", "1"},
        c.dir() + "/node-" + port + ".log");
  };
  const std::string first_port = std::to_string(FreePort());
  auto first = start(first_port);
  ASSERT_TRUE(c.WaitUsable(1)) << first->Log();
  auto up = c.Upload(TestData("small.png"), "image/png");
  ASSERT_EQ(up.status, 201u) << up.body;
  const std::string id = Parse(up.body)["id"];

  const std::string second_port = std::to_string(FreePort());
  auto twin = start(second_port);
  EXPECT_NE(twin->Wait(std::chrono::seconds(10)), 0);
  EXPECT_NE(twin->Log().find("in use by another node"), std::string::npos)
      << twin->Log();

  first->Signal(SIGTERM);
  auto moved = start(second_port);
  const std::string new_url = "http://127.0.0.1:" + second_port;
  ASSERT_TRUE(Eventually(
      [&] {
        const json servers = c.Servers()["servers"];
        return servers.size() == 1 && servers[0]["server_url"] == new_url &&
               servers[0]["flg_usable"].get<bool>();
      },
      std::chrono::seconds(10)))
      << c.Servers().dump() << moved->Log();
  auto resolved = Parse(Get(c.tracker_url() + "/v1/images/" + id).body);
  EXPECT_TRUE(resolved["available"].get<bool>());
  EXPECT_TRUE(resolved["url"].get<std::string>().starts_with(new_url + "/"));
  EXPECT_EQ(Get(resolved["url"]).body, TestData("small.png"));
}

// One tracker per SQLite file: a second on the same file does not start.
TEST(PoolTest, SecondTrackerOnOneSqliteFileDoesNotStart) {
  Cluster c({.nodes = 0});
  ChildProcess second(
      {IMGSTORE_BINARY, "tracker", "--listen",
       "127.0.0.1:" + std::to_string(FreePort()), "--db",
       "sqlite:" + c.dir() + "/tracker.db", "--secret", kSecret},
      c.dir() + "/second.log");
  EXPECT_NE(second.Wait(std::chrono::seconds(20)), 0);
  EXPECT_NE(second.Log().find("in use by another tracker"), std::string::npos)
      << second.Log();
  EXPECT_EQ(Get(c.tracker_url() + "/healthz").status, 200u);
}

// Node death and a growing pool (SPEC §6), on a cluster of its own.
TEST(PoolTest, DeadNodeGetsDefaultImageAndANewNodeJoins) {
  Cluster c({.nodes = 3});
  std::map<std::string, int64_t> where;  // id -> server
  for (int i = 0; i < 30; ++i) {
    json j = Parse(c.Upload(TestData("small.jpg"), "image/jpeg").body);
    where[j["id"]] = j["replicas"][0]["server_id"];
  }
  std::set<int64_t> used;
  for (auto& [id, s] : where) used.insert(s);
  EXPECT_EQ(used.size(), 3u) << "spread over all three";

  const int64_t dead = c.Servers()["servers"][0]["server_id"];
  c.StopNode(0, SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  json ids = json::array();
  for (auto& [id, s] : where) ids.push_back(id);
  auto resolve = [&] {
    return Parse(
        Send("POST", c.tracker_url() + "/v1/resolve", json{{"ids", ids}}.dump())
            .body);
  };
  for (int i = 0; i < 20; ++i) {
    auto r = c.Upload(TestData("small.png"), "image/png");
    EXPECT_EQ(r.status, 201u) << r.body;
  }
  ASSERT_TRUE(Eventually(
      [&] {
        json j = resolve();
        for (auto& [id, s] : where) {
          if (s == dead && j["images"][id]["available"].get<bool>())
            return false;
        }
        return true;
      },
      std::chrono::seconds(10)));
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at,
            std::chrono::seconds(10));
  json j = resolve();
  for (auto& [id, s] : where) {
    const bool dead_copy = s == dead;
    EXPECT_EQ(j["images"][id]["available"].get<bool>(), !dead_copy);
    if (dead_copy) {
      EXPECT_EQ(j["images"][id]["url"], c.tracker_url() + "/default-image");
      EXPECT_EQ(Get(j["images"][id]["url"].get<std::string>()).status, 200u);
    }
  }
  // Uploads after the node was noticed dead never go there.
  for (int i = 0; i < 10; ++i) {
    json u = Parse(c.Upload(TestData("small.gif"), "image/gif").body);
    EXPECT_NE(u["replicas"][0]["server_id"], dead);
  }

  // Restart: its URLs come back.
  c.StartNode(0);
  ASSERT_TRUE(c.WaitUsable(3, std::chrono::seconds(10)));
  j = resolve();
  for (auto& [id, s] : where)
    EXPECT_TRUE(j["images"][id]["available"].get<bool>()) << id;

  // A fourth node started later joins by heartbeat and gets uploads.
  const size_t fourth = c.StartNode(3);
  ASSERT_TRUE(c.WaitUsable(4, std::chrono::seconds(10))) << c.Logs();
  int on_fourth = 0;
  for (int i = 0; i < 40; ++i) {
    json u = Parse(c.Upload(TestData("small.jpg"), "image/jpeg").body);
    std::string url = u["url"];
    on_fourth += url.rfind(c.NodeUrl(fourth), 0) == 0;
  }
  EXPECT_GT(on_fourth, 0);

  // A server at max_pic_amount gets no more.
  json servers = c.Servers()["servers"];
  const int64_t full_id = servers[1]["server_id"];
  Send("PATCH", c.tracker_url() + "/v1/servers/" + std::to_string(full_id),
       json{{"max_pic_amount", servers[1]["cur_pic_amount"]}}.dump(),
       c.AdminHeaders());
  for (int i = 0; i < 20; ++i) {
    json u = Parse(c.Upload(TestData("small.jpg"), "image/jpeg").body);
    EXPECT_NE(u["replicas"][0]["server_id"], full_id);
  }
}

// kill -9 of the tracker loses no acknowledged upload.
TEST(TrackerCrashTest, AcknowledgedUploadsSurviveKill9) {
  Cluster c({.nodes = 2});
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> acked;  // id, sha256
  std::atomic<bool> stop{false};
  std::vector<std::thread> uploaders;
  for (int t = 0; t < 8; ++t) {
    uploaders.emplace_back([&] {
      while (!stop) {
        http::ClientRequest r{"POST",
                              c.tracker_url() + "/v1/images",
                              {{"Content-Type", "image/jpeg"}},
                              TestData("small.jpg")};
        auto res = http::Fetch(r);
        if (res && res->status == 201) {
          json j = Parse(res->body);
          std::lock_guard lock(mu);
          acked.emplace_back(j["id"], j["sha256"]);
        }
      }
    });
  }
  ::usleep(1'500'000);
  c.StopTracker(SIGKILL);
  stop = true;
  for (auto& t : uploaders) t.join();
  ASSERT_GT(acked.size(), 10u);
  c.StartTracker();
  for (const auto& [id, sha] : acked) {
    auto r = Get(c.tracker_url() + "/v1/images/" + id);
    ASSERT_EQ(r.status, 200u) << id;
    json j = Parse(r.body);
    EXPECT_EQ(j["sha256"], sha);
    ASSERT_TRUE(c.WaitUsable(2, std::chrono::seconds(10)));
    auto bytes =
        Get(Parse(Get(c.tracker_url() + "/v1/images/" + id).body)["url"]
                .get<std::string>());
    EXPECT_EQ(Sha256Hex(bytes.body), sha);
  }
}

}  // namespace
}  // namespace imgstore::testing

namespace imgstore::testing {
namespace {

// With --replicas 2 every image has copies on two servers, and resolve
// hands out the surviving one while a server is down (SPEC §4).
TEST(ReplicaTest, ReadsFailOverToTheOtherCopy) {
  Cluster c({.nodes = 3, .tracker_args = {"--replicas", "2"}});
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    auto r = c.Upload(TestData("small.jpg"), "image/jpeg");
    ASSERT_EQ(r.status, 201u) << r.body;
    json j = Parse(r.body);
    ASSERT_EQ(j["replicas"].size(), 2u);
    EXPECT_NE(j["replicas"][0]["server_id"], j["replicas"][1]["server_id"]);
    for (auto& copy : j["replicas"]) {
      EXPECT_EQ(Get(copy["url"].get<std::string>()).body,
                TestData("small.jpg"));
    }
    ids.push_back(j["id"]);
  }
  c.StopNode(0, SIGKILL);
  ASSERT_TRUE(c.WaitUsable(2, std::chrono::seconds(10)));
  const std::string dead = c.NodeUrl(0);
  auto r =
      Send("POST", c.tracker_url() + "/v1/resolve", json{{"ids", ids}}.dump());
  json j = Parse(r.body);
  for (const auto& id : ids) {
    ASSERT_TRUE(j["images"][id]["available"].get<bool>()) << id;
    const std::string url = j["images"][id]["url"];
    EXPECT_NE(url.rfind(dead, 0), 0u) << "not the dead server";
    EXPECT_EQ(Get(url).body, TestData("small.jpg"));
  }
  // With one server left, uploads still succeed, with the copies there are.
  c.StopNode(1, SIGKILL);
  ASSERT_TRUE(c.WaitUsable(1, std::chrono::seconds(10)));
  auto under = c.Upload(TestData("small.png"), "image/png");
  ASSERT_EQ(under.status, 201u) << under.body;
  EXPECT_EQ(Parse(under.body)["replicas"].size(), 1u);
}

}  // namespace
}  // namespace imgstore::testing
