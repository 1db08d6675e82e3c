#include "tracker/repairer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <thread>

#include "core/hex.h"
#include "core/layout.h"

namespace imgstore {

namespace {

constexpr std::string_view kRepairLease = "repair";

const ServerRow* FindServer(const ServerView& servers, int64_t id) {
  for (const ServerRow& s : servers) {
    if (s.server_id == id) return &s;
  }
  return nullptr;
}

double Fill(const ServerRow& s) {
  return s.max_pic_amount > 0
             ? double(s.cur_pic_amount) / double(s.max_pic_amount)
             : 1.0;
}

bool Holds(const ImageRecord& image, int64_t server_id) {
  return std::any_of(
      image.placements.begin(), image.placements.end(),
      [&](const Placement& p) { return p.server_id == server_id; });
}

// Calls fn(i) for every i < n, on up to `concurrency` threads of its own
// (the calling thread when one is enough): a node's round trip, not the
// CPU, bounds a repair, a move or a delete.
template <typename Fn>
void InParallel(size_t n, int concurrency, Fn fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  const size_t threads = std::min(n, size_t(std::max(1, concurrency)));
  if (threads <= 1) return work();
  std::vector<std::thread> workers;
  for (size_t t = 0; t < threads; ++t) workers.emplace_back(work);
  for (std::thread& t : workers) t.join();
}

// Advances a keyset cursor: back to the start once a page came back short.
template <typename T, typename Key>
void Advance(std::string& cursor, const std::vector<T>& page, int64_t limit,
             Key key) {
  cursor = int64_t(page.size()) < limit || page.empty()
               ? std::string()
               : std::string(key(page.back()));
}

}  // namespace

Repairer::Repairer(MetadataStore& store, ServerRegistry& registry,
                   NodeClient& nodes, const Clock& clock,
                   const RepairOptions& options)
    : store_(store),
      registry_(registry),
      nodes_(nodes),
      clock_(clock),
      options_(options) {}

Repairer::Role Repairer::RoleOf(const ServerRow* server) const {
  if (server == nullptr || server->state == ServerState::kRemoved)
    return Role::kLost;
  if (server->state == ServerState::kDraining) return Role::kLeaving;
  if (server->flg_usable) return Role::kLive;
  // Silent since its last beat, or since the registry could last believe
  // the recorded beats, whichever is later: a tracker that was itself down,
  // or could not read the database, must hear from each server for a grace
  // period before calling it lost (ServerRegistry::HealthKnownSince).
  const int64_t silent =
      clock_.NowSeconds() -
      std::max(server->last_heartbeat_at, registry_.HealthKnownSince());
  return silent > options_.grace.count() ? Role::kLost : Role::kDown;
}

void Repairer::Throttle(int64_t bytes) {
  if (options_.bytes_per_second <= 0 || bytes <= 0) return;
  std::chrono::steady_clock::duration wait{};
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    const auto start = std::max(now, budget_at_);
    budget_at_ =
        start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(
                        double(bytes) / double(options_.bytes_per_second)));
    wait = start - now;
  }
  if (wait > std::chrono::steady_clock::duration::zero())
    std::this_thread::sleep_for(wait);
}

bool Repairer::Retire(const ImageRecord& image, int64_t server_id,
                      const ServerView& servers, const char* why) {
  auto removed = store_.RemovePlacement(image.id, server_id);
  if (!removed) {
    // kConflict: the last copy, kept; kNotFound: already gone.
    if (removed.error().code != ErrorCode::kConflict &&
        removed.error().code != ErrorCode::kNotFound) {
      spdlog::warn("repair {}: {}", image.id.str(), removed.error().message);
    }
    return false;
  }
  registry_.AdjustCount(server_id, -1);
  copies_dropped_.fetch_add(1);
  Forget(image, server_id);
  // Per copy at debug: a lost server retires its copies by the thousand;
  // the repair loop logs the totals.
  spdlog::debug("repair {}: copy on server {} retired ({})", image.id.str(),
                server_id, why);
  DeleteFile(FindServer(servers, server_id),
             MakeImagePath(image.id, image.format));
  return true;
}

void Repairer::DeleteFile(const ServerRow* server, const ImagePath& path) {
  if (server == nullptr) return;  // removed: nothing of it is kept
  Result<void> deleted = Fail(ErrorCode::kUnavailable, "server unusable");
  if (server->flg_usable) deleted = nodes_.Delete(*server, path);
  if (deleted || deleted.error().code == ErrorCode::kNotFound) return;
  // Queued; deleted once the server is back. A usable server that refused
  // is worth a line, the expected wait for an unusable one is not.
  if (server->flg_usable) {
    spdlog::warn("{}: file on server {} not deleted yet: {}", path.relative,
                 server->server_id, deleted.error().message);
  }
  (void)store_.QueueFileDelete({server->server_id, path.relative},
                               clock_.NowSeconds());
}

int64_t Repairer::DeleteForgottenFiles(const ServerView& servers) {
  std::atomic<int64_t> deleted{0};
  for (const ServerRow& s : servers) {
    if (!s.flg_usable) continue;  // not back yet
    auto files = store_.FileDeletes(s.server_id, options_.batch);
    if (!files) {
      spdlog::warn("repair: {}", files.error().message);
      continue;
    }
    InParallel(files->size(), options_.concurrency, [&](size_t i) {
      const FileDelete& f = (*files)[i];
      auto path = ParseImagePath("/" + f.relative_path);
      // A copy recorded there since it was queued (repair chose the server
      // again, and its PUT found the old file) stays.
      if (path) {
        auto image = store_.GetImage(path->id);
        if (!image && image.error().code != ErrorCode::kNotFound) return;
        if (image && Holds(*image, s.server_id)) {
          (void)store_.DequeueFileDelete(f);
          return;
        }
      }
      Result<void> gone =
          path ? nodes_.Delete(s, *path) : Result<void>(Fail(path.error()));
      if (!gone && gone.error().code != ErrorCode::kNotFound) return;
      deleted.fetch_add(1);
      (void)store_.DequeueFileDelete(f);
    });
  }
  return deleted.load();
}

Result<std::string> Repairer::ReadChecked(const ImageRecord& image,
                                          const ServerRow& server) {
  Throttle(image.bytes);
  auto bytes =
      nodes_.Read(server, MakeImagePath(image.id, image.format).relative);
  if (!bytes && bytes.error().code != ErrorCode::kNotFound) {
    failures_.fetch_add(1);
    spdlog::debug("repair {}: {}", image.id.str(), bytes.error().message);
    return bytes;
  }
  if (bytes && Sha256Hex(*bytes) == image.sha256) return bytes;
  // Gone with its image (deleted while this round worked on it): nothing
  // to say or mend.
  if (!bytes) {
    auto still = store_.GetImage(image.id);
    if (!still && still.error().code == ErrorCode::kNotFound)
      return Fail(ErrorCode::kConflict, "image deleted meanwhile");
  }
  // Counts no more, is read no more (Fix), and goes once a good copy is on
  // a usable server.
  std::string why = fmt::format("the copy on server {} {}", server.server_id,
                                bytes ? "does not match its sha256"
                                      : "is missing (404 on a usable server)");
  if (Remember(image, server.server_id, why))
    (void)store_.QueueRepair(image.id, image.created_at);
  return Fail(ErrorCode::kNotFound, std::move(why));
}

bool Repairer::GoodCopyElsewhere(const ImageRecord& image, int64_t server_id,
                                 const ServerView& servers) {
  for (const Placement& p : image.placements) {
    if (p.server_id == server_id || KnownCorrupt(image, p.server_id)) continue;
    const ServerRow* s = FindServer(servers, p.server_id);
    if (s != nullptr && s->flg_usable && ReadChecked(image, *s)) return true;
  }
  return false;
}

Result<std::string> Repairer::ReadGood(
    const ImageRecord& image, const std::vector<const ServerRow*>& sources,
    const ServerView& servers, int& retired) {
  std::string why = "no readable copy";
  ErrorCode code = ErrorCode::kNotFound;
  ImageRecord current = image;  // without the copies retired on the way
  for (const ServerRow* s : sources) {
    auto bytes = ReadChecked(image, *s);
    if (bytes) return bytes;
    why = bytes.error().message;
    if (bytes.error().code != ErrorCode::kNotFound) {  // unreachable
      code = ErrorCode::kUnavailable;
      continue;
    }
    // Never copy a corrupt copy, nor count a missing one: retire it when
    // another copy reads back good, and try the next.
    if (RetireCorrupt(current, s->server_id, servers)) {
      std::erase_if(current.placements, [&](const Placement& p) {
        return p.server_id == s->server_id;
      });
      ++retired;
    }
  }
  return Fail(code, why);
}

bool Repairer::Remember(const ImageRecord& image, int64_t server_id,
                        const std::string& why) {
  std::lock_guard lock(mutex_);
  auto [it, added] = known_corrupt_.try_emplace({image.id.str(), server_id},
                                                clock_.NowSeconds());
  if (!added) {
    it->second = clock_.NowSeconds();  // still bad: read again later
    return false;
  }
  corrupt_.fetch_add(1);
  spdlog::error("repair {}: {}", image.id.str(), why);
  return true;
}

void Repairer::Forget(const ImageRecord& image, int64_t server_id) {
  std::lock_guard lock(mutex_);
  known_corrupt_.erase({image.id.str(), server_id});
}

bool Repairer::KnownCorrupt(const ImageRecord& image, int64_t server_id) const {
  std::lock_guard lock(mutex_);
  auto it = known_corrupt_.find({image.id.str(), server_id});
  return it != known_corrupt_.end() &&
         clock_.NowSeconds() - it->second < kBadCopyRecheck.count();
}

int64_t Repairer::AddCopies(const ImageRecord& image, std::string_view bytes,
                            size_t count,
                            std::vector<const ServerRow*> candidates) {
  if (count == 0 || candidates.empty()) return 0;
  const size_t n = candidates.size();
  std::vector<const ServerRow*> ordered;
  {
    std::lock_guard lock(mutex_);
    ordered = PickServers(std::move(candidates), options_.placement, n, rng_);
  }
  const ImagePath path = MakeImagePath(image.id, image.format);
  int64_t added = 0;
  for (const ServerRow* s : ordered) {
    if (size_t(added) == count) break;
    if (auto put = nodes_.Put(*s, path, bytes); !put) {
      failures_.fetch_add(1);
      if (put.error().code == ErrorCode::kUnavailable)
        registry_.StoreFailed(s->server_id, put.error());
      spdlog::warn("repair {}: store on server {} failed: {}", image.id.str(),
                   s->server_id, put.error().message);
      continue;
    }
    auto recorded =
        store_.AddPlacement(image.id, Placement{s->server_id, path.relative});
    if (!recorded) {
      const ErrorCode code = recorded.error().code;
      if (code == ErrorCode::kConflict) {  // recorded meanwhile: it is there
        ++added;
        continue;
      }
      (void)nodes_.Delete(*s, path);
      if (code == ErrorCode::kNotFound) return added;  // image deleted
      failures_.fetch_add(1);
      continue;
    }
    registry_.AdjustCount(s->server_id, 1);
    copies_made_.fetch_add(1);
    ++added;
    spdlog::debug("repair {}: new copy on server {}", image.id.str(),
                  s->server_id);
  }
  return added;
}

Result<bool> Repairer::Fix(const ImageRecord& image, const ServerView& servers,
                           bool verify, bool& done) {
  std::vector<const ServerRow*> sources;
  std::vector<std::pair<int64_t, Role>> retiring;
  std::vector<const ServerRow*> live;
  int counted = 0;
  std::vector<int64_t> corrupt;
  for (const Placement& p : image.placements) {
    const ServerRow* s = FindServer(servers, p.server_id);
    if (KnownCorrupt(image, p.server_id)) {
      corrupt.push_back(p.server_id);
      continue;
    }
    switch (RoleOf(s)) {
      case Role::kLive:
        ++counted;
        sources.push_back(s);
        live.push_back(s);
        break;
      case Role::kDown:
        ++counted;
        break;
      case Role::kLeaving:
        if (s->flg_usable) sources.push_back(s);
        retiring.emplace_back(p.server_id, Role::kLeaving);
        break;
      case Role::kLost:
        retiring.emplace_back(p.server_id, Role::kLost);
        break;
    }
  }
  // Queued, yet enough copies count and nothing else is to do: it was
  // queued for a bad copy whose mark was lost (a restart) or has lapsed, so
  // each live copy is read and checked. One found bad is marked; the next
  // round mends it.
  if (verify && retiring.empty() && corrupt.empty() &&
      counted >= std::max(1, options_.replicas)) {
    for (const ServerRow* s : live) {
      if (!ReadChecked(image, *s)) {
        done = false;
        return false;
      }
    }
  }
  std::vector<const ServerRow*> candidates;
  // (A server whose node takes no file this large is none: the image then
  // waits, and says so.)
  for (const ServerRow* s : Candidates(servers, options_.disk_reserve_bytes)) {
    if (!Holds(image, s->server_id) && TakesFile(*s, size_t(image.bytes)))
      candidates.push_back(s);
  }

  bool changed = false;
  const int wanted = std::max(1, options_.replicas);
  bool waits = counted < wanted && candidates.empty();
  // Whether a copy on a live server is known to read back good: one made
  // this round (from checked bytes), else one read now.
  bool good_live = false;
  auto has_good_live = [&] {
    for (size_t i = 0; !good_live && i < live.size(); ++i)
      good_live = ReadChecked(image, *live[i]).has_value();
    return good_live;
  };
  if (counted < wanted && !sources.empty() && !candidates.empty()) {
    int retired = 0;
    auto bytes = ReadGood(image, sources, servers, retired);
    counted -= retired;
    changed |= retired > 0;
    if (!bytes) {
      if (bytes.error().code == ErrorCode::kNotFound)
        unreadable_.round.fetch_add(1);
      done = false;
      return changed;
    }
    const int64_t added =
        AddCopies(image, *bytes, size_t(wanted - counted), candidates);
    counted += int(added);
    changed |= added > 0;
    good_live |= added > 0;
  }

  // Retire copies that no longer count once enough others do, and one of
  // those reads back good: a copy counted but missing or damaged must not
  // be all that is left. A draining server keeps its copy while no other
  // server can take one: a drain moves copies, it never lowers how many
  // there are (the drain waits, said in the round's log line).
  done = counted >= wanted;
  for (const auto& [server_id, role] : retiring) {
    if (counted >= wanted && has_good_live() &&
        Retire(image, server_id, servers,
               role == Role::kLeaving ? "drained" : "server lost")) {
      changed = true;
      continue;
    }
    done = false;
    waits |= role == Role::kLeaving;
  }
  if (waits) waiting_.round.fetch_add(1);
  // Short, and every copy left is known bad: nothing to copy from.
  if (counted == 0 && sources.empty() && !corrupt.empty())
    unreadable_.round.fetch_add(1);
  // The copies as they are now: the good copy a corrupt one may go for can
  // be one made above, and one retired above is none.
  std::optional<ImageRecord> current;
  if (!corrupt.empty()) {
    auto now = changed ? store_.GetImage(image.id) : Result<ImageRecord>(image);
    if (!now) {
      done = false;
      return changed;
    }
    current = std::move(*now);
  }
  for (int64_t server_id : corrupt) {
    if (RetireCorrupt(*current, server_id, servers)) {
      changed = true;
    } else {
      done = false;
    }
  }

  // More live copies than wanted (a move cut short, --replicas lowered):
  // the emptiest that read back good stay, and the others go only once
  // `wanted` of them do.
  if (retiring.empty() && int(live.size()) > wanted) {
    std::sort(live.begin(), live.end(),
              [](const ServerRow* a, const ServerRow* b) {
                return Fill(*a) < Fill(*b);
              });
    std::vector<const ServerRow*> kept;
    for (const ServerRow* s : live) {
      if (int(kept.size()) == wanted) break;
      if (ReadChecked(image, *s)) kept.push_back(s);
    }
    if (int(kept.size()) < wanted) {
      done = false;
      return changed;
    }
    for (const ServerRow* s : live) {
      if (std::find(kept.begin(), kept.end(), s) == kept.end())
        changed |= Retire(image, s->server_id, servers, "extra copy");
    }
  }
  return changed;
}

Result<std::vector<ImageId>> Repairer::CollectWork(
    const ServerView& servers, std::set<std::string>& queued) {
  std::vector<ImageId> ids;
  for (const ServerRow& s : servers) {
    const Role role = RoleOf(&s);
    // A drain is done when the server holds nothing: said once.
    if (role == Role::kLeaving && s.cur_pic_amount == 0) {
      if (drained_said_.insert(s.server_id).second) {
        spdlog::info(
            "server {} ({}): drained, it holds no images: imgstore servers "
            "remove {}",
            s.server_id, s.server_name, s.server_id);
      }
    } else {
      drained_said_.erase(s.server_id);
    }
    if (role != Role::kLeaving && role != Role::kLost) continue;
    std::string& cursor = server_cursor_[s.server_id];
    auto copies = store_.CopiesOnServer(s.server_id, cursor, options_.batch);
    if (!copies) return Fail(copies.error());  // the round fails, logged once
    Advance(cursor, *copies, options_.batch,
            [](const ServerCopy& c) { return c.relative_path; });
    for (ServerCopy& c : *copies) ids.push_back(std::move(c.id));
  }
  auto queue = store_.RepairQueue(queue_cursor_, options_.batch);
  if (!queue) return Fail(queue.error());
  Advance(queue_cursor_, *queue, options_.batch,
          [](const ImageId& id) { return id.str(); });
  for (ImageId& id : *queue) {
    queued.insert(id.str());
    ids.push_back(std::move(id));
  }
  return ids;
}

Result<bool> Repairer::HoldLease() {
  // Renewed once a third of its time has passed, not every round: each
  // renewal is a durable write, and rounds run back to back while there is
  // work.
  const int64_t now = clock_.NowSeconds();
  const int64_t ttl = options_.lease_ttl.count();
  if (leader_.load() && now < lease_until_ - ttl * 2 / 3) return true;
  auto lease =
      store_.AcquireLease(std::string(kRepairLease), options_.holder, now, ttl);
  if (!lease) {
    // Not renewed (the database does not answer): once it has run out,
    // another tracker may take it, and this one says it leads no more. By
    // the clock after the call, which may have waited its whole timeout.
    if (clock_.NowSeconds() >= lease_until_ && leader_.exchange(false)) {
      spdlog::info(
          "repair: this tracker no longer holds the repair lease (it ran "
          "out unrenewed: {})",
          lease.error().message);
    }
    return Fail(lease.error());
  }
  if (*lease) lease_until_ = now + ttl;
  if (leader_.exchange(*lease) != *lease) {
    spdlog::info("repair: this tracker {} the repair lease",
                 *lease ? "holds" : "no longer holds");
  }
  return *lease;
}

void Repairer::ReleaseLease() {
  if (!leader_.exchange(false)) return;
  auto released = store_.AcquireLease(std::string(kRepairLease),
                                      options_.holder, clock_.NowSeconds(), -1);
  if (released) {
    spdlog::info("repair: this tracker gave the repair lease up");
  } else {
    spdlog::warn(
        "repair: could not give the repair lease up, it expires "
        "by itself: {}",
        released.error().message);
  }
}

Result<void> Repairer::AdoptReplicas() {
  const std::string key(kReplicasSetting);
  const int64_t wanted = std::max(1, options_.replicas);
  auto stored = store_.GetSetting(key);
  if (!stored) return Fail(stored.error());
  int64_t before = 0;  // unknown: a new database, or one from before
  if (*stored) before = std::strtoll((*stored)->c_str(), nullptr, 10);
  if (before == wanted) return {};
  if (before > 0) {
    spdlog::warn(
        "repair: the last tracker started on this database had --replicas "
        "{}, this one has {}: every tracker on one database should have the "
        "same --replicas (this one's count from now on)",
        before, wanted);
  }
  if (auto set = store_.SetSetting(key, std::to_string(wanted)); !set)
    return Fail(set.error());
  if (wanted <= before || wanted == 1) return {};
  auto queued = store_.QueueImagesShortOf(wanted, clock_.NowSeconds());
  if (!queued) return Fail(queued.error());
  if (*queued > 0) {
    spdlog::info("repair: {} images have fewer than {} copies; queued", *queued,
                 wanted);
  }
  return {};
}

Result<int64_t> Repairer::RunOnce() {
  auto lease = HoldLease();
  if (!lease) return Fail(lease.error());
  const ServerView servers = registry_.Snapshot();
  // Counted before the work too: a round may take long (the copy rate),
  // and the backlog falls as its queued images are done.
  UpdateBacklog(servers);
  if (!*lease) return 0;

  std::set<std::string> queued;
  auto collected = CollectWork(servers, queued);
  if (!collected) return Fail(collected.error());
  std::vector<ImageId> ids = std::move(*collected);
  auto found = store_.GetImages(ids);
  if (!found) return Fail(found.error());
  std::vector<ImageRecord> images = std::move(*found);
  // Queued images that are gone (deleted) leave the queue.
  std::set<std::string> present;
  for (const ImageRecord& image : images) present.insert(image.id.str());
  for (const ImageId& id : ids) {
    if (queued.count(id.str()) != 0 && present.count(id.str()) == 0)
      (void)store_.DequeueRepair(id);
  }
  auto sweep = store_.ImagesAfter(sweep_cursor_, options_.batch);
  if (!sweep) return Fail(sweep.error());
  Advance(sweep_cursor_, *sweep, options_.batch,
          [](const ImageRecord& r) { return r.id.str(); });
  for (ImageRecord& image : *sweep) {
    if (present.insert(image.id.str()).second)
      images.push_back(std::move(image));
  }

  std::atomic<int64_t> changed{0};
  InParallel(images.size(), options_.concurrency, [&](size_t i) {
    bool done = false;
    const bool was_queued = queued.count(images[i].id.str()) != 0;
    auto fixed = Fix(images[i], servers, was_queued, done);
    if (fixed && *fixed) changed.fetch_add(1);
    if (done && queued.count(images[i].id.str()) != 0 &&
        store_.DequeueRepair(images[i].id)) {
      int64_t left = backlog_.load();
      while (left > 0 && !backlog_.compare_exchange_weak(left, left - 1)) {
      }
    }
  });

  auto spread = store_.GetSetting(std::string(kRebalanceSetting));
  if (!spread) return Fail(spread.error());
  std::optional<double> target;
  if (*spread) target = std::strtod((*spread)->c_str(), nullptr);
  {
    std::lock_guard lock(mutex_);
    rebalance_ = target;
  }
  if (target) {
    auto moved = Rebalance(servers, *target);
    if (!moved) return Fail(moved.error());
    changed.fetch_add(*moved);
  }

  DeleteForgottenFiles(servers);
  UpdateBacklog(registry_.Snapshot());
  // Repair that cannot go on (a lost server's or a bad copy's image, a
  // drain) is said once, and again when it can.
  if (const int w = waiting_.End(); w > 0) {
    spdlog::warn(
        "repair: images wait, no other server can take a copy ({} of each "
        "image wanted; copies on draining servers stay meanwhile; {} seen "
        "this round): add or enable a server, or lower --replicas",
        options_.replicas, waiting_.last.load());
  } else if (w < 0) {
    spdlog::info("repair: images that waited for a server are copied again");
  }
  if (const int u = unreadable_.End(); u > 0) {
    spdlog::error(
        "repair: {} images have no copy that reads back good (each one "
        "missing or damaged, logged above): put a good file back on its "
        "node, or restore it from a backup",
        unreadable_.last.load());
  } else if (u < 0) {
    spdlog::info("repair: every image short of copies has a good one again");
  }
  return changed.load();
}

int Repairer::StuckCount::End() {
  const int64_t n = round.exchange(0);
  last.store(n);
  const int change = n > 0 && !said ? 1 : n == 0 && said ? -1 : 0;
  said = n > 0;
  return change;
}

void Repairer::UpdateBacklog(const ServerView& servers) {
  int64_t backlog = 0;
  for (const ServerRow& s : servers) {
    const Role role = RoleOf(&s);
    if (role == Role::kLeaving || role == Role::kLost)
      backlog += s.cur_pic_amount;
  }
  if (auto queue = store_.RepairQueueLength(); queue) backlog += *queue;
  backlog_ = backlog;
}

namespace {

// The servers a rebalance evens out, emptiest first, and their mean fill
// (weighted by capacity).
struct Balance {
  std::vector<const ServerRow*> servers;
  double mean = 0;
};

Balance Eligible(const ServerView& servers) {
  Balance b;
  double total_cur = 0, total_max = 0;
  for (const ServerRow& s : servers) {
    if (s.state != ServerState::kActive || !s.flg_usable ||
        s.max_pic_amount <= 0)
      continue;
    b.servers.push_back(&s);
    total_cur += double(s.cur_pic_amount);
    total_max += double(s.max_pic_amount);
  }
  std::sort(b.servers.begin(), b.servers.end(),
            [](const ServerRow* x, const ServerRow* y) {
              return Fill(*x) < Fill(*y);
            });
  if (total_max > 0) b.mean = total_cur / total_max;
  return b;
}

double Spread(const Balance& b) {
  if (b.servers.size() < 2 || b.mean <= 0) return 0;
  return (Fill(*b.servers.back()) - Fill(*b.servers.front())) / b.mean;
}

}  // namespace

double FillSpread(const ServerView& servers) {
  return Spread(Eligible(servers));
}

Result<int64_t> Repairer::Rebalance(const ServerView& servers, double spread) {
  const Balance balance = Eligible(servers);
  const double mean = balance.mean;
  // Done within the spread, or when the fullest server holds less than one
  // whole copy over its even share: nothing left to move.
  const ServerRow* fullest =
      balance.servers.size() < 2 ? nullptr : balance.servers.back();
  // (Rounded first: 9 / 1000 - 24 / 3000 is a hair under 0.001.)
  const int64_t surplus =
      fullest == nullptr
          ? 0
          : int64_t(std::floor((Fill(*fullest) - mean) *
                                   double(fullest->max_pic_amount) +
                               1e-6));
  if (surplus < 1 || Spread(balance) <= spread) {
    spdlog::info("rebalance: fill ratios within {:.1f} % of even: done",
                 spread * 100);
    if (auto r = store_.SetSetting(std::string(kRebalanceSetting), ""); !r)
      return Fail(r.error());
    std::lock_guard lock(mutex_);
    rebalance_.reset();
    return 0;
  }
  const ServerRow& from = *fullest;
  const int64_t limit = std::min(surplus, options_.batch);

  auto copies = store_.CopiesOnServer(from.server_id, rebalance_cursor_, limit);
  if (!copies) return Fail(copies.error());
  Advance(rebalance_cursor_, *copies, limit,
          [](const ServerCopy& c) { return c.relative_path; });
  std::vector<ImageId> ids;
  for (ServerCopy& c : *copies) ids.push_back(std::move(c.id));
  auto images = store_.GetImages(ids);
  if (!images) return Fail(images.error());

  // Targets: the servers below the mean fill; the placement rules choose
  // among them.
  std::vector<const ServerRow*> targets;
  for (const ServerRow* s : Candidates(servers, options_.disk_reserve_bytes)) {
    if (s->state == ServerState::kActive && Fill(*s) < mean)
      targets.push_back(s);
  }
  std::atomic<int64_t> moved{0};
  InParallel(images->size(), options_.concurrency, [&](size_t i) {
    const ImageRecord& image = (*images)[i];
    std::vector<const ServerRow*> free;
    for (const ServerRow* s : targets) {
      if (!Holds(image, s->server_id) && TakesFile(*s, size_t(image.bytes)))
        free.push_back(s);
    }
    if (free.empty()) return;
    int retired = 0;
    auto bytes = ReadGood(image, {&from}, servers, retired);
    if (!bytes) return;
    if (AddCopies(image, *bytes, 1, free) == 1 &&
        Retire(image, from.server_id, servers, "rebalanced")) {
      moved.fetch_add(1);
      moved_.fetch_add(1);
    }
  });
  return moved.load();
}

bool Repairer::RetireCorrupt(const ImageRecord& image, int64_t server_id,
                             const ServerView& servers) {
  // Only while another copy reads back good: a damaged copy is still mostly
  // the image, and another copy recorded may be missing or damaged too.
  return GoodCopyElsewhere(image, server_id, servers) &&
         Retire(image, server_id, servers, "corrupt");
}

Result<std::vector<std::string>> Repairer::CheckScrub(
    const ServerRow& server, const std::vector<ScrubbedFile>& files) {
  // The reported files that name an image, and those images' records.
  std::vector<const ScrubbedFile*> named;
  std::vector<ImageId> ids;
  for (const ScrubbedFile& f : files) {
    auto path = ParseImagePath("/" + f.path);
    if (!path) continue;
    named.push_back(&f);
    ids.push_back(path->id);
  }
  auto images = store_.GetImages(ids);
  if (!images) return Fail(images.error());
  std::map<std::string, const ImageRecord*> by_id;
  for (const ImageRecord& image : *images) by_id[image.id.str()] = &image;

  const ServerView servers = registry_.Snapshot();
  std::vector<std::string> bad;
  for (size_t i = 0; i < named.size(); ++i) {
    const ScrubbedFile& f = *named[i];
    auto it = by_id.find(ids[i].str());
    // A file with no record is an orphan: fsck's business, not the scrub's.
    if (it == by_id.end() || !Holds(*it->second, server.server_id)) continue;
    const ImageRecord& image = *it->second;
    if (f.sha256 == image.sha256) {
      Forget(image, server.server_id);  // good (again): its bytes put back
      continue;
    }
    bad.push_back(f.path);
    // Marked, counted and logged once, as repair's own finding would be.
    const bool first = Remember(
        image, server.server_id,
        fmt::format("the copy on server {} does not match its sha256 (its "
                    "scrub read {})",
                    server.server_id, f.path));
    if (!RetireCorrupt(image, server.server_id, servers) && first) {
      spdlog::error(
          "scrub: {} has no other copy that reads back good on a usable "
          "server; the corrupt one is kept until one is good again (else "
          "restore it from a backup)",
          image.id.str());
    }
    if (auto r = store_.QueueRepair(image.id, clock_.NowSeconds()); !r)
      return Fail(r.error());
  }
  return bad;
}

RepairStatus Repairer::Status() const {
  RepairStatus s;
  // A lease run out unrenewed leads no more, even before a round says so
  // (its renewal may be waiting on a database that does not answer).
  s.leader = leader_.load() && clock_.NowSeconds() < lease_until_.load();
  s.backlog = backlog_.load();
  s.copies_made = copies_made_.load();
  s.copies_dropped = copies_dropped_.load();
  s.corrupt = corrupt_.load();
  s.failures = failures_.load();
  s.moved = moved_.load();
  s.waiting = waiting_.last.load();
  s.unreadable = unreadable_.last.load();
  std::lock_guard lock(mutex_);
  s.rebalance_spread = rebalance_;
  return s;
}

}  // namespace imgstore
