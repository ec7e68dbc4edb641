// Writes log lines to a file descriptor from a thread of its own, many lines
// per write(2). A request thread only appends its line to a buffer, so it
// neither waits for the write nor queues behind other threads' writes on
// one lock. An idle writer wakes on the first line; after each write it
// gathers for up to kGatherPause before the next, so under a steady stream
// of lines one wake and one write(2) carry many of them instead of one
// each. Lines reach the descriptor within about a millisecond, in the order
// they were appended.
// Bounded: past kMaxPendingBytes pending an append waits for the writer (a
// stalled reader of stdout slows logging down; it never loses lines), so at
// most about twice that is held: the batch being written and the one after.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace pw::observability {

class LineWriter {
 public:
  static constexpr std::size_t kMaxPendingBytes = 4 << 20;
  static constexpr std::chrono::microseconds kGatherPause{1000};
  // A gathering writer goes at once when this much is pending.
  static constexpr std::size_t kGatherBytes = 64 << 10;

  explicit LineWriter(int fd);
  // Writes what is pending, then stops the thread.
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // Appends `line` and a newline.
  void append(std::string_view line);
  // Returns once every line appended before the call has been written (or
  // the descriptor refused it).
  void flush();
  // write(2) batches so far: how well lines are gathered.
  std::uint64_t batches() const;

 private:
  void run();
  void write_out(const std::string& bytes);

  const int m_fd;
  mutable std::mutex m_mutex;
  std::condition_variable m_wake;     // the writer: lines are pending, a flush, or stop
  std::condition_variable m_written;  // appenders and flush(): a batch is out
  std::string m_pending;
  std::uint64_t m_appended = 0;  // batches are counted by their last line
  std::uint64_t m_written_up_to = 0;
  std::uint64_t m_flush_up_to = 0;  // a flush() waits for the lines up to here
  std::uint64_t m_batches = 0;
  bool m_idle = false;  // waiting for a first line, not gathering
  bool m_stopping = false;
  std::thread m_thread;  // last: starts once the members above exist
};

}  // namespace pw::observability
