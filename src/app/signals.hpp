// SIGTERM and SIGINT, turned into a blocking wait on the main thread.
#pragma once

#include <csignal>

namespace pw::app {

// Blocks SIGINT and SIGTERM for this thread and every thread started after
// it, so only wait() ever sees them. Construct before starting any thread.
class ShutdownSignals {
 public:
  ShutdownSignals();
  ~ShutdownSignals();
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  // Returns the signal number that arrived.
  int wait();

 private:
  sigset_t m_set;
  sigset_t m_previous;
};

}  // namespace pw::app
