#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/signing.h"
#include "http/client.h"
#include "http/message.h"

namespace imgstore::http {

// The signed protocol between trackers and nodes (core/signing.h) on the
// wire: one place that puts a signature into a request's headers and one
// that takes it out again.

// The target a request to `url` is signed for: "host:port", the host in
// lower case and the port always written. A server's own targets come from
// its own URLs the same way.
std::string SignatureTarget(const Url& url);

// Signs `request` for its method, its URL's target and path (without the
// query: the receiver verifies Request::path) and its body.
// kInvalidArgument for a bad URL.
Result<void> SignRequest(ClientRequest& request, std::string_view secret,
                         const Clock& clock);

// The header fields that carry `signature` (the protocol version only when
// it names one); SignatureOf reads them back.
std::vector<std::pair<std::string, std::string>> SignatureHeaders(
    const Signature& signature);

// The signature a request carries; an empty mac when it carries none.
Signature SignatureOf(const RequestMessage& message);
Signature SignatureOf(const Request& request);

}  // namespace imgstore::http
