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
  if (!signature.protocol.empty())
    fields.emplace_back(std::string(kProtocolHeader), signature.protocol);
  return fields;
}

Signature SignatureOf(const Request& request) {
  return Signature{std::string(request.Header(kTargetHeader)),
                   std::string(request.Header(kTimeHeader)),
                   std::string(request.Header(kNonceHeader)),
                   std::string(request.Header(kSignatureHeader)),
                   std::string(request.Header(kProtocolHeader))};
}

}  // namespace imgstore::http
