#include "storage/group_commit.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "db/error.hpp"

namespace pw::storage {

GroupCommit::GroupCommit(OpenWriter open, std::chrono::milliseconds wait, std::size_t max_batch,
                         std::function<void(double)> gave_up)
    : m_open(std::move(open)),
      m_wait(wait),
      m_max_batch(std::max<std::size_t>(1, max_batch)),
      m_gave_up(std::move(gave_up)) {}

GroupCommit::~GroupCommit() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_one();
  if (m_thread.joinable()) m_thread.join();
}

void GroupCommit::run(const Work& work) {
  Item item;
  item.work = &work;
  std::unique_lock lock(m_mutex);
  if (m_stopping) throw db::Error(db::Fault::unavailable, "shutdown", "the storage is closing");
  if (!m_thread.joinable()) m_thread = std::thread([this] { loop(); });
  m_queue.push_back(&item);
  m_wake.notify_one();
  const auto queued_at = std::chrono::steady_clock::now();
  if (!item.finished.wait_until(lock, queued_at + m_wait, [&] { return item.taken; })) {
    m_queue.erase(std::find(m_queue.begin(), m_queue.end(), &item));
    lock.unlock();
    if (m_gave_up) m_gave_up(std::chrono::duration<double>(std::chrono::steady_clock::now() - queued_at).count());
    throw db::Error(db::Fault::busy, "busy",
                    "waited " + std::to_string(m_wait.count()) + " ms for the other writers of this process");
  }
  item.finished.wait(lock, [&] { return item.done; });
  if (item.error) std::rethrow_exception(item.error);
}

void GroupCommit::loop() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_wake.wait(lock, [&] { return m_stopping || !m_queue.empty(); });
    if (m_queue.empty()) return;  // stopping, and nothing left to run
    // No waiting for a batch to fill: whatever queued while the last one
    // committed goes now, so a lone write costs no more than before.
    std::vector<Item*> batch;
    while (!m_queue.empty() && batch.size() < m_max_batch) {
      batch.push_back(m_queue.front());
      m_queue.pop_front();
      batch.back()->taken = true;
    }
    lock.unlock();
    commit(batch);
    lock.lock();
    // Notified under the lock: a caller cannot wake, return and take its
    // item (and condition variable) off the stack before this is done.
    for (auto* item : batch) {
      item->done = true;
      item->finished.notify_one();
    }
  }
}

void GroupCommit::commit(const std::vector<Item*>& batch) {
  // Each lost transaction drops the write that lost it, so this ends.
  std::vector<Item*> pending = batch;
  while (!pending.empty()) pending = attempt(pending);
}

GroupCommit::Writer& GroupCommit::writer() {
  if (m_writer.session && !m_writer.session->reusable()) m_writer = {};
  if (!m_writer.session) m_writer = m_open();
  return m_writer;
}

std::vector<GroupCommit::Item*> GroupCommit::attempt(const std::vector<Item*>& items) {
  for (auto* item : items) item->error = nullptr;
  try {
    auto& current = writer();
    auto transaction = current.session->begin_write();
    for (std::size_t i = 0; i < items.size(); ++i) {
      auto* item = items[i];
      {
        db::Savepoint savepoint(*current.connection);
        try {
          (*item->work)(*current.session);
          savepoint.release();
        } catch (...) {
          item->error = std::current_exception();
        }
      }
      if (!current.connection->in_transaction()) {
        // SQLite ended the transaction under this write (an I/O error, a
        // full disk): the writes before it went too. This one keeps its
        // error; the others run again, in a new transaction.
        if (!item->error) {
          item->error = std::make_exception_ptr(
              db::Error(db::Fault::other, "transaction lost", "the write transaction ended under this write"));
        }
        std::vector<Item*> again(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(i));
        again.insert(again.end(), items.begin() + static_cast<std::ptrdiff_t>(i) + 1, items.end());
        return again;
      }
    }
    transaction->commit();
  } catch (...) {
    // BEGIN or COMMIT failed (or the writer could not be opened): nothing
    // of the batch was kept. A write that failed on its own keeps its own
    // error; it wrote nothing either way.
    const auto error = std::current_exception();
    for (auto* item : items) {
      if (!item->error) item->error = error;
    }
  }
  return {};
}

}  // namespace pw::storage
