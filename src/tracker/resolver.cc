#include "tracker/resolver.h"

#include <xxhash.h>

namespace imgstore {

std::string Resolver::CopyUrl(const ServerRow& server,
                              const Placement& placement) {
  return server.server_url + "/" + placement.relative_path;
}

Resolved Resolver::Choose(const ImageRecord& image,
                          const ServerView& servers) const {
  std::vector<std::pair<const ServerRow*, const Placement*>> usable;
  for (const Placement& p : image.placements) {
    for (const ServerRow& s : servers) {
      if (s.server_id == p.server_id && s.flg_usable)
        usable.emplace_back(&s, &p);
    }
  }
  if (usable.empty()) return Resolved{default_image_url_, false};
  const uint64_t h = XXH3_64bits(image.id.str().data(), image.id.str().size());
  const auto& [server, placement] = usable[h % usable.size()];
  return Resolved{CopyUrl(*server, *placement), true};
}

Result<Resolver::Batch> Resolver::ResolveMany(
    const std::vector<std::string>& ids) const {
  Batch batch;
  std::vector<ImageId> parsed;
  parsed.reserve(ids.size());
  for (const std::string& text : ids) {
    auto id = ImageId::Parse(text);
    if (id) {
      parsed.push_back(std::move(*id));
    } else {
      batch.missing.push_back(text);
    }
  }
  auto images = store_.GetImages(parsed);
  if (!images) return Fail(images.error());
  const ServerView servers = registry_.Snapshot();
  for (const ImageRecord& image : *images) {
    batch.images.emplace(image.id.str(), Choose(image, servers));
  }
  for (const ImageId& id : parsed) {
    if (!batch.images.count(id.str())) batch.missing.push_back(id.str());
  }
  return batch;
}

}  // namespace imgstore
