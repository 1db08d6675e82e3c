#include "http/multipart.h"

#include <gtest/gtest.h>

namespace imgstore::http {
namespace {

TEST(MultipartTest, FindsTheField) {
  const std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"a.png\"\r\n"
      "Content-Type: image/png\r\n\r\n\x89PNG\r\n--not-it\r\n"
      "--XyZ--\r\n";
  auto part = FindFormField("multipart/form-data; boundary=XyZ", body, "file");
  ASSERT_TRUE(part.has_value()) << part.error().message;
  EXPECT_EQ(part->body, "\x89PNG\r\n--not-it");
  EXPECT_EQ(part->filename, "a.png");
  EXPECT_EQ(part->content_type, "image/png");
  auto quoted =
      FindFormField("multipart/form-data; boundary=\"XyZ\"", body, "title");
  ASSERT_TRUE(quoted.has_value());
  EXPECT_EQ(quoted->body, "hello");
}

// Parameter names are case-insensitive (RFC 2045 §5.1); values are not.
TEST(MultipartTest, ParameterNamesInAnyCase) {
  const std::string body =
      "--XyZ\r\nCONTENT-DISPOSITION: form-data; Name=\"file\"; "
      "FileName=\"A.png\"\r\n\r\nbytes\r\n--XyZ--\r\n";
  auto part = FindFormField("multipart/form-data; BOUNDARY=XyZ", body, "file");
  ASSERT_TRUE(part.has_value()) << part.error().message;
  EXPECT_EQ(part->body, "bytes");
  EXPECT_EQ(part->filename, "A.png");
  EXPECT_FALSE(
      FindFormField("multipart/form-data; boundary=xyz", body, "file"));
}

TEST(MultipartTest, RefusesMalformed) {
  const char* bodies[] = {
      "", "--XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n",
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nno end"};
  for (const char* b : bodies) {
    EXPECT_FALSE(FindFormField("multipart/form-data; boundary=XyZ", b, "file")
                     .has_value())
        << b;
  }
  EXPECT_FALSE(
      FindFormField("multipart/form-data", "--x\r\n", "file").has_value());
}

// A form's <input multiple> sends one part per file: taking the first and
// dropping the rest unsaid would lose uploads, so it is refused.
TEST(MultipartTest, RefusesTheFieldTwice) {
  const std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nA\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nB\r\n"
      "--XyZ--\r\n";
  auto two = FindFormField("multipart/form-data; boundary=XyZ", body, "file");
  ASSERT_FALSE(two.has_value());
  EXPECT_NE(two.error().message.find("more than one"), std::string::npos);
}

}  // namespace
}  // namespace imgstore::http
