#include "observability/line_writer.hpp"

#include <unistd.h>

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
  const bool was_empty = m_pending.empty();
  m_pending.append(line);
  m_pending.push_back('\n');
  ++m_appended;
  lock.unlock();
  // Only the first line of a batch wakes the writer: the ones after it are
  // picked up with it, without a futex call each.
  if (was_empty) m_wake.notify_one();
}

void LineWriter::flush() {
  std::unique_lock lock(m_mutex);
  const auto target = m_appended;
  m_written.wait(lock, [&] { return m_written_up_to >= target; });
}

void LineWriter::run() {
  std::string batch;
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_wake.wait(lock, [&] { return !m_pending.empty() || m_stopping; });
    if (m_pending.empty()) return;  // stopping, and everything is out
    batch.swap(m_pending);
    const auto last = m_appended;
    lock.unlock();
    write_out(batch);
    batch.clear();
    lock.lock();
    m_written_up_to = last;
    m_written.notify_all();
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
