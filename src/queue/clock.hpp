// Time for the job table, injectable so tests can move it by hand.
#pragma once

#include <atomic>
#include <cstdint>

namespace pw::queue {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual std::int64_t now_ms() const = 0;
  // True for the real time of day. A database server then keeps the time
  // itself (PostgreSQL's clock, so hosts whose clocks disagree still agree
  // on leases and due times); any other clock is sent with each statement.
  virtual bool is_real() const { return false; }
};

class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override;
  bool is_real() const override { return true; }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : m_now(start_ms) {}
  std::int64_t now_ms() const override { return m_now.load(); }
  void advance_ms(std::int64_t delta) { m_now += delta; }
  void set_ms(std::int64_t value) { m_now = value; }

 private:
  std::atomic<std::int64_t> m_now;
};

}  // namespace pw::queue
