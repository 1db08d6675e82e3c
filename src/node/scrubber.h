#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "http/metrics.h"
#include "node/file_store.h"
#include "node/tracker_link.h"

namespace imgstore {

struct ScrubberOptions {
  // Reports go to <tracker>/v1/scrub, one of these (node/tracker_link.h).
  std::vector<std::string> tracker_urls;
  std::string secret;  // signs them (core/signing.h)
  std::string name;    // the node's name and public URL, in each report
  std::string public_url;
  uint64_t rate_bytes_per_s = 8 * 1024 * 1024;  // 0: never started
  std::chrono::seconds interval{86'400};        // pause after a full pass
  std::chrono::milliseconds first_delay{1000};  // before the first pass
};

// The integrity scrub: re-reads every stored image, in FileStore::List
// order, at most rate_bytes_per_s, and reports each file's SHA-256 to the
// tracker by signed POST <tracker>/v1/scrub
//   {"url": public_url, "name": name,
//    "files": [{"path": "aa/bb/<id>.<ext>", "sha256": "<hex>", "bytes": N}]}
// so the tracker can compare it with the hash recorded at upload. A batch
// goes out at kBatchFiles files, kBatchAge after its first file, or at the
// end of a pass; one the tracker does not accept (unreachable, non-2xx) is
// retried, never dropped, and scrubbing waits for it. Read only: it never
// writes, renames or deletes anything under the root.
//
// Owned by Node. Counters scrub_files_total, scrub_bytes_total and
// scrub_passes_total are registered on `metrics` at construction, running
// or not. Start() and
// Stop() are for the owner's thread; the scrub runs on a thread of its own.
class Scrubber {
 public:
  // Why these values: a batch of 256 is ~30 KB of JSON, one cheap request;
  // two seconds keeps the tracker's view fresh when the rate is low.
  static constexpr size_t kBatchFiles = 256;
  static constexpr std::chrono::seconds kBatchAge{2};

  // `store`, `metrics` and `clock` must outlive the Scrubber.
  Scrubber(ScrubberOptions options, FileStore& store, http::Metrics& metrics,
           const Clock& clock);
  ~Scrubber();
  Scrubber(const Scrubber&) = delete;
  Scrubber& operator=(const Scrubber&) = delete;

  // Starts the scrub thread; does nothing when the rate is 0 or there is
  // no tracker. Call once.
  void Start();
  // Ends the scrub thread within about a second (at once unless a read or
  // a report is in flight) and joins it. Idempotent.
  void Stop();

 private:
  struct Checked {
    std::string path;
    std::string sha256;
    int64_t bytes = 0;
  };
  using Link = TrackerLink;

  void Loop();
  // One pass over every file. False when stopping.
  bool Pass();
  // Sends `batch` until the tracker accepts it, then clears it. False when
  // stopping first.
  bool Send(std::vector<Checked>& batch);
  // One attempt; logs a change of the tracker's state once.
  bool Post(const std::string& body);
  // Waits until `deadline`; true when stopping.
  bool WaitUntil(std::chrono::steady_clock::time_point deadline);

  const ScrubberOptions options_;
  FileStore& store_;
  const Clock& clock_;
  std::atomic<uint64_t>& files_;
  std::atomic<uint64_t>& bytes_;
  std::atomic<uint64_t>& passes_;

  // Scrub thread only: when the next read may start, so that the bytes
  // read stay within the rate (no credit is saved up while idle).
  std::chrono::steady_clock::time_point next_read_;
  Trackers trackers_{options_.tracker_urls};
  Link link_ = Link::kUnknown;
  std::string link_url_;  // the tracker of link_

  std::mutex mutex_;  // guards stopping_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace imgstore
