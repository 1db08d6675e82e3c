#include "http/signed.h"

namespace imgstore::http {

Result<void> SignRequest(ClientRequest& request, std::string_view secret,
                         const Clock& clock) {
  auto url = ParseUrl(request.url);
  if (!url) return Fail(url.error());
  std::string_view path = url->path;
  path = path.substr(0, path.find('?'));
  const std::string_view body = request.borrowed_body.empty()
                                    ? std::string_view(request.body)
                                    : request.borrowed_body;
  Signature s = Sign(secret, request.method, path, body, clock);
  request.headers.emplace_back(std::string(kTimeHeader), std::move(s.time));
  request.headers.emplace_back(std::string(kNonceHeader), std::move(s.nonce));
  request.headers.emplace_back(std::string(kSignatureHeader), std::move(s.mac));
  request.headers.emplace_back(std::string(kProtocolHeader),
                               std::move(s.protocol));
  return {};
}

Signature SignatureOf(const Request& request) {
  return Signature{std::string(request.Header(kTimeHeader)),
                   std::string(request.Header(kNonceHeader)),
                   std::string(request.Header(kSignatureHeader)),
                   std::string(request.Header(kProtocolHeader))};
}

}  // namespace imgstore::http
