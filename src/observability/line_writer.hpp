// Writes log lines to a file descriptor from a thread of its own, many lines
// per write(2). A request thread only appends its line to a buffer, so it
// neither waits for the write nor queues behind other threads' writes on
// one lock; lines still reach the pipe within microseconds (the writer
// wakes on the first line of each batch), in the order they were appended.
// Bounded: past kMaxPendingBytes pending an append waits for the writer (a
// stalled reader of stdout slows logging down; it never loses lines), so at
// most about twice that is held: the batch being written and the one after.
#pragma once

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

 private:
  void run();
  void write_out(const std::string& bytes);

  const int m_fd;
  std::mutex m_mutex;
  std::condition_variable m_wake;     // the writer: lines are pending, or stop
  std::condition_variable m_written;  // appenders and flush(): a batch is out
  std::string m_pending;
  std::uint64_t m_appended = 0;  // batches are counted by their last line
  std::uint64_t m_written_up_to = 0;
  bool m_stopping = false;
  std::thread m_thread;  // last: starts once the members above exist
};

}  // namespace pw::observability
