// Group commit for SQLite: the writes of many request threads run one after
// another on one writer connection, inside one transaction, each in a
// savepoint of its own, and commit together. A commit (WAL frames, the lock
// handed on, a checkpoint now and then) is most of what a short request's
// write costs; shared by a batch, it is paid once. The pages the batch
// touches stay in one connection's cache instead of being read again by
// every request connection after each other one's commit.
//
// Guarantees kept: run() returns only after the COMMIT that holds its write
// (a 2xx still means committed and durable at the configured synchronous
// level); an exception from one write rolls back that write only and goes
// to its caller; writes run in the order they came.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "db/connection.hpp"
#include "storage/storage.hpp"

namespace pw::storage {

class GroupCommit {
 public:
  using Work = std::function<void(Session&)>;
  // The writer: a session, and the SQLite connection under it (for the
  // savepoints). Opened at the first write, and again whenever the last one
  // stopped being reusable.
  struct Writer {
    std::unique_ptr<Session> session;
    db::Connection* connection = nullptr;
  };
  using OpenWriter = std::function<Writer()>;

  // `wait`: how long a write may stay queued before it is refused (busy),
  // as long as a writer waits at the write gate. `max_batch`: writes per
  // transaction at most, so the lock is not held for long while another
  // process (a worker) waits for it.
  // `gave_up` hears how long a refused write waited, in seconds (the
  // storage's lock observer: it counts as a lock wait that timed out).
  GroupCommit(OpenWriter open, std::chrono::milliseconds wait, std::size_t max_batch,
              std::function<void(double)> gave_up = {});
  // Runs what is queued, then stops.
  ~GroupCommit();
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Runs `work` on the writer session in the next batch; returns once the
  // batch committed, or rethrows what `work` threw (its own writes rolled
  // back) or what failed the batch (db::Error: nothing of it was kept).
  void run(const Work& work);

 private:
  // On the caller's stack while it waits.
  struct Item {
    const Work* work = nullptr;
    std::exception_ptr error;
    bool taken = false;
    bool done = false;
    std::condition_variable finished;
  };

  void loop();
  void commit(const std::vector<Item*>& batch);
  // Runs `items` in one transaction; returns those to run again because the
  // transaction was lost under them (empty when it committed, or failed as
  // a whole).
  std::vector<Item*> attempt(const std::vector<Item*>& items);
  Writer& writer();

  OpenWriter m_open;
  std::chrono::milliseconds m_wait;
  std::size_t m_max_batch;
  std::function<void(double)> m_gave_up;
  Writer m_writer;  // only the writer thread touches it

  std::mutex m_mutex;
  std::condition_variable m_wake;
  std::deque<Item*> m_queue;
  bool m_stopping = false;
  // Started at the first write: a role that never writes through it (the
  // worker, a CLI command) has no idle thread for it.
  std::thread m_thread;
};

}  // namespace pw::storage
