#include "observability/line_writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace pw::observability {

LineWriter::LineWriter(int fd) : m_fd(fd), m_thread([this] { run(); }) {}

LineWriter::~LineWriter() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_one();
  m_thread.join();
}

void LineWriter::append(std::string_view line) {
  std::unique_lock lock(m_mutex);
  m_written.wait(lock, [&] { return m_pending.size() < kMaxPendingBytes || m_stopping; });
  const std::size_t before = m_pending.size();
  m_pending.append(line);
  m_pending.push_back('\n');
  ++m_appended;
  // Only a line the writer waits for wakes it: the first one while it is
  // idle, or the one that fills a gathering writer's batch. The others are
  // picked up with them, without a futex call each.
  const bool wake = (m_idle && before == 0) || (before < kGatherBytes && m_pending.size() >= kGatherBytes);
  lock.unlock();
  if (wake) m_wake.notify_one();
}

void LineWriter::flush() {
  std::unique_lock lock(m_mutex);
  const auto target = m_appended;
  if (m_written_up_to >= target) return;
  m_flush_up_to = std::max(m_flush_up_to, target);
  m_wake.notify_one();  // a gathering writer goes now
  m_written.wait(lock, [&] { return m_written_up_to >= target; });
}

std::uint64_t LineWriter::batches() const {
  std::lock_guard lock(m_mutex);
  return m_batches;
}

void LineWriter::run() {
  std::string batch;
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_idle = true;
    m_wake.wait(lock, [&] { return !m_pending.empty() || m_stopping; });
    m_idle = false;
    if (m_pending.empty()) return;  // stopping, and everything is out
    batch.swap(m_pending);
    const auto last = m_appended;
    lock.unlock();
    write_out(batch);
    batch.clear();
    lock.lock();
    m_written_up_to = last;
    ++m_batches;
    m_written.notify_all();
    // Gather: lines that come in meanwhile go out together, and their
    // appenders wake nobody.
    m_wake.wait_for(lock, kGatherPause, [&] {
      return m_stopping || m_flush_up_to > m_written_up_to || m_pending.size() >= kGatherBytes;
    });
  }
}

void LineWriter::write_out(const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const auto n = ::write(m_fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    // A closed or broken stdout: nobody can read these lines, and logging
    // must not take the process down or spin; they are dropped.
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace pw::observability
