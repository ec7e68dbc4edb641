// The ledger of held jobs, driven by hand without threads: every transition
// and the slot accounting the worker's parts rely on.
#include <doctest/doctest.h>

#include <chrono>
#include <stop_token>
#include <thread>

#include "worker/in_hand.hpp"

using pw::worker::InHand;
using pw::worker::Stage;

namespace {

// Claims of the given job ids, each the job's `claim`-th claim.
std::vector<pw::queue::ClaimedJob> claims(std::initializer_list<std::int64_t> ids, std::int64_t claim = 1) {
  std::vector<pw::queue::ClaimedJob> out;
  for (auto id : ids) {
    pw::queue::ClaimedJob claimed;
    claimed.job.id = id;
    claimed.job.claim = claim;
    claimed.job.type = "noop";
    claimed.job.attempts = 1;
    out.push_back(claimed);
  }
  return out;
}

pw::queue::ClaimToken first_claim_of(std::int64_t id) { return {id, 1}; }

}  // namespace

TEST_CASE("InHand: a claim goes claimed -> started -> finished -> recorded") {
  InHand ledger(4, 2);
  auto claimed = claims({7});
  auto taken = ledger.take(claimed, false, 0);
  CHECK(taken.refused.empty());
  CHECK(taken.superseded.empty());
  CHECK(ledger.stage(first_claim_of(7)) == Stage::claimed);
  CHECK(ledger.free_slots() == 3);

  auto held = ledger.try_next();
  REQUIRE(held);
  CHECK(held->job.id == 7);
  CHECK(ledger.stage(first_claim_of(7)) == Stage::started);
  CHECK(ledger.running().size() == 1);

  CHECK_FALSE(ledger.finish(*held));  // no backlog: the slot is simply free
  CHECK(ledger.stage(first_claim_of(7)) == Stage::finished);
  CHECK(ledger.free_slots() == 4);
  CHECK(ledger.running().empty());
  CHECK(ledger.held() == 1);  // the lease is kept until the outcome is recorded

  ledger.forget({held});
  CHECK_FALSE(ledger.stage(first_claim_of(7)).has_value());
  CHECK(ledger.held() == 0);
  CHECK_FALSE(ledger.try_next());
}

TEST_CASE("InHand: with a backlog a finished slot is reserved for the completer's refill") {
  InHand ledger(2, 1);
  auto claimed = claims({1, 2});
  ledger.take(claimed, true, 0);
  CHECK(ledger.free_slots() == 0);
  auto first = ledger.try_next();
  REQUIRE(first);
  CHECK(ledger.finish(*first));  // reserved, not free
  CHECK(ledger.reserved() == 1);
  CHECK(ledger.free_slots() == 0);
  CHECK(ledger.refill_limit(1, 256) == 1);
  CHECK(ledger.refill_limit(5, 3) == 2);  // at most concurrency

  // The completer's refill took one job for the reserved slot.
  auto refill = claims({3});
  ledger.take(refill, true, 1);
  CHECK(ledger.reserved() == 0);
  CHECK(ledger.free_slots() == 0);
  ledger.forget({first});

  // A refill that came back short ends the backlog: freed slots are free again.
  auto second = ledger.try_next();
  REQUIRE(second);
  CHECK(ledger.finish(*second));
  std::vector<pw::queue::ClaimedJob> none;
  ledger.take(none, false, 1);
  auto third = ledger.try_next();
  REQUIRE(third);
  CHECK_FALSE(ledger.finish(*third));
  CHECK(ledger.free_slots() == 2);
}

TEST_CASE("InHand: the claimer is offered a batch's worth of room with a backlog, any room when idle") {
  InHand ledger(4, 2);
  std::stop_source never;
  auto room = ledger.wait_for_room(never.get_token());
  REQUIRE(room);
  CHECK(room->slots == 4);
  CHECK(room->backlog);  // claim at once on start

  auto claimed = claims({1, 2, 3, 4});
  ledger.take(claimed, false, 0);
  auto held = ledger.try_next();
  ledger.finish(*held);
  room = ledger.wait_for_room(never.get_token());
  REQUIRE(room);
  CHECK(room->slots == 1);
  CHECK_FALSE(room->backlog);

  std::stop_source stop;
  stop.request_stop();
  CHECK_FALSE(ledger.wait_for_room(stop.get_token()));
  CHECK_FALSE(ledger.next(stop.get_token()) == nullptr);  // a ready job is still handed out
}

TEST_CASE("InHand: after claiming stops, new claims are refused and unstarted ones are handed back") {
  InHand ledger(4, 2);
  auto claimed = claims({1, 2, 3});
  ledger.take(claimed, false, 0);
  auto running = ledger.try_next();
  REQUIRE(running);
  ledger.stop_claiming();
  CHECK_FALSE(ledger.wait_for_room(std::stop_source().get_token()));

  auto late = claims({9});
  auto refused = ledger.take(late, false, 0).refused;
  REQUIRE(refused.size() == 1);
  CHECK(refused[0]->job.id == 9);
  CHECK(ledger.stage(first_claim_of(9)) == Stage::claimed);  // held until its hand-back is recorded

  auto unstarted = ledger.take_unstarted();
  CHECK(unstarted.size() == 2);
  CHECK_FALSE(ledger.try_next());
  CHECK_FALSE(ledger.wait_until_idle(std::chrono::steady_clock::now()));
  CHECK(ledger.running().size() == 1);
  CHECK_FALSE(ledger.finish(*running));  // no refills once claiming stopped
  CHECK(ledger.refill_limit(3, 256) == 0);
  CHECK(ledger.wait_until_idle(std::chrono::steady_clock::now()));

  ledger.release_handlers();
  CHECK(ledger.next(std::stop_source().get_token()) == nullptr);
}

TEST_CASE("InHand: the lease keeper renews what is held and not lost") {
  InHand ledger(4, 2);
  auto claimed = claims({1, 2});
  ledger.take(claimed, false, 0);
  CHECK(ledger.renewable().size() == 2);
  ledger.find(first_claim_of(1))->lost = true;
  auto renewable = ledger.renewable();
  REQUIRE(renewable.size() == 1);
  CHECK(renewable[0]->job.id == 2);
  CHECK_FALSE(ledger.find(first_claim_of(5)));
}

TEST_CASE("InHand: ledger entries are keyed by claim: a newer claim of a held job supersedes the older one") {
  InHand ledger(4, 2);
  auto first = claims({2}, 1);
  ledger.take(first, false, 0);
  auto old_run = ledger.try_next();
  REQUIRE(old_run);

  // The lease lapsed (this worker froze) and the job was claimed again.
  auto again = claims({2}, 2);
  auto taken = ledger.take(again, false, 0);
  REQUIRE(taken.superseded.size() == 1);
  CHECK(taken.superseded[0] == old_run);
  CHECK(old_run->lost);  // its handler is told to stop
  CHECK(ledger.stage({2, 1}) == Stage::started);
  CHECK(ledger.stage({2, 2}) == Stage::claimed);
  auto renewable = ledger.renewable();
  REQUIRE(renewable.size() == 1);
  CHECK(renewable[0]->key() == pw::queue::ClaimToken{2, 2});

  // The old run's outcome is recorded (refused by the table): only its entry goes.
  ledger.finish(*old_run);
  ledger.forget({old_run});
  CHECK_FALSE(ledger.stage({2, 1}));
  CHECK(ledger.stage({2, 2}) == Stage::claimed);
  CHECK(ledger.find({2, 2}) != nullptr);
}

namespace {

std::vector<pw::queue::ClaimedJob> typed(std::initializer_list<std::pair<std::int64_t, const char*>> jobs) {
  std::vector<pw::queue::ClaimedJob> out;
  for (const auto& [id, type] : jobs) {
    pw::queue::ClaimedJob claimed;
    claimed.job.id = id;
    claimed.job.claim = 1;
    claimed.job.type = type;
    claimed.job.attempts = 1;
    out.push_back(claimed);
  }
  return out;
}

pw::worker::Slots per_type_slots() {
  return pw::worker::Slots{.concurrency = 4, .capacity = 8, .claim_threshold = 1,
                           .type_limits = {{"slow", 1}, {"wide", 100}}};
}

}  // namespace

TEST_CASE("InHand: each type runs up to its own limit, and a later job of another type goes ahead of one that waits") {
  InHand ledger(per_type_slots());
  auto claimed = typed({{1, "slow"}, {2, "slow"}, {3, "noop"}});
  ledger.take(claimed, false, 0);

  auto first = ledger.try_next();
  REQUIRE(first);
  CHECK(first->job.id == 1);
  auto second = ledger.try_next();
  REQUIRE(second);
  CHECK(second->job.id == 3);  // job 2 waits for slow's only slot
  CHECK_FALSE(ledger.try_next());
  CHECK(ledger.running_of("slow") == 1);
  CHECK(ledger.held_of("slow") == 2);
  CHECK(ledger.stage(first_claim_of(2)) == Stage::claimed);

  // The slot frees: the waiting job is next.
  CHECK_FALSE(ledger.finish(*first));
  auto third = ledger.try_next();
  REQUIRE(third);
  CHECK(third->job.id == 2);
  CHECK(ledger.running_of("slow") == 1);
  CHECK(ledger.held_of("slow") == 1);
}

TEST_CASE("InHand: a handler waiting for work is woken when a held job's type gets a free slot") {
  InHand ledger(per_type_slots());
  auto claimed = typed({{1, "slow"}, {2, "slow"}});
  ledger.take(claimed, false, 0);
  auto first = ledger.try_next();
  REQUIRE(first);

  std::stop_source stop;
  std::shared_ptr<pw::worker::Held> got;
  std::thread handler([&] { got = ledger.next(stop.get_token()); });
  // Job 2 is in hand but its type is at its limit: the handler waits, it
  // does not take it.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(ledger.stage(first_claim_of(2)) == Stage::claimed);
  ledger.finish(*first);
  handler.join();
  REQUIRE(got);
  CHECK(got->job.id == 2);
}

TEST_CASE("InHand: claims pass over a type with its limit in hand, and one claim asks for at most the concurrency") {
  InHand ledger(per_type_slots());
  std::stop_source never;
  auto room = ledger.wait_for_room(never.get_token());
  REQUIRE(room);
  CHECK(room->slots == 4);  // capacity 8, but one claim takes at most concurrency
  CHECK(room->skip_types.empty());

  auto claimed = typed({{1, "slow"}, {2, "wide"}});
  ledger.take(claimed, false, 0);
  CHECK(ledger.full_types() == std::vector<std::string>{"slow"});
  room = ledger.wait_for_room(never.get_token());
  REQUIRE(room);
  CHECK(room->slots == 4);  // 6 free, still 4 at most
  CHECK(room->skip_types == std::vector<std::string>{"slow"});

  // Running or waiting, a held job counts against its type until its handler returns.
  auto slow = ledger.try_next();
  REQUIRE(slow);
  CHECK(slow->job.type == "slow");
  CHECK(ledger.full_types() == std::vector<std::string>{"slow"});
  ledger.finish(*slow);
  CHECK(ledger.full_types().empty());

  // A type with no limit of its own runs up to `concurrency`, and a limit
  // above it is cut to it; such a type is never passed over, however many
  // of its jobs are in hand.
  auto noops = typed({{3, "noop"}, {4, "noop"}, {5, "noop"}, {6, "noop"}, {7, "noop"}});
  ledger.take(noops, false, 0);
  CHECK(ledger.held_of("noop") == 5);
  CHECK(ledger.full_types().empty());
  int noops_started = 0;
  while (auto next = ledger.try_next()) {
    if (next->job.type == "noop") ++noops_started;
  }
  CHECK(noops_started == 4);  // limited to concurrency all the same
  CHECK(ledger.running_of("noop") == 4);
  CHECK(ledger.held_of("wide") == 1);
  CHECK(ledger.refill_limit(50, 256) == 4);  // refills too: at most concurrency
}

TEST_CASE("InHand: jobs waiting for their type's slot are handed back unstarted at shutdown, and stop counting against it") {
  InHand ledger(per_type_slots());
  auto claimed = typed({{1, "slow"}, {2, "slow"}, {3, "slow"}});
  ledger.take(claimed, false, 0);
  auto running = ledger.try_next();
  REQUIRE(running);
  ledger.stop_claiming();
  auto unstarted = ledger.take_unstarted();
  REQUIRE(unstarted.size() == 2);
  CHECK(unstarted[0]->job.id == 2);
  CHECK(unstarted[1]->job.id == 3);
  CHECK(ledger.held_of("slow") == 1);
  CHECK(ledger.running().size() == 1);
  ledger.finish(*running);
  CHECK(ledger.held_of("slow") == 0);
  CHECK(ledger.wait_until_idle(std::chrono::steady_clock::now()));
}
