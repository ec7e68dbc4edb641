// The ledger of jobs this worker holds, from claim until their outcome is
// recorded: claimed -> started (a handler took it) -> finished (the handler
// returned) -> recorded (the completer committed the outcome; forgotten).
// It also does the slot accounting: how many jobs the worker holds (its
// capacity: running and waiting for a handler), how many of each type run at
// once (each type's limit), which types a claim should pass over (those with
// as many in hand as their limit), and the slots the completer refills in
// its own transaction.
//
// One mutex guards all of it (checked by clang's -Wthread-safety). Every
// wait takes the waiting thread's stop_token, so each part stops on its own.
// The non-blocking members are enough to drive the ledger without threads
// (tests/unit/worker/test_in_hand.cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "queue/job.hpp"
#include "queue/job_queue.hpp"
#include "worker/thread_safety.hpp"

namespace pw::worker {

// What tells one claim of a job from any other claim of it: the fencing
// token every state change of the claim is guarded by.
using ClaimKey = queue::ClaimToken;
inline ClaimKey key_of(const queue::Job& job) { return queue::token_of(job); }

struct ClaimKeyHash {
  std::size_t operator()(const ClaimKey& key) const noexcept {
    return std::hash<std::int64_t>()(key.job_id * 1'000'003 + key.claim);
  }
};

// One claim, shared by the ledger, its handler and the completer.
struct Held {
  explicit Held(queue::Job claimed) : job(std::move(claimed)) {}
  const queue::Job job;
  // This claim is no longer ours (canceled, lapsed and taken over, or
  // superseded by a newer claim): its handler is told to stop, and its
  // outcome will be refused.
  std::atomic<bool> lost{false};
  // Why it was lost, when it was: canceled by an operator or a user while it
  // ran (set before `lost`). Its handler's cancellation token.
  std::atomic<bool> canceled{false};
  ClaimKey key() const { return key_of(job); }
};

enum class Stage { claimed, started, finished };

// How a worker's slots are shared out.
struct Slots {
  // Jobs running at once (the handler threads); also the most one claim takes.
  int concurrency = 1;
  // Jobs held at once, running or waiting for a handler: room beyond
  // `concurrency`, so a type at its limit with more of its jobs in hand
  // never leaves the other types without room to be claimed.
  int capacity = 1;
  // With a backlog, the claimer waits for this much room (a worthwhile
  // batch) instead of claiming for every freed slot.
  int claim_threshold = 1;
  // Jobs of a type running at once; a type not named here: `concurrency`.
  std::map<std::string, int, std::less<>> type_limits;
};

class InHand {
 public:
  explicit InHand(Slots slots);
  // `concurrency` jobs held and running, every type alike.
  InHand(int concurrency, int claim_threshold);
  InHand(const InHand&) = delete;
  InHand& operator=(const InHand&) = delete;

  // ---- the claimer
  struct Room {
    int slots;     // the most to claim now (at most `concurrency`)
    bool backlog;  // the last claim took all it asked for
    std::vector<std::string> skip_types;  // types with their limit in hand
  };
  // Waits for room worth a claim; nothing once claiming stopped or `stop` was requested.
  std::optional<Room> wait_for_room(std::stop_token stop) PW_EXCLUDES(m_mutex);
  // Puts claimed jobs in hand for the handlers and gives up `unreserve` slots
  // kept for the completer. `backlog`: whether the claim took all it asked
  // for; nothing when no claim was made.
  struct Taken {
    // Refused because claiming stopped meanwhile: held until their hand-back is recorded.
    std::vector<std::shared_ptr<Held>> refused;
    // Older claims of the same jobs still in hand (their lease lapsed and
    // this worker claimed the job again): flagged lost, so their handlers stop.
    std::vector<std::shared_ptr<Held>> superseded;
  };
  Taken take(std::vector<queue::ClaimedJob>& claimed, std::optional<bool> backlog, int unreserve)
      PW_EXCLUDES(m_mutex);

  // ---- handler threads
  // The next claimed job, now started; nothing once the handlers are
  // released or `stop` was requested.
  std::shared_ptr<Held> next(std::stop_token stop) PW_EXCLUDES(m_mutex);
  std::shared_ptr<Held> try_next() PW_EXCLUDES(m_mutex);
  // The handler returned. True when its slot is now reserved for the
  // completer to refill (there is a backlog); the outcome carries that on.
  bool finish(const Held& held) PW_EXCLUDES(m_mutex);

  // ---- the completer
  // How many jobs the completer may claim with its outcomes for `reserved` kept slots.
  int refill_limit(int reserved, int batch_size) const PW_EXCLUDES(m_mutex);
  // Types limited below `concurrency` with as many jobs in hand (claimed,
  // handler not yet returned) as their limit: claims pass over them, so
  // their backlog stays in the table for workers with room. One claim may still take more of a type than its
  // room (at most `concurrency`): those wait in hand for their type's slots.
  std::vector<std::string> full_types() const PW_EXCLUDES(m_mutex);
  // The outcomes of these claims are recorded (or given up): forget them.
  void forget(const std::vector<std::shared_ptr<Held>>& recorded) PW_EXCLUDES(m_mutex);

  // ---- the lease keeper
  std::vector<std::shared_ptr<Held>> renewable() const PW_EXCLUDES(m_mutex);
  std::shared_ptr<Held> find(ClaimKey key) const PW_EXCLUDES(m_mutex);

  // ---- shutdown
  void stop_claiming() PW_EXCLUDES(m_mutex);
  // Claimed jobs no handler has started: they go back untouched.
  std::vector<std::shared_ptr<Held>> take_unstarted() PW_EXCLUDES(m_mutex);
  // True once no handler runs a job of ours; false at the deadline.
  bool wait_until_idle(std::chrono::steady_clock::time_point deadline) PW_EXCLUDES(m_mutex);
  // Started and not finished.
  std::vector<std::shared_ptr<Held>> running() const PW_EXCLUDES(m_mutex);
  // Handler threads leave next() once the ready queue is empty.
  void release_handlers() PW_EXCLUDES(m_mutex);

  // ---- observation (tests, totals)
  std::optional<Stage> stage(ClaimKey key) const PW_EXCLUDES(m_mutex);
  int free_slots() const PW_EXCLUDES(m_mutex);
  int reserved() const PW_EXCLUDES(m_mutex);
  std::size_t held() const PW_EXCLUDES(m_mutex);
  // Jobs of `type` started and not finished; claimed and not finished.
  int running_of(std::string_view type) const PW_EXCLUDES(m_mutex);
  int held_of(std::string_view type) const PW_EXCLUDES(m_mutex);

 private:
  struct Entry {
    std::shared_ptr<Held> held;
    Stage stage = Stage::claimed;
  };
  struct TypeSlots {
    int limit = 0;
    int held = 0;     // claimed, handler not yet returned
    int running = 0;  // started, handler not yet returned
  };
  struct Ready {
    std::shared_ptr<Held> held;
    TypeSlots* type;  // a node of m_types: stable
  };
  int free_slots_locked() const PW_REQUIRES(m_mutex) { return m_capacity_slots - m_active - m_reserved; }
  // For the completer's refills: a type limited below `concurrency` with
  // its limit in hand. A refill only replaces finished jobs, so a type at
  // `concurrency` gains nothing by it, and passing over it would walk its
  // backlog on every refill (a flood of short jobs would pay that).
  bool is_full(const TypeSlots& slots) const { return slots.limit < m_concurrency && slots.held >= slots.limit; }
  TypeSlots& type_slots(const std::string& type) PW_REQUIRES(m_mutex);
  // The first ready job in claim order whose type has a free slot.
  std::deque<Ready>::iterator first_runnable() PW_REQUIRES(m_mutex);
  void wake_handler() PW_REQUIRES(m_mutex);
  std::shared_ptr<Held> pop_ready() PW_REQUIRES(m_mutex);

  const int m_concurrency;
  const int m_capacity_slots;
  const int m_claim_threshold;
  const std::map<std::string, int, std::less<>> m_type_limits;
  mutable Mutex m_mutex;
  std::condition_variable_any m_work_ready;  // handlers wait for jobs
  std::condition_variable_any m_capacity;    // the claimer waits for room; shutdown waits for handlers
  // Claimed, not started, in claim order; a job whose type is at its limit
  // waits here while later jobs of other types go ahead of it.
  std::deque<Ready> m_ready PW_GUARDED_BY(m_mutex);
  std::map<std::string, TypeSlots, std::less<>> m_types PW_GUARDED_BY(m_mutex);
  std::unordered_map<ClaimKey, Entry, ClaimKeyHash> m_held PW_GUARDED_BY(m_mutex);  // claimed, outcome not yet recorded
  // job id -> its newest claim in m_held
  std::unordered_map<std::int64_t, ClaimKey> m_newest PW_GUARDED_BY(m_mutex);
  int m_active PW_GUARDED_BY(m_mutex) = 0;  // claimed, handler not yet returned
  // Slots freed by finished handlers while there was a backlog, kept for the
  // completer: it claims their replacements in the transaction that records
  // the outcomes, one commit instead of two.
  int m_reserved PW_GUARDED_BY(m_mutex) = 0;
  bool m_backlog PW_GUARDED_BY(m_mutex) = true;  // claim at once on start
  int m_idle_handlers PW_GUARDED_BY(m_mutex) = 0;
  // Handler threads are woken one at a time: the woken one, if jobs remain,
  // wakes the next. Short jobs are then run by the few threads already awake
  // instead of a herd of context switches; long jobs still fan out to every
  // thread within a millisecond or so. True while a wake-up is in flight.
  bool m_waking PW_GUARDED_BY(m_mutex) = false;
  bool m_claimer_waiting PW_GUARDED_BY(m_mutex) = false;
  bool m_stop_claiming PW_GUARDED_BY(m_mutex) = false;
  bool m_handlers_released PW_GUARDED_BY(m_mutex) = false;
};

}  // namespace pw::worker
