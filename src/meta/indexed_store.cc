#include "meta/indexed_store.h"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace imgstore {

namespace {

// An id of the shape ImageId::New makes — 22 characters carrying 128 bits,
// the last character's low 4 bits zero — packed into 16 bytes: the key of
// the compact table. Half the size of the text, and no allocation. Each
// position decodes with the alphabet New writes there, so the packing is
// one-to-one and the bits of new ids come out as New drew them.
struct PackedId {
  uint64_t hi = 0;
  uint64_t lo = 0;
  friend bool operator==(const PackedId&, const PackedId&) = default;
};

// The 6-bit value of each character (ImageId holds no other), in each of
// the two alphabets. Tables, not comparisons: random ids made those
// branches mispredict on most characters, and Pack runs for every id of
// every resolve.
constexpr std::array<uint8_t, 256> SextetTable(const char* alphabet) {
  std::array<uint8_t, 256> table{};
  for (unsigned i = 0; i < 64; ++i) {
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<uint8_t>(i);
  }
  return table;
}
constexpr std::array<uint8_t, 256> kSextets = SextetTable(ImageId::kAlphabet);
constexpr std::array<uint8_t, 256> kOrderedSextets =
    SextetTable(ImageId::kOrderedAlphabet);

unsigned Sextet(const std::string& id, size_t i) {
  const auto c = static_cast<unsigned char>(id[i]);
  return i < ImageId::kOrderedChars ? kOrderedSextets[c] : kSextets[c];
}

std::optional<PackedId> Pack(const std::string& id) {
  constexpr size_t kLength = 22;  // ceil(128 / 6)
  if (id.size() != kLength) return std::nullopt;
  const unsigned last = Sextet(id, kLength - 1);
  if ((last & 15) != 0) return std::nullopt;  // 132 bits: not packable
  PackedId out;
  auto push = [&out](uint64_t bits, int n) {
    out.hi = (out.hi << n) | (out.lo >> (64 - n));
    out.lo = (out.lo << n) | bits;
  };
  for (size_t i = 0; i + 1 < kLength; ++i) push(Sextet(id, i), 6);
  push(last >> 4, 2);
  if (out == PackedId{}) return std::nullopt;  // CompactTable's empty slot
  return out;
}

// Allocates the compact table's arrays of 2 MiB and more on 2 MiB
// boundaries and asks for transparent huge pages there (Debian's default
// is "madvise"): at 1 M images the table is ~64 MB of random lookups, and
// with 4 KiB pages nearly every lookup also missed the TLB — in a VM a
// two-level page walk. Smaller arrays come from the heap as usual.
template <typename T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHugePage = size_t{2} << 20;

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: rebinding

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kHugePage) return std::allocator<T>().allocate(n);
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = std::aligned_alloc(kHugePage, rounded);
    if (p == nullptr) throw std::bad_alloc();
    // Advice only: without huge pages the table works the same, slower.
    (void)madvise(p, rounded, MADV_HUGEPAGE);
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < kHugePage) {
      std::allocator<T>().deallocate(p, n);
    } else {
      std::free(p);
    }
  }
  template <typename U>
  friend bool operator==(const HugePageAllocator&,
                         const HugePageAllocator<U>&) {
    return true;
  }
};

// A location in the compact table: up to kServers server ids that fit 32
// bits (SQLite's row ids in practice), ascending, and the format.
struct Compact {
  // Two copies by default, three while repair or rebalance moves one.
  static constexpr size_t kServers = 3;
  uint32_t servers[kServers] = {};
  uint8_t format = 0;
  uint8_t count = 0;
};

// The servers of an image's copies, ascending: as the index keeps them.
ServerIds SortedServerIds(const ImageRecord& image) {
  ServerIds servers;
  for (const Placement& p : image.placements) servers.push_back(p.server_id);
  std::sort(servers.begin(), servers.end());
  return servers;
}

bool FitsCompact(const ServerIds& servers) {
  if (servers.size() > Compact::kServers) return false;
  return std::all_of(servers.begin(), servers.end(), [](int64_t id) {
    return id >= 0 && id <= int64_t{UINT32_MAX};
  });
}

// PackedId -> Compact by open addressing with linear probing, in one
// array of 32-byte slots (two to a cache line; an all-zero key marks an
// empty slot, and Pack never makes one). Written rather than taken from
// Boost for one thing: Prefetch, which lets Locate start the cache miss of
// every id of a batch before it waits for the first (at 1 M images each
// lookup misses; one after another they were a fifth of a resolve).
class CompactTable {
 public:
  CompactTable() : slots_(kMinSlots) {}

  const Compact* Find(const PackedId& key) const {
    for (size_t i = Home(key);; i = (i + 1) & mask()) {
      const Slot& slot = slots_[i];
      if (slot.key == key) return &slot.value;
      if (slot.key == PackedId{}) return nullptr;
    }
  }

  void Prefetch(const PackedId& key) const {
    __builtin_prefetch(&slots_[Home(key)]);
  }

  void InsertOrAssign(const PackedId& key, const Compact& value) {
    // Grown at 3/4 full: a miss then probes ~8 slots, four cache lines.
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
    size_t i = Home(key);
    while (slots_[i].key != PackedId{} && !(slots_[i].key == key)) {
      i = (i + 1) & mask();
    }
    if (slots_[i].key == PackedId{}) ++size_;
    slots_[i] = Slot{key, value};
  }

  void Erase(const PackedId& key) {
    size_t i = Home(key);
    for (;; i = (i + 1) & mask()) {
      if (slots_[i].key == PackedId{}) return;
      if (slots_[i].key == key) break;
    }
    // Backward shift (Knuth's algorithm R): move up each later entry of
    // the run whose home is not between the hole and it, so that no
    // probe sequence crosses an empty slot before its key.
    for (size_t j = i;;) {
      j = (j + 1) & mask();
      if (slots_[j].key == PackedId{}) break;
      const size_t home = Home(slots_[j].key);
      const bool stays =
          i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = Slot{};
    --size_;
  }

  size_t size() const { return size_; }
  size_t bytes() const { return slots_.size() * sizeof(Slot); }

 private:
  struct alignas(32) Slot {
    PackedId key;
    Compact value;
  };
  static_assert(sizeof(Slot) == 32);
  static constexpr size_t kMinSlots = 16;

  size_t mask() const { return slots_.size() - 1; }
  size_t Home(const PackedId& key) const {
    // lo's bits are random (RAND_bytes), hi's low half too; the multiply
    // spreads ids that Parse accepted but New did not make.
    return static_cast<size_t>((key.lo ^ key.hi) * 0x9e3779b97f4a7c15ULL) &
           mask();
  }

  void Grow() {
    std::vector<Slot, HugePageAllocator<Slot>> old(slots_.size() * 2);
    old.swap(slots_);
    size_ = 0;
    for (const Slot& slot : old) {
      if (slot.key != PackedId{}) InsertOrAssign(slot.key, slot.value);
    }
  }

  std::vector<Slot, HugePageAllocator<Slot>> slots_;  // a power of two
  size_t size_ = 0;
};

// Everything else: ids that do not pack, many copies, large server ids.
struct General {
  ImageFormat format;
  std::vector<int64_t> servers;
};

}  // namespace

// The two tables. An image is in at most one of them: the compact one
// when its id packs and its servers fit, else the general one. Not
// thread-safe: IndexedStore::mu_ guards it.
class IndexedStore::Index {
 public:
  // The compact entry of `id`, or nullptr when it has none (it may still
  // be in the general table). Cheap to call for a whole batch before
  // reading any entry: the table lookups are then independent and their
  // cache misses overlap (at 1 M images each one is a miss).
  const Compact* FindCompact(const std::optional<PackedId>& packed) const {
    return packed ? compact_.Find(*packed) : nullptr;
  }
  void Prefetch(const std::optional<PackedId>& packed) const {
    if (packed) compact_.Prefetch(*packed);
  }

  // The location of `id` given FindCompact's answer for it.
  std::optional<ImageLocation> Get(const ImageId& id,
                                   const Compact* compact) const {
    if (compact != nullptr) return Unpack(id, *compact);
    if (general_.empty()) return std::nullopt;
    auto it = general_.find(id.str());
    if (it == general_.end()) return std::nullopt;
    const std::vector<int64_t>& servers = it->second.servers;
    return ImageLocation{id, it->second.format,
                         ServerIds(servers.begin(), servers.end())};
  }

  std::optional<ImageLocation> Get(const ImageId& id) const {
    if (auto packed = Pack(id.str())) {
      if (const Compact* entry = compact_.Find(*packed)) {
        return Unpack(id, *entry);
      }
    }
    if (general_.empty()) return std::nullopt;
    auto it = general_.find(id.str());
    if (it == general_.end()) return std::nullopt;
    const std::vector<int64_t>& servers = it->second.servers;
    return ImageLocation{id, it->second.format,
                         ServerIds(servers.begin(), servers.end())};
  }

  // Records (or replaces) the location; `servers` ascending, each once.
  void Put(const ImageId& id, ImageFormat format, const ServerIds& servers) {
    auto packed = Pack(id.str());
    if (packed && FitsCompact(servers)) {
      Compact entry;
      entry.format = static_cast<uint8_t>(format);
      entry.count = static_cast<uint8_t>(servers.size());
      for (size_t i = 0; i < servers.size(); ++i) {
        entry.servers[i] = static_cast<uint32_t>(servers[i]);
      }
      compact_.InsertOrAssign(*packed, entry);
      if (!general_.empty()) general_.erase(id.str());
      return;
    }
    if (packed) compact_.Erase(*packed);
    general_.insert_or_assign(
        id.str(),
        General{format, std::vector<int64_t>(servers.begin(), servers.end())});
  }

  void Erase(const ImageId& id) {
    if (auto packed = Pack(id.str())) compact_.Erase(*packed);
    if (!general_.empty()) general_.erase(id.str());
  }

  size_t size() const { return compact_.size() + general_.size(); }

  size_t memory_bytes() const {
    // The compact table: a slot and a metadata byte per bucket. The
    // general one: a node (key, value, link, hash) and a bucket pointer
    // per entry, and the strings and vectors they own.
    size_t bytes = compact_.bytes();
    bytes += general_.bucket_count() * sizeof(void*);
    for (const auto& [key, value] : general_) {
      bytes += sizeof(GeneralMap::value_type) + 2 * sizeof(void*) +
               key.capacity() + value.servers.capacity() * sizeof(int64_t);
    }
    return bytes;
  }

 private:
  using GeneralMap = std::unordered_map<std::string, General>;

  static ImageLocation Unpack(const ImageId& id, const Compact& entry) {
    ImageLocation out{id, static_cast<ImageFormat>(entry.format), {}};
    out.server_ids.assign(entry.servers, entry.servers + entry.count);
    return out;
  }

  CompactTable compact_;
  GeneralMap general_;
};

Result<std::unique_ptr<IndexedStore>> IndexedStore::Open(
    std::unique_ptr<MetadataStore> inner, int64_t page_size) {
  if (page_size <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "load page must be positive");
  }
  auto index = std::make_unique<Index>();
  std::string after;
  for (;;) {
    auto page = inner->LocationsAfter(after, page_size);
    if (!page) {
      return Fail(page.error().code,
                  "load the resolve index: " + page.error().message);
    }
    for (ImageLocation& location : *page) {
      index->Put(location.id, location.format, location.server_ids);
    }
    if (static_cast<int64_t>(page->size()) < page_size) break;
    after = page->back().id.str();
  }
  return std::unique_ptr<IndexedStore>(
      new IndexedStore(std::move(inner), std::move(index)));
}

IndexedStore::IndexedStore(std::unique_ptr<MetadataStore> inner,
                           std::unique_ptr<Index> index)
    : inner_(std::move(inner)), index_(std::move(index)) {}

IndexedStore::~IndexedStore() = default;

size_t IndexedStore::size() const {
  std::shared_lock lock(mu_);
  return index_->size();
}

size_t IndexedStore::memory_bytes() const {
  std::shared_lock lock(mu_);
  return index_->memory_bytes();
}

std::mutex& IndexedStore::WriteLock(const ImageId& id) {
  return write_locks_[std::hash<std::string>{}(id.str()) % kWriteLocks];
}

Result<std::vector<ImageLocation>> IndexedStore::Locate(
    const std::vector<ImageId>& ids) {
  // Sorted and each once first, so the answer comes out in id order.
  std::vector<const ImageId*> unique;
  unique.reserve(ids.size());
  for (const ImageId& id : ids) unique.push_back(&id);
  std::sort(unique.begin(), unique.end(),
            [](const ImageId* a, const ImageId* b) { return *a < *b; });
  unique.erase(
      std::unique(unique.begin(), unique.end(),
                  [](const ImageId* a, const ImageId* b) { return *a == *b; }),
      unique.end());
  std::vector<const Compact*> found(unique.size());
  std::vector<ImageLocation> out;
  out.reserve(unique.size());
  std::shared_lock lock(mu_);
  // Every slot is asked for before any is read, so the cache misses of a
  // batch overlap; then the lookups; then the copies out (which allocate).
  std::vector<std::optional<PackedId>> packed(unique.size());
  for (size_t i = 0; i < unique.size(); ++i) {
    packed[i] = Pack(unique[i]->str());
    index_->Prefetch(packed[i]);
  }
  for (size_t i = 0; i < unique.size(); ++i) {
    found[i] = index_->FindCompact(packed[i]);
  }
  for (size_t i = 0; i < unique.size(); ++i) {
    if (auto location = index_->Get(*unique[i], found[i])) {
      out.push_back(*std::move(location));
    }
  }
  return out;
}

// ---- writes that change locations ----
//
// Each holds the image's write lock from before the store call until the
// index is updated: two writes to one image (an upload and the repairer's
// first copy of it, a delete and a move) then reach the index in the order
// they committed, which is all the index needs to stay exact.

Result<void> IndexedStore::AddImage(const ImageRecord& image) {
  std::lock_guard order(WriteLock(image.id));
  auto added = inner_->AddImage(image);
  if (!added) return added;
  std::unique_lock lock(mu_);
  index_->Put(image.id, image.format, SortedServerIds(image));
  return added;
}

Result<std::optional<ImageId>> IndexedStore::AddImageIfNew(
    const ImageRecord& image) {
  std::lock_guard order(WriteLock(image.id));
  auto added = inner_->AddImageIfNew(image);
  if (!added || *added) return added;
  std::unique_lock lock(mu_);
  index_->Put(image.id, image.format, SortedServerIds(image));
  return added;
}

Result<ImageRecord> IndexedStore::DeleteImage(const ImageId& id) {
  std::lock_guard order(WriteLock(id));
  auto deleted = inner_->DeleteImage(id);
  if (!deleted) return deleted;
  std::unique_lock lock(mu_);
  index_->Erase(id);
  return deleted;
}

Result<void> IndexedStore::AddPlacement(const ImageId& id,
                                        const Placement& placement) {
  std::lock_guard order(WriteLock(id));
  auto added = inner_->AddPlacement(id, placement);
  if (!added) return added;
  std::unique_lock lock(mu_);
  auto location = index_->Get(id);
  if (!location) return added;  // cannot be: the store had the image
  auto& servers = location->server_ids;
  auto at =
      std::lower_bound(servers.begin(), servers.end(), placement.server_id);
  if (at == servers.end() || *at != placement.server_id) {
    servers.insert(at, placement.server_id);
  }
  index_->Put(id, location->format, servers);
  return added;
}

Result<void> IndexedStore::RemovePlacement(const ImageId& id,
                                           int64_t server_id) {
  std::lock_guard order(WriteLock(id));
  auto removed = inner_->RemovePlacement(id, server_id);
  if (!removed) return removed;
  std::unique_lock lock(mu_);
  auto location = index_->Get(id);
  if (!location) return removed;
  auto& servers = location->server_ids;
  servers.erase(std::remove(servers.begin(), servers.end(), server_id),
                servers.end());
  index_->Put(id, location->format, servers);
  return removed;
}

// ---- forwarded ----

Result<std::vector<ServerRow>> IndexedStore::ListServers() {
  return inner_->ListServers();
}
Result<ServerRow> IndexedStore::AddServer(const std::string& name,
                                          const std::string& url,
                                          int64_t max_pic_amount) {
  return inner_->AddServer(name, url, max_pic_amount);
}
Result<ServerRow> IndexedStore::RecordHeartbeat(
    const std::string& name, const std::string& url, const std::string& root,
    int64_t max_pic_amount, int64_t disk_free_bytes, int64_t bytes_used,
    int64_t now) {
  return inner_->RecordHeartbeat(name, url, root, max_pic_amount,
                                 disk_free_bytes, bytes_used, now);
}
Result<void> IndexedStore::SetInternalUrl(int64_t server_id,
                                          const std::string& url) {
  return inner_->SetInternalUrl(server_id, url);
}
Result<void> IndexedStore::SetUsable(int64_t server_id, bool usable) {
  return inner_->SetUsable(server_id, usable);
}
Result<ServerRow> IndexedStore::UpdateServer(int64_t server_id,
                                             const ServerUpdate& update) {
  return inner_->UpdateServer(server_id, update);
}
Result<void> IndexedStore::RemoveServer(int64_t server_id) {
  return inner_->RemoveServer(server_id);
}
Result<ImageRecord> IndexedStore::GetImage(const ImageId& id) {
  return inner_->GetImage(id);
}
Result<std::vector<ImageRecord>> IndexedStore::GetImages(
    const std::vector<ImageId>& ids) {
  return inner_->GetImages(ids);
}
Result<std::vector<ImageId>> IndexedStore::FindBySha256(
    const std::string& sha256) {
  return inner_->FindBySha256(sha256);
}
Result<std::vector<ImageRecord>> IndexedStore::RecentImages(int64_t limit,
                                                            int64_t offset) {
  return inner_->RecentImages(limit, offset);
}
Result<StoreStats> IndexedStore::Stats() { return inner_->Stats(); }
Result<std::vector<ServerCopy>> IndexedStore::CopiesOnServer(
    int64_t server_id, const std::string& after_path, int64_t limit) {
  return inner_->CopiesOnServer(server_id, after_path, limit);
}
Result<std::vector<ImageRecord>> IndexedStore::ImagesAfter(
    const std::string& after_id, int64_t limit) {
  return inner_->ImagesAfter(after_id, limit);
}
Result<std::vector<ImageLocation>> IndexedStore::LocationsAfter(
    const std::string& after_id, int64_t limit) {
  return inner_->LocationsAfter(after_id, limit);
}
Result<void> IndexedStore::QueueRepair(const ImageId& id, int64_t now) {
  return inner_->QueueRepair(id, now);
}

Result<int64_t> IndexedStore::QueueImagesShortOf(int64_t copies, int64_t now) {
  return inner_->QueueImagesShortOf(copies, now);
}
Result<std::vector<ImageId>> IndexedStore::RepairQueue(
    const std::string& after_id, int64_t limit) {
  return inner_->RepairQueue(after_id, limit);
}
Result<void> IndexedStore::DequeueRepair(const ImageId& id) {
  return inner_->DequeueRepair(id);
}
Result<int64_t> IndexedStore::RepairQueueLength() {
  return inner_->RepairQueueLength();
}
Result<void> IndexedStore::QueueFileDelete(const FileDelete& file,
                                           int64_t now) {
  return inner_->QueueFileDelete(file, now);
}
Result<std::vector<FileDelete>> IndexedStore::FileDeletes(int64_t server_id,
                                                          int64_t limit) {
  return inner_->FileDeletes(server_id, limit);
}
Result<void> IndexedStore::DequeueFileDelete(const FileDelete& file) {
  return inner_->DequeueFileDelete(file);
}
Result<bool> IndexedStore::AcquireLease(const std::string& name,
                                        const std::string& holder, int64_t now,
                                        int64_t ttl_seconds) {
  return inner_->AcquireLease(name, holder, now, ttl_seconds);
}
Result<void> IndexedStore::SetSetting(const std::string& name,
                                      const std::string& value) {
  return inner_->SetSetting(name, value);
}
Result<std::optional<std::string>> IndexedStore::GetSetting(
    const std::string& name) {
  return inner_->GetSetting(name);
}

}  // namespace imgstore
