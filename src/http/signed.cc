#include "http/signed.h"

#include <algorithm>
#include <cctype>

namespace imgstore::http {

std::string SignatureTarget(const Url& url) {
  std::string host = url.host;
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return host + ":" + url.port;
}

Result<void> SignRequest(ClientRequest& request, std::string_view secret,
                         const Clock& clock) {
  auto url = ParseUrl(request.url);
  if (!url) return Fail(url.error());
  std::string_view path = url->path;
  path = path.substr(0, path.find('?'));
  const std::string_view body = request.borrowed_body.empty()
                                    ? std::string_view(request.body)
                                    : request.borrowed_body;
  for (auto& field : SignatureHeaders(Sign(
           secret, request.method, SignatureTarget(*url), path, body, clock))) {
    request.headers.push_back(std::move(field));
  }
  return {};
}

std::vector<std::pair<std::string, std::string>> SignatureHeaders(
    const Signature& signature) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {std::string(kTargetHeader), signature.target},
      {std::string(kTimeHeader), signature.time},
      {std::string(kNonceHeader), signature.nonce},
      {std::string(kSignatureHeader), signature.mac}};
  if (!signature.head.empty())
    fields.emplace_back(std::string(kHeadHeader), signature.head);
  if (!signature.protocol.empty())
    fields.emplace_back(std::string(kProtocolHeader), signature.protocol);
  return fields;
}

Signature SignatureOf(const RequestMessage& message) {
  auto field = [&](std::string_view name) {
    auto it = message.find(name);
    return it == message.end() ? std::string() : std::string(it->value());
  };
  Signature s{field(kTargetHeader), field(kTimeHeader), field(kNonceHeader),
              field(kSignatureHeader), field(kProtocolHeader)};
  s.head = field(kHeadHeader);
  return s;
}

Signature SignatureOf(const Request& request) {
  return SignatureOf(request.message);
}

}  // namespace imgstore::http
