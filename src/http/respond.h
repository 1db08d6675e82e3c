#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/error.h"
#include "http/message.h"

namespace imgstore::http {

// The one table from ErrorCode to HTTP status (see core/error.h).
beast_http::status StatusFor(ErrorCode code);

// {"error":{"code","message"}} with the status of error.code.
Response ErrorResponse(const Error& error);
Response ErrorResponse(ErrorCode code, std::string message);

Response Json(beast_http::status status, const nlohmann::json& body);
Response Text(beast_http::status status, std::string body,
              std::string_view content_type = "text/plain; charset=utf-8");
Response Empty(beast_http::status status);
// 302 to `location`, cacheable for `max_age_s` seconds.
Response Redirect(std::string_view location, int max_age_s);

}  // namespace imgstore::http
