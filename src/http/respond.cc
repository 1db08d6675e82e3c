#include "http/respond.h"

#include "core/wire.h"

namespace imgstore::http {

using beast_http::status;

status StatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return status::bad_request;
    case ErrorCode::kUnauthenticated:
      return status::unauthorized;
    case ErrorCode::kForbidden:
      return status::forbidden;
    case ErrorCode::kNotFound:
      return status::not_found;
    case ErrorCode::kMethodNotAllowed:
      return status::method_not_allowed;
    case ErrorCode::kConflict:
      return status::conflict;
    case ErrorCode::kTooLarge:
      return status::payload_too_large;
    case ErrorCode::kUnsupportedMedia:
      return status::unsupported_media_type;
    case ErrorCode::kUndecodable:
      return status::unprocessable_entity;
    case ErrorCode::kUnavailable:
      return status::service_unavailable;
    case ErrorCode::kInsufficientStorage:
      return status::insufficient_storage;
    case ErrorCode::kIo:
      return status::internal_server_error;
    case ErrorCode::kInternal:
      return status::internal_server_error;
  }
  return status::internal_server_error;
}

Response ErrorResponse(const Error& error) {
  Response r =
      Text(StatusFor(error.code), ErrorBody(error), "application/json");
  if (error.code == ErrorCode::kUnauthenticated) {
    r.message.set(beast_http::field::www_authenticate, "Bearer");
  }
  // Unavailable is passing (a server down, a database restarting): a
  // client may try again, not at once.
  if (error.code == ErrorCode::kUnavailable) {
    r.message.set(beast_http::field::retry_after, "2");
  }
  return r;
}

Response ErrorResponse(ErrorCode code, std::string message) {
  return ErrorResponse(Error{code, std::move(message)});
}

Response Json(status s, const nlohmann::json& body) {
  return Text(s, body.dump(), "application/json");
}

Response Text(status s, std::string body, std::string_view content_type) {
  Response r;
  r.message.result(s);
  r.message.set(beast_http::field::content_type, content_type);
  r.message.body() = std::move(body);
  r.message.prepare_payload();
  return r;
}

Response Empty(status s) {
  Response r;
  r.message.result(s);
  r.message.prepare_payload();
  return r;
}

Response Redirect(std::string_view location, int max_age_s) {
  Response r = Empty(status::found);
  r.message.set(beast_http::field::location, location);
  r.message.set(beast_http::field::cache_control,
                "public, max-age=" + std::to_string(max_age_s));
  return r;
}

}  // namespace imgstore::http
