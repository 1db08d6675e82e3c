#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/image_record.h"
#include "core/placement.h"
#include "meta/metadata_store.h"
#include "tracker/node_client.h"
#include "tracker/server_registry.h"

namespace imgstore {

struct RepairOptions {
  int replicas = 2;
  // How long a server may be unusable before its copies stop counting.
  std::chrono::seconds grace{600};
  PlacementPolicy placement = PlacementPolicy::kWeighted;
  int64_t disk_reserve_bytes = 64 * 1024 * 1024;
  // Images worked on at once, and the bytes per second all of them may copy.
  int concurrency = 4;
  int64_t bytes_per_second = 64 * 1024 * 1024;
  // Images looked at per round, from each source of work.
  int64_t batch = 128;
  // Who this tracker is in the lease table, and how long a lease lasts
  // without renewal (a dead tracker's lease passes on after that).
  std::string holder;
  std::chrono::seconds lease_ttl{15};
};

// What /metrics, `imgstore stats` and the dashboard show.
struct RepairStatus {
  bool leader = false;         // this tracker holds the repair lease
  int64_t backlog = 0;         // copies known to be missing or to move away
  int64_t copies_made = 0;     // since start
  int64_t copies_dropped = 0;  // placements retired (moved, lost, corrupt)
  int64_t corrupt = 0;   // copies found not to match their sha256, or missing
  int64_t failures = 0;  // copy attempts that failed
  int64_t moved = 0;     // rebalance moves
  // Images of the last round that wait for a server able to take a copy
  // (none is active, usable, with room and without one).
  int64_t waiting = 0;
  // Images of the last round short of copies with no copy that reads back
  // good: every one missing or damaged (a good file must be put back).
  int64_t unreadable = 0;
  std::optional<double> rebalance_spread;  // set while a rebalance runs
};

// A file a node's scrubber read, and the hash of what it read.
struct ScrubbedFile {
  std::string path;  // "aa/bb/<id>.<ext>"
  std::string sha256;
  int64_t bytes = 0;
};

// How unevenly the active, usable servers are filled: the gap between the
// fullest one's fill ratio (cur_pic_amount / max_pic_amount) and the
// emptiest one's, as a share of their mean fill, so that 0.05 means "within
// 5 % of an even spread" whatever the capacities (a fresh server beside ones
// of 10 M places each holding 50 k is 2.0 apart, not 0.005). 0 with fewer
// than two such servers or no copy at all.
double FillSpread(const ServerView& servers);

// Keeps every image at `replicas` good copies, without anyone asking
// (SPEC §6): copies on a server unusable for longer than the grace period,
// on a draining server, or found corrupt stop counting; a surviving copy is
// read (and checked against the recorded sha256), stored on a server chosen
// by the placement rules and recorded; only then is the retired copy
// forgotten and its file deleted. The store refuses to forget an image's
// last copy, so a fault here can leave an extra copy, never none.
//
// Work comes from three places each round: the copies on draining and lost
// servers (by index), the repair queue (uploads that found too few servers,
// copies found corrupt), and a slow sweep over every image (a raised
// --replicas, anything the others missed). One tracker at a time repairs:
// the round starts by taking or renewing a lease in the database.
//
// The rebalancer rides on the same rounds: while a target spread is set (in
// the database, by any tracker), copies move from the fullest server to
// emptier ones until FillSpread is within it.
//
// Thread-safe; RunOnce() blocks on nodes and the store (its own thread).
class Repairer {
 public:
  Repairer(MetadataStore& store, ServerRegistry& registry, NodeClient& nodes,
           const Clock& clock, const RepairOptions& options);

  // One round. Returns how many images it changed (0 when idle or when
  // another tracker holds the lease).
  Result<int64_t> RunOnce();

  // At start: records this tracker's --replicas in the database. When it
  // is more than the database knew (or the database knew none), every
  // image now short of it is queued, so the backlog counts them from the
  // first round instead of as a slow sweep finds them. Trackers sharing a
  // database with different --replicas are told so (logged).
  Result<void> AdoptReplicas();

  // Gives the repair lease up, if this tracker holds it, so that another
  // tracker (or this one restarted) takes it at once instead of after its
  // expiry. On a clean stop, once rounds are over.
  void ReleaseLease();

  // A node's scrub report: copies whose bytes no longer match are retired
  // (when another copy exists) and queued for repair. Returns their paths.
  Result<std::vector<std::string>> CheckScrub(
      const ServerRow& server, const std::vector<ScrubbedFile>& files);

  RepairStatus Status() const;

  // Deletes the file of a forgotten copy on `server`; when the server is
  // down or does not answer, queues it for a later round (file_deletes).
  void DeleteFile(const ServerRow* server, const ImagePath& path);

  // The setting that asks for a rebalance: the largest allowed difference
  // between the fullest and the emptiest server's fill ratio.
  static constexpr std::string_view kRebalanceSetting = "rebalance_spread";
  // How long a copy found bad is left unread before it is read again.
  static constexpr std::chrono::seconds kBadCopyRecheck{300};
  // The setting that remembers the last --replicas a tracker started with.
  static constexpr std::string_view kReplicasSetting = "replicas";

 private:
  enum class Role {
    kLive,     // usable, keeps its copies: counts, and can be read
    kDown,     // unusable within the grace period: counts, cannot be read
    kLeaving,  // draining: can be read, does not count, copies move away
    kLost,     // unusable past the grace period: neither
  };
  Role RoleOf(const ServerRow* server) const;
  // Retires a copy found corrupt or missing, only while another copy of
  // the image reads back good (GoodCopyElsewhere); true when it was retired.
  bool RetireCorrupt(const ImageRecord& image, int64_t server_id,
                     const ServerView& servers);
  // `image`'s bytes from its copy on `server`, checked against its sha256.
  // A copy missing there or damaged is remembered (Remember), its image
  // queued for repair, and answered kNotFound; a server that does not
  // answer, with its error; a copy gone with its image (deleted meanwhile),
  // kConflict.
  Result<std::string> ReadChecked(const ImageRecord& image,
                                  const ServerRow& server);
  // Whether a copy other than the one on `server_id`, on a usable server
  // and not known bad, reads back good: what must hold before a copy is
  // retired but for a move just made.
  bool GoodCopyElsewhere(const ImageRecord& image, int64_t server_id,
                         const ServerView& servers);
  // Marks `image`'s copy on `server_id` as bad (corrupt, or missing on a
  // usable server), counted and logged (`why`) once; true when it was not
  // known before. The mark holds kBadCopyRecheck, then the copy is read
  // again (its bytes may have been put back); Forget() drops it (Retire()
  // calls it, and a scrub that finds the copy good).
  bool Remember(const ImageRecord& image, int64_t server_id,
                const std::string& why);
  void Forget(const ImageRecord& image, int64_t server_id);
  bool KnownCorrupt(const ImageRecord& image, int64_t server_id) const;
  // Takes or renews the repair lease; true while this tracker holds it.
  Result<bool> HoldLease();

  // Brings one image to its copies; true when it changed anything. `done`
  // says whether it now needs nothing more. `verify`: the image was queued,
  // so copies that seem fine are read and checked before it leaves the
  // queue.
  Result<bool> Fix(const ImageRecord& image, const ServerView& servers,
                   bool verify, bool& done);
  // Bytes of a good copy from one of `sources`; copies that fail the
  // sha256 check are retired on the way (while another copy reads back
  // good) and counted in `retired`. kNotFound when every source was
  // missing or damaged, kUnavailable when one could not be reached.
  Result<std::string> ReadGood(const ImageRecord& image,
                               const std::vector<const ServerRow*>& sources,
                               const ServerView& servers, int& retired);
  // Stores `bytes` on up to `count` of `candidates` (in placement order) and
  // records each copy; returns how many it added.
  int64_t AddCopies(const ImageRecord& image, std::string_view bytes,
                    size_t count, std::vector<const ServerRow*> candidates);
  // Forgets the copy on `server_id` and deletes its file (best effort).
  bool Retire(const ImageRecord& image, int64_t server_id,
              const ServerView& servers, const char* why);
  // Deletes one page of queued files (copies forgotten while their server
  // was down) from servers that are usable again; returns how many.
  int64_t DeleteForgottenFiles(const ServerView& servers);
  // One page of moves from the fullest server to those below the mean fill.
  Result<int64_t> Rebalance(const ServerView& servers, double spread);
  // Waits until `bytes` fit the bandwidth budget.
  void Throttle(int64_t bytes);

  // What /metrics calls the backlog, from any tracker: copies on draining
  // and lost servers plus the queue.
  void UpdateBacklog(const ServerView& servers);

  // Ids from the copies on leaving and lost servers and from the queue
  // (those also land in `queued`), one page of each, cursors advanced. A
  // store that cannot say fails the round.
  Result<std::vector<ImageId>> CollectWork(const ServerView& servers,
                                           std::set<std::string>& queued);

  MetadataStore& store_;
  ServerRegistry& registry_;
  NodeClient& nodes_;
  const Clock& clock_;
  const RepairOptions options_;

  // Used only by the thread in RunOnce() (one round at a time).
  std::map<int64_t, std::string> server_cursor_;  // per leaving/lost server
  std::set<int64_t> drained_said_;  // draining servers logged as empty
  std::string queue_cursor_;
  std::string sweep_cursor_;
  std::string rebalance_cursor_;
  // Unix seconds; while leader_. Read by Status().
  std::atomic<int64_t> lease_until_{0};

  std::atomic<bool> leader_{false};
  std::atomic<int64_t> backlog_{0};
  std::atomic<int64_t> copies_made_{0};
  std::atomic<int64_t> copies_dropped_{0};
  std::atomic<int64_t> corrupt_{0};
  std::atomic<int64_t> failures_{0};
  std::atomic<int64_t> moved_{0};

  // Images of a round that repair cannot mend yet, summed by the workers,
  // said once when some appear and once when none are left.
  struct StuckCount {
    std::atomic<int64_t> round{0};
    std::atomic<int64_t> last{0};  // the last round's, for Status()
    bool said = false;             // RunOnce() only
    // Ends a round: +1 when some appeared, -1 when none are left, else 0.
    int End();
  };
  // Short of copies (or keeping one on a draining server) for want of
  // another server to take one.
  StuckCount waiting_;
  // With no copy that reads back good.
  StuckCount unreadable_;

  // guards rng_, the budget, rebalance_ and known_corrupt_
  mutable std::mutex mutex_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::chrono::steady_clock::time_point budget_at_ =
      std::chrono::steady_clock::now();
  std::optional<double> rebalance_;
  // Copies (image id, server id) read and found bad but kept, being the
  // last readable ones, and when (Unix seconds) they were last found so:
  // they count no more and go once a good copy is on a usable server. In
  // memory: a restarted tracker finds them again, their images being
  // queued (Fix's `verify`).
  std::map<std::pair<std::string, int64_t>, int64_t> known_corrupt_;
};

}  // namespace imgstore
