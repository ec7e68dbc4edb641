#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "observability/line_writer.hpp"

using pw::observability::LineWriter;

namespace {

struct Pipe {
  int read_end = -1;
  int write_end = -1;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    read_end = fds[0];
    write_end = fds[1];
  }
  ~Pipe() {
    if (read_end >= 0) ::close(read_end);
    if (write_end >= 0) ::close(write_end);
  }
  // Everything the writer side sends until it closes.
  std::string read_all() {
    std::string all;
    char buffer[65536];
    for (;;) {
      const auto n = ::read(read_end, buffer, sizeof buffer);
      if (n <= 0) return all;
      all.append(buffer, static_cast<std::size_t>(n));
    }
  }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("line writer: every line from many threads arrives whole, once, each thread's in its order") {
  Pipe pipe;
  std::string received;
  std::thread reader([&] { received = pipe.read_all(); });
  constexpr int kThreads = 8;
  constexpr int kLines = 5000;
  {
    LineWriter writer(pipe.write_end);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&writer, t] {
        for (int i = 0; i < kLines; ++i) {
          writer.append("thread " + std::to_string(t) + " line " + std::to_string(i) + std::string(40, 'x'));
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }  // the destructor writes what is pending
  ::close(pipe.write_end);
  pipe.write_end = -1;
  reader.join();
  std::map<int, int> next;  // thread -> the line number expected next
  const auto lines = lines_of(received);
  REQUIRE(lines.size() == static_cast<std::size_t>(kThreads * kLines));
  for (const auto& line : lines) {
    int thread = -1;
    int number = -1;
    REQUIRE(std::sscanf(line.c_str(), "thread %d line %d", &thread, &number) == 2);
    CHECK(line.size() == line.find('x') + 40);
    CHECK(number == next[thread]);
    next[thread] = number + 1;
  }
}

TEST_CASE("line writer: flush returns once the lines before it are out, without a destructor") {
  Pipe pipe;
  LineWriter writer(pipe.write_end);
  writer.append("first");
  writer.append("second");
  writer.flush();
  // Non-blocking read: the bytes must already be in the pipe.
  REQUIRE(::fcntl(pipe.read_end, F_SETFL, O_NONBLOCK) == 0);
  char buffer[64];
  const auto n = ::read(pipe.read_end, buffer, sizeof buffer);
  REQUIRE(n > 0);
  CHECK(std::string(buffer, static_cast<std::size_t>(n)) == "first\nsecond\n");
}

TEST_CASE("line writer: a reader that stalls holds appends back at the bound, and nothing is lost") {
  Pipe pipe;
  std::atomic<int> appended{0};
  constexpr int kLines = 20000;
  const std::string body(999, 'y');  // 1,000 bytes a line: 20 MB in all, far over the bound
  std::string received;
  {
    LineWriter writer(pipe.write_end);
    std::thread producer([&] {
      for (int i = 0; i < kLines; ++i) {
        writer.append(body);
        ++appended;
      }
    });
    // Nobody reads yet: the pipe fills (64 KiB), then the writer's buffer
    // (the bound), then the producer must wait.
    for (int i = 0; i < 200 && appended.load() < kLines; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const int held_at = appended.load();
    CHECK(held_at < kLines);
    // What is held: the pipe's buffer, the batch the writer is stuck
    // writing, and the pending buffer up to its bound (plus the line that
    // crossed it).
    const auto pipe_bytes = static_cast<std::size_t>(::fcntl(pipe.write_end, F_GETPIPE_SZ));
    CHECK(static_cast<std::size_t>(held_at) * 1000 <= pipe_bytes + 2 * LineWriter::kMaxPendingBytes + 2000);
    std::thread reader([&] { received = pipe.read_all(); });
    producer.join();
    writer.flush();
    ::close(pipe.write_end);
    pipe.write_end = -1;
    reader.join();
  }
  const auto lines = lines_of(received);
  CHECK(lines.size() == static_cast<std::size_t>(kLines));
  for (const auto& line : lines) CHECK(line == body);
}

TEST_CASE("line writer: a steady stream of lines goes out in a few writes, not one per line") {
  Pipe pipe;
  std::string received;
  std::thread reader([&] { received = pipe.read_all(); });
  constexpr int kLines = 400;
  std::uint64_t batches = 0;
  {
    LineWriter writer(pipe.write_end);
    // One line every 20 us or so: each would find the writer idle, and wake
    // it, if it did not gather after a write.
    for (int i = 0; i < kLines; ++i) {
      writer.append("line " + std::to_string(i));
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    writer.flush();
    batches = writer.batches();
  }
  ::close(pipe.write_end);
  pipe.write_end = -1;
  reader.join();
  CHECK(lines_of(received).size() == static_cast<std::size_t>(kLines));
  MESSAGE(kLines, " lines in ", batches, " writes");
  CHECK(batches < kLines / 4);
}

TEST_CASE("line writer: flush does not wait out the gathering pause, and a lone line still goes out by itself") {
  Pipe pipe;
  REQUIRE(::fcntl(pipe.read_end, F_SETFL, O_NONBLOCK) == 0);
  LineWriter writer(pipe.write_end);
  writer.append("alone");
  // No flush: the idle writer is woken by the line and writes it.
  std::string got;
  for (int i = 0; i < 2000 && got.empty(); ++i) {
    char buffer[64];
    const auto n = ::read(pipe.read_end, buffer, sizeof buffer);
    if (n > 0) got.assign(buffer, static_cast<std::size_t>(n));
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  CHECK(got == "alone\n");
  // Now the writer is gathering or idle; either way a flush gets the next
  // lines out before it returns.
  writer.append("next");
  writer.flush();
  char buffer[64];
  const auto n = ::read(pipe.read_end, buffer, sizeof buffer);
  REQUIRE(n > 0);
  CHECK(std::string(buffer, static_cast<std::size_t>(n)) == "next\n");
}
