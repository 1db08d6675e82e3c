#include "tracker/resolver.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/layout.h"
#include "testing/testing.h"

namespace imgstore {
namespace {

using nlohmann::json;

// The request parsing ParseResolveRequest replaced (a DOM, then checks), kept
// as the reference its answers must equal.
Result<std::vector<std::string>> DomParse(std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Fail(ErrorCode::kInvalidArgument, "body is not a JSON object");
  }
  auto ids = j.find("ids");
  if (ids == j.end() || !ids->is_array()) {
    return Fail(ErrorCode::kInvalidArgument, "expected {\"ids\": [...]}");
  }
  if (ids->size() > kMaxResolveIds) {
    return Fail(ErrorCode::kInvalidArgument, "at most 1000 ids per call");
  }
  std::vector<std::string> out;
  for (const json& id : *ids) {
    if (!id.is_string()) {
      return Fail(ErrorCode::kInvalidArgument, "ids must be strings");
    }
    out.push_back(id.get<std::string>());
  }
  return out;
}

Result<std::vector<std::string>> Parse(std::string_view body) {
  auto request = ParseResolveRequest(body);
  if (!request) return Fail(request.error());
  std::vector<std::string> out;
  for (std::string_view id : request->ids()) out.emplace_back(id);
  for (size_t i = 0; i < request->size(); ++i) {
    EXPECT_EQ(request->id(i), out[i]);
  }
  return out;
}

// "ok" or the error message: what a client sees.
std::string Outcome(const Result<std::vector<std::string>>& r) {
  if (!r) {
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    return r.error().message;
  }
  return "ok";
}

std::string Repeat(std::string_view s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// [ELEMENT,ELEMENT,...] with n elements.
std::string List(std::string_view element, size_t n) {
  std::string list = "[";
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) list += ',';
    list += element;
  }
  return list + "]";
}

std::string IdsBody(std::string_view element, size_t n) {
  return "{\"ids\":" + List(element, n) + "}";
}

constexpr char kNotObject[] = "body is not a JSON object";
constexpr char kNoIds[] = "expected {\"ids\": [...]}";
constexpr char kTooMany[] = "at most 1000 ids per call";
constexpr char kNotStrings[] = "ids must be strings";

TEST(ParseResolveRequestTest, Table) {
  struct Case {
    std::string what, body, want;  // want: "ok" or the error message
    std::vector<std::string> ids;  // when ok
  };
  const std::string deep = Repeat("[", 100000) + Repeat("]", 100000);
  const Case cases[] = {
      {"two ids", R"({"ids":["a","b"]})", "ok", {"a", "b"}},
      {"empty list", R"({"ids":[]})", "ok", {}},
      {"white space", " \t\n{ \"ids\" : [ \"a\" ] }\r\n", "ok", {"a"}},
      {"escapes decoded",
       R"({"ids":["\u0041b\"c\\\/\n"]})",
       "ok",
       {"Ab\"c\\/\n"}},
      {"escaped key", R"({"\u0069ds":["a"]})", "ok", {"a"}},
      {"utf-8 kept",
       "{\"ids\":[\"\xc3\xa9\xf0\x9f\x98\x80\"]}",
       "ok",
       {"\xc3\xa9\xf0\x9f\x98\x80"}},
      {"surrogate pair",
       R"({"ids":["\ud83d\ude00"]})",
       "ok",
       {"\xf0\x9f\x98\x80"}},
      {"nul escape", R"({"ids":["a\u0000b"]})", "ok", {std::string("a\0b", 3)}},
      {"repeated id kept", R"({"ids":["a","a"]})", "ok", {"a", "a"}},
      {"other keys ignored",
       R"({"x":{"ids":5},"y":[["z"]],"ids":["a"]})",
       "ok",
       {"a"}},
      {"nested ids key ignored",
       R"({"x":{"ids":["b"]},"ids":["a"]})",
       "ok",
       {"a"}},
      {"last ids wins", R"({"ids":[1],"ids":["a"]})", "ok", {"a"}},
      {"last ids wins, too many first",
       "{\"ids\":" + List("\"a\"", 1001) + ",\"ids\":[\"b\"]}",
       "ok",
       {"b"}},
      {"deep nesting elsewhere",
       "{\"x\":" + deep + ",\"ids\":[\"a\"]}",
       "ok",
       {"a"}},
      {"plain, spaced",
       " {\"ids\" :\t[ \"a-_Z09\" ,\r\n\"b\" ] } ",
       "ok",
       {"a-_Z09", "b"}},
      {"plain, empty id", R"({"ids":[""]})", "ok", {""}},
      {"plain prefix, then more keys", R"({"ids":["a"],"x":1})", "ok", {"a"}},
      {"plain prefix, then other ids",
       R"({"ids":["a"],"ids":["b"]})",
       "ok",
       {"b"}},
      {"plain prefix, id with a space", R"({"ids":["a b"]})", "ok", {"a b"}},
      {"1000 ids", IdsBody("\"a\"", 1000), "ok",
       std::vector<std::string>(1000, "a")},

      {"not json", "{not json", kNotObject},
      {"empty body", "", kNotObject},
      {"array", R"(["a"])", kNotObject},
      {"string", R"("ids")", kNotObject},
      {"number", "5", kNotObject},
      {"null", "null", kNotObject},
      {"truncated", R"({"ids":["a")", kNotObject},
      {"trailing garbage", R"({"ids":["a"]} x)", kNotObject},
      {"two objects", R"({"ids":[]}{})", kNotObject},
      {"trailing comma", R"({"ids":["a",]})", kNotObject},
      {"single quotes", R"({'ids':['a']})", kNotObject},
      {"comment", R"({"ids":["a"]/* c */})", kNotObject},
      {"raw control char", "{\"ids\":[\"a\nb\"]}", kNotObject},
      {"bad escape", R"({"ids":["\x41"]})", kNotObject},
      {"invalid utf-8 byte", "{\"ids\":[\"\xff\"]}", kNotObject},
      {"overlong utf-8", "{\"ids\":[\"\xc0\xaf\"]}", kNotObject},
      {"truncated utf-8", "{\"ids\":[\"\xe2\x82\"]}", kNotObject},
      {"utf-16 surrogate in utf-8", "{\"ids\":[\"\xed\xa0\x80\"]}", kNotObject},
      {"lone surrogate escape", R"({"ids":["\ud800"]})", kNotObject},
      {"number overflow", R"({"ids":[1e999]})", kNotObject},
      // nlohmann stops at a NUL byte, as it always did here.
      {"nul byte ends the body", std::string("{\"ids\":[]}\0x", 12), "ok", {}},
      {"malformed after too many", IdsBody("\"a\"", 2000) + ",", kNotObject},
      {"deep and unclosed", "{\"ids\":" + Repeat("[", 100000), kNotObject},

      {"form feed is not white space", "{\f\"ids\":[]}", kNotObject},
      {"missing comma", R"({"ids":["a""b"]})", kNotObject},
      {"leading comma", R"({"ids":[,"a"]})", kNotObject},
      {"extra bracket", R"({"ids":["a"]]})", kNotObject},
      {"extra brace", R"({"ids":["a"]}})", kNotObject},
      {"unclosed object", R"({"ids":["a"])", kNotObject},
      {"unclosed id", R"({"ids":["a)", kNotObject},
      {"no ids", "{}", kNoIds},
      {"ids in other case", R"({"IDS":["a"]})", kNoIds},
      {"ids a number", R"({"ids":5})", kNoIds},
      {"ids a string", R"({"ids":"a"})", kNoIds},
      {"ids null", R"({"ids":null})", kNoIds},
      {"ids an object", R"({"ids":{"a":"b"}})", kNoIds},
      {"last ids not a list", R"({"ids":["a"],"ids":5})", kNoIds},

      {"1001 ids", IdsBody("\"a\"", 1001), kTooMany},
      {"100000 ids", IdsBody("\"a\"", 100000), kTooMany},
      {"too many, not strings", IdsBody("1", 1001), kTooMany},
      {"too many nested", IdsBody("[\"a\"]", 1001), kTooMany},

      {"a number", R"({"ids":[1]})", kNotStrings},
      {"null id", R"({"ids":["a",null]})", kNotStrings},
      {"bool id", R"({"ids":[true]})", kNotStrings},
      {"float id", R"({"ids":[1.5]})", kNotStrings},
      {"nested list", R"({"ids":[["a"]]})", kNotStrings},
      {"object id", R"({"ids":[{"id":"a"}]})", kNotStrings},
      {"deeply nested list", "{\"ids\":[" + deep + "]}", kNotStrings},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto got = Parse(c.body);
    EXPECT_EQ(Outcome(got), c.want);
    EXPECT_EQ(Outcome(DomParse(c.body)), c.want) << "the reference disagrees";
    if (got) {
      EXPECT_EQ(*got, c.ids);
    }
  }
}

TEST(ParseResolveRequestTest, HugeIdIsKeptWhole) {
  const std::string id(1 << 20, 'x');
  auto got = Parse("{\"ids\":[\"" + id + "\"]}");
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0], id);
}

// Random bodies near the grammar, mutated: the parser must agree with the
// DOM reference on every one.
TEST(ParseResolveRequestTest, AgreesWithTheDomOnMutatedBodies) {
  std::mt19937 rng(20240601);
  auto pick = [&](size_t n) { return size_t(rng() % n); };
  const std::vector<std::string> atoms = {
      R"("AAAAAAAAAAAAAAAAAAAAAA")",
      R"("bad!")",
      R"("\u00e9\n")",
      "\"\xc3\xa9\"",
      "\"\xff\"",
      "1",
      "-0.5e3",
      "1e999",
      "null",
      "true",
      "[]",
      "{}",
      R"(["a"])",
      R"({"ids":["x"]})",
      R"("ids")",
  };
  const std::vector<std::string> noise = {
      "{",    "}",  "[", "]", ",", ":", "\"", "\\", " ", std::string(1, '\0'),
      "\xc3", "ids"};
  int successes = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string body = "{";
    const size_t keys = pick(4);
    for (size_t k = 0; k < keys; ++k) {
      if (k > 0) body += ',';
      body += pick(3) == 0 ? R"("x":)" : R"("ids":)";
      if (pick(4) == 0) {
        body += atoms[pick(atoms.size())];
      } else {
        body += '[';
        const size_t n = pick(8) == 0 ? 990 + pick(20) : pick(6);
        for (size_t i = 0; i < n; ++i) {
          if (i > 0) body += ',';
          body += pick(5) == 0 ? atoms[pick(atoms.size())] : atoms[0];
        }
        body += ']';
      }
    }
    body += '}';
    const size_t mutations = pick(3);
    for (size_t m = 0; m < mutations && !body.empty(); ++m) {
      const size_t at = pick(body.size());
      switch (pick(3)) {
        case 0:
          body.erase(at, 1);
          break;
        case 1:
          body.insert(at, noise[pick(noise.size())]);
          break;
        default:
          body.resize(at);
          break;
      }
    }
    SCOPED_TRACE(body.substr(0, 200));
    auto got = Parse(body);
    auto want = DomParse(body);
    ASSERT_EQ(Outcome(got), Outcome(want));
    if (want) {
      ASSERT_EQ(*got, *want);
      ++successes;
    }
  }
  EXPECT_GT(successes, 1000) << "the generator should yield valid bodies too";
}

// The reply the DOM used to build (nlohmann sorts keys).
std::string DomReply(const Resolver::Batch& batch) {
  json images = json::object();
  for (const Resolver::Found& f : batch.images) {
    images[f.id.str()] = {{"url", f.now.url}, {"available", f.now.available}};
  }
  return json{{"images", images}, {"missing", batch.missing}}.dump();
}

ImageId Id(std::string_view text) { return *ImageId::Parse(text); }

TEST(FormatResolveReplyTest, SameBytesAsTheDom) {
  struct Case {
    std::string what;
    Resolver::Batch batch;
  };
  std::vector<Case> cases;
  cases.push_back({"empty", {}});
  {
    Resolver::Batch b;
    b.images.push_back(
        {Id("AAAAAAAAAAAAAAAAAAAAAA"),
         {"http://n1:8080/aa/bb/AAAAAAAAAAAAAAAAAAAAAA.jpg", true}});
    b.images.push_back(
        {Id("BBBBBBBBBBBBBBBBBBBBBB"), {"http://t/default-image", false}});
    cases.push_back({"found", std::move(b)});
  }
  {
    Resolver::Batch b;
    b.missing = {"bad!",
                 "",
                 "quote\" backslash\\ slash/",
                 std::string("nul\0", 4),
                 "\x01\x08\x09\x0a\x0b\x0c\x0d\x1f\x7f",
                 "\xc3\xa9 \xf0\x9f\x98\x80",
                 "<script>&amp;",
                 "CCCCCCCCCCCCCCCCCCCCCC",
                 "CCCCCCCCCCCCCCCCCCCCCC"};
    cases.push_back({"missing, hostile", std::move(b)});
  }
  {
    Resolver::Batch b;
    b.images.push_back({Id("DDDDDDDDDDDDDDDDDDDDDD"),
                        {"http://h/\"quoted\"\\path\x01", true}});
    b.missing = {"x"};
    cases.push_back({"url needing escapes", std::move(b)});
  }
  {
    Resolver::Batch b;
    for (int i = 0; i < 1000; ++i) {
      std::string id = fmt::format("id{:020d}", i);
      b.images.push_back({Id(id), {"http://n/" + id, i % 3 != 0}});
      b.missing.push_back("m" + std::to_string(i));
    }
    cases.push_back({"a thousand", std::move(b)});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string got = FormatResolveReply(c.batch);
    EXPECT_EQ(got, DomReply(c.batch));
    json parsed = json::parse(got, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << got;
    EXPECT_EQ(parsed["missing"].get<std::vector<std::string>>(),
              c.batch.missing);
    EXPECT_EQ(parsed["images"].size(), c.batch.images.size());
  }
}

TEST(AppendJsonStringTest, EveryAsciiByteAsTheDom) {
  for (int c = 0; c < 0x80; ++c) {
    const std::string text = "a" + std::string(1, char(c)) + "b";
    std::string out;
    AppendJsonString(out, text);
    EXPECT_EQ(out, json(text).dump()) << "byte " << c;
    EXPECT_EQ(json::parse(out).get<std::string>(), text);
  }
}

TEST(AppendJsonStringTest, Table) {
  struct Case {
    std::string text, want;
  } cases[] = {
      {"", R"("")"},
      {"plain", R"("plain")"},
      {"\"", R"("\"")"},
      {"\\", R"("\\")"},
      {"\n\r\t\b\f", R"("\n\r\t\b\f")"},
      {std::string("\0", 1), R"("\u0000")"},
      {"\x1f", R"("\u001f")"},
      {"\x7f", "\"\x7f\""},
      {"\xc3\xa9", "\"\xc3\xa9\""},
      // Not valid UTF-8: passed through (the parser never lets it in).
      {"\xff", "\"\xff\""},
  };
  for (const Case& c : cases) {
    std::string out = "x";
    AppendJsonString(out, c.text);
    EXPECT_EQ(out, "x" + c.want);
  }
}

// ---- the resolver, over a real SQLite store ----

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenMetadataStore("sqlite:" + dir_.str() + "/meta.db");
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
    for (int i = 1; i <= 3; ++i) Beat(i);
    registry_ = std::make_unique<ServerRegistry>(*store_, clock_,
                                                 std::chrono::seconds(6));
    ASSERT_TRUE(registry_->Refresh().has_value());
    resolver_ = std::make_unique<Resolver>(*store_, *registry_,
                                           "http://t/default-image");
  }

  void Beat(int i) {
    ASSERT_TRUE(store_
                    ->RecordHeartbeat(
                        "n" + std::to_string(i),
                        "http://127.0.0.1:" + std::to_string(9000 + i), "/r",
                        1000, int64_t(1) << 40, 0, clock_.NowSeconds())
                    .has_value());
  }

  ImageRecord Add(std::vector<int64_t> servers) {
    ImageRecord image{
        .id = ImageId::New(), .bytes = 10, .sha256 = std::string(64, 'a')};
    const ImagePath path = MakeImagePath(image.id, image.format);
    for (int64_t s : servers) image.placements.push_back({s, path.relative});
    EXPECT_TRUE(store_->AddImage(image).has_value());
    return image;
  }

  Resolver::Batch Resolve(const std::vector<std::string>& ids) {
    std::vector<std::string_view> views(ids.begin(), ids.end());
    auto batch = resolver_->ResolveMany(views);
    EXPECT_TRUE(batch.has_value()) << batch.error().message;
    return batch ? *std::move(batch) : Resolver::Batch{};
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<ServerRegistry> registry_;
  std::unique_ptr<Resolver> resolver_;
};

TEST_F(ResolverTest, KnownMissingAndRepeated) {
  ImageRecord a = Add({1});
  ImageRecord b = Add({2, 3});
  const std::string unknown = ImageId::New().str();
  Resolver::Batch batch = Resolve({unknown, a.id.str(), "bad!", b.id.str(),
                                   a.id.str(), unknown, "", "bad!"});
  ASSERT_EQ(batch.images.size(), 2u) << "each known image once";
  EXPECT_TRUE(batch.images[0].id < batch.images[1].id) << "sorted by id";
  for (const Resolver::Found& f : batch.images) {
    const ImageRecord& image = f.id == a.id ? a : b;
    EXPECT_TRUE(f.now.available);
    EXPECT_NE(f.now.url.find(image.placements[0].relative_path),
              std::string::npos)
        << f.now.url;
  }
  // Malformed first, then unknown, each once, in the order first sent.
  EXPECT_EQ(batch.missing, (std::vector<std::string>{"bad!", "", unknown}));
  EXPECT_TRUE(Resolve({}).images.empty());
  EXPECT_EQ(Resolve({"x"}).missing, std::vector<std::string>{"x"});
  EXPECT_EQ(Resolve({"x", "y", "x"}).missing,
            (std::vector<std::string>{"x", "y"}));
}

TEST_F(ResolverTest, UnusableCopiesGiveTheDefaultImage) {
  ImageRecord on1 = Add({1});
  ImageRecord on1and2 = Add({1, 2});
  clock_.Advance(std::chrono::seconds(10));
  Beat(2);  // server 1 (and 3) missed their heartbeats
  ASSERT_TRUE(registry_->Refresh().has_value());
  Resolver::Batch batch = Resolve({on1.id.str(), on1and2.id.str()});
  ASSERT_EQ(batch.images.size(), 2u);
  for (const Resolver::Found& f : batch.images) {
    if (f.id == on1.id) {
      EXPECT_FALSE(f.now.available);
      EXPECT_EQ(f.now.url, "http://t/default-image");
    } else {
      EXPECT_TRUE(f.now.available);
      EXPECT_EQ(f.now.url.rfind("http://127.0.0.1:9002/", 0), 0u) << f.now.url;
    }
  }
}

TEST_F(ResolverTest, ResolveOneAsTheRedirectNeedsIt) {
  ImageRecord a = Add({3});
  auto now = resolver_->ResolveOne(a.id.str());
  ASSERT_TRUE(now.has_value());
  EXPECT_TRUE(now->available);
  EXPECT_EQ(now->url, Resolve({a.id.str()}).images.at(0).now.url);
  for (std::string_view id : {std::string_view("AAAAAAAAAAAAAAAAAAAAAA"),
                              std::string_view("bad!"), std::string_view()}) {
    auto none = resolver_->ResolveOne(id);
    ASSERT_FALSE(none.has_value());
    EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(none.error().message, "no such image");
  }
}

// The choice the resolver made before it stopped building a list per image:
// among the usable copies (those on draining servers only when no other
// is usable), one by a hash of the id.
Resolved ListChoose(const ImageRecord& image, const ServerView& servers,
                    const std::string& fallback) {
  std::vector<std::pair<const ServerRow*, const Placement*>> usable;
  for (bool staying_only : {true, false}) {
    for (const Placement& p : image.placements) {
      for (const ServerRow& s : servers) {
        if (s.server_id == p.server_id && s.flg_usable &&
            !(staying_only && s.state == ServerState::kDraining))
          usable.emplace_back(&s, &p);
      }
    }
    if (!usable.empty()) break;
  }
  if (usable.empty()) return Resolved{fallback, false};
  const uint64_t h = XXH3_64bits(image.id.str().data(), image.id.str().size());
  const auto& [server, placement] = usable[h % usable.size()];
  return Resolved{Resolver::CopyUrl(*server, *placement), true};
}

// A copy on a draining server is about to move: handed out only when no
// other copy is usable.
TEST_F(ResolverTest, DrainingCopiesOnlyWhenNoOtherIsUsable) {
  ServerView servers;
  for (int64_t s = 1; s <= 2; ++s) {
    ServerRow row;
    row.server_id = s;
    row.server_url = "http://n" + std::to_string(s);
    row.flg_usable = true;
    servers.push_back(row);
  }
  servers[0].state = ServerState::kDraining;
  for (int i = 0; i < 50; ++i) {
    ImageRecord image{.id = ImageId::New()};
    image.placements = {{1, "p1"}, {2, "p2"}};
    EXPECT_EQ(resolver_->Choose(image, servers).url, "http://n2/p2");
    image.placements = {{1, "p1"}};
    EXPECT_EQ(resolver_->Choose(image, servers).url, "http://n1/p1");
  }
}

TEST_F(ResolverTest, ChooseIsStableAndUnchanged) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    ServerView servers;
    for (int64_t s = 1; s <= 5; ++s) {
      ServerRow row;
      row.server_id = s;
      row.server_url = "http://n" + std::to_string(s);
      row.flg_usable = rng() % 3 != 0;
      if (rng() % 4 == 0) row.state = ServerState::kDraining;
      servers.push_back(row);
    }
    std::shuffle(servers.begin(), servers.end(), rng);
    ImageRecord image{.id = ImageId::New()};
    for (int64_t s = 1; s <= 6; ++s) {  // 6: a server not in the view
      if (rng() % 2) image.placements.push_back({s, "p" + std::to_string(s)});
    }
    const Resolved got = resolver_->Choose(image, servers);
    const Resolved want =
        ListChoose(image, servers, resolver_->default_image_url());
    EXPECT_EQ(got.url, want.url);
    EXPECT_EQ(got.available, want.available);
    EXPECT_EQ(resolver_->Choose(image, servers).url, got.url) << "stable";
  }
}

TEST_F(ResolverTest, LocationChoosesAsTheRecordDoes) {
  // Resolve reads locations (MetadataStore::Locate), the image API full
  // records: for the same image both must give the same URL.
  std::mt19937 rng(3);
  for (int round = 0; round < 500; ++round) {
    ServerView servers;
    for (int64_t s = 1; s <= 4; ++s) {
      ServerRow row;
      row.server_id = s;
      row.server_url = "http://n" + std::to_string(s);
      row.flg_usable = rng() % 3 != 0;
      if (rng() % 4 == 0) row.state = ServerState::kDraining;
      servers.push_back(row);
    }
    const auto format = static_cast<ImageFormat>(rng() % 6);
    ImageRecord image{.id = ImageId::New(), .format = format};
    ImageLocation location{image.id, format, {}};
    for (int64_t s = 1; s <= 5; ++s) {
      if (rng() % 2) {
        image.placements.push_back(
            {s, MakeImagePath(image.id, format).relative});
        location.server_ids.push_back(s);
      }
    }
    const Resolved want = resolver_->Choose(image, servers);
    const Resolved got = resolver_->Choose(location, servers);
    EXPECT_EQ(got.url, want.url);
    EXPECT_EQ(got.available, want.available);
  }
}

}  // namespace
}  // namespace imgstore
