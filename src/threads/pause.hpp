// A background thread's sleep between rounds that a stop request cuts short.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace pw::threads {

// Sleeps for `pause` unless `stop` is requested first; false if it was.
inline bool pause_unless_stopped(std::stop_token stop, std::chrono::milliseconds pause) {
  std::mutex mutex;
  std::condition_variable_any wake;
  std::unique_lock lock(mutex);
  wake.wait_for(lock, stop, pause, [] { return false; });
  return !stop.stop_requested();
}

}  // namespace pw::threads
