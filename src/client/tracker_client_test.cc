#include "client/tracker_client.h"

#include <gtest/gtest.h>

namespace imgstore {
namespace {

TEST(TrackerClientTest, CodeForStatusInvertsTheStatusTable) {
  EXPECT_EQ(CodeForStatus(400), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeForStatus(401), ErrorCode::kUnauthenticated);
  EXPECT_EQ(CodeForStatus(403), ErrorCode::kForbidden);
  EXPECT_EQ(CodeForStatus(404), ErrorCode::kNotFound);
  EXPECT_EQ(CodeForStatus(409), ErrorCode::kConflict);
  EXPECT_EQ(CodeForStatus(413), ErrorCode::kTooLarge);
  EXPECT_EQ(CodeForStatus(415), ErrorCode::kUnsupportedMedia);
  EXPECT_EQ(CodeForStatus(422), ErrorCode::kUndecodable);
  EXPECT_EQ(CodeForStatus(503), ErrorCode::kUnavailable);
  EXPECT_EQ(CodeForStatus(507), ErrorCode::kInsufficientStorage);
  EXPECT_EQ(CodeForStatus(500), ErrorCode::kInternal);
  EXPECT_EQ(CodeForStatus(418), ErrorCode::kInternal);
}

TEST(TrackerClientTest, ParsesAnImage) {
  auto m = ParseImageMeta(R"({"id":"abcdefghijklmnopqrstuv",
      "url":"http://n1/aa/bb/abcdefghijklmnopqrstuv.png","available":false,
      "content_type":"image/png","bytes":42,"width":3,"height":4,
      "sha256":"00","created_at":7,
      "replicas":[{"server_id":2,"url":"http://n2/x.png","usable":false},
                  {"server_id":3,"url":"http://n3/x.png"}]})");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->id, "abcdefghijklmnopqrstuv");
  EXPECT_FALSE(m->available);
  EXPECT_EQ(m->content_type, "image/png");
  EXPECT_EQ(m->bytes, 42);
  EXPECT_EQ(m->width, 3);
  EXPECT_EQ(m->height, 4);
  EXPECT_EQ(m->created_at, 7);
  ASSERT_EQ(m->replicas.size(), 2u);
  EXPECT_EQ(m->replicas[0].server_id, 2);
  EXPECT_FALSE(m->replicas[0].usable);
  EXPECT_TRUE(m->replicas[1].usable);  // absent: a fresh copy
  EXPECT_EQ(m->raw["bytes"], 42);
}

TEST(TrackerClientTest, RefusesMalformedImages) {
  const char* bad[] = {
      "",
      "[]",
      "not json",
      R"({"url":"u","sha256":"s","bytes":1})",
      R"({"id":"i","url":"u","sha256":"s","bytes":"1"})",
      R"({"id":"i","url":"u","sha256":"s","bytes":1,"replicas":[1]})",
      R"({"id":"i","url":"u","sha256":"s","bytes":1,"replicas":[{"url":"u"}]})",
  };
  for (const char* body : bad) {
    auto m = ParseImageMeta(body);
    EXPECT_FALSE(m) << body;
    if (!m) {
      EXPECT_EQ(m.error().code, ErrorCode::kInternal);
    }
  }
}

TEST(TrackerClientTest, ParsesTheServerList) {
  auto list = ParseServerList(R"({"servers":[
      {"server_id":1,"server_name":"node-1","server_url":"http://a:1",
       "pic_root_path":"/r","max_pic_amount":10,"cur_pic_amount":3,
       "flg_usable":true,"state":"draining","last_heartbeat_at":100,
       "heartbeat_age_s":2,"disk_free_bytes":5,"bytes_used":6}],
      "totals":{"servers":1,"usable":1,"images":2,"bytes":5,"copies":3,
                 "capacity":10,"bytes_used":6}})");
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->servers.size(), 1u);
  const ServerEntry& e = list->servers[0];
  EXPECT_EQ(e.row.server_id, 1);
  EXPECT_EQ(e.row.server_name, "node-1");
  EXPECT_EQ(e.row.state, ServerState::kDraining);
  EXPECT_TRUE(e.row.flg_usable);
  EXPECT_EQ(e.row.disk_free_bytes, 5);
  EXPECT_EQ(e.heartbeat_age_s, 2);
  EXPECT_EQ(list->totals.images, 2);
  EXPECT_EQ(list->totals.bytes, 5);
  EXPECT_EQ(list->totals.copies, 3);
  EXPECT_EQ(list->totals.capacity, 10);
  EXPECT_EQ(list->totals.bytes_used, 6);
}

TEST(TrackerClientTest, AddsUpTotalsWhenAbsent) {
  auto list = ParseServerList(R"({"servers":[
      {"server_id":1,"server_name":"a","server_url":"u1","max_pic_amount":10,
       "cur_pic_amount":3,"flg_usable":true,"state":"active","bytes_used":6},
      {"server_id":2,"server_name":"b","server_url":"u2","max_pic_amount":5,
       "cur_pic_amount":1,"flg_usable":false,"state":"disabled"}]})");
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(list->totals.servers, 2);
  EXPECT_EQ(list->totals.usable, 1);
  EXPECT_EQ(list->totals.images, 0);  // not told, and rows cannot say
  EXPECT_EQ(list->totals.copies, 4);
  EXPECT_EQ(list->totals.capacity, 15);
  EXPECT_EQ(list->totals.bytes_used, 6);
  EXPECT_EQ(list->servers[1].heartbeat_age_s, -1);
}

TEST(TrackerClientTest, RefusesMalformedServers) {
  EXPECT_FALSE(ParseServerList("{}"));
  EXPECT_FALSE(ParseServerList(R"({"servers":[{"server_id":1}]})"));
  EXPECT_FALSE(ParseServerList(R"({"servers":[
      {"server_id":1,"server_name":"a","server_url":"u","max_pic_amount":1,
       "cur_pic_amount":0,"flg_usable":true,"state":"melting"}]})"));
}

}  // namespace
}  // namespace imgstore
