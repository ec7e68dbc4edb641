#include "app/signals.hpp"

#include <pthread.h>

namespace pw::app {

ShutdownSignals::ShutdownSignals() {
  sigemptyset(&m_set);
  sigaddset(&m_set, SIGINT);
  sigaddset(&m_set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &m_set, &m_previous);
  // A peer closing a socket mid-write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
}

ShutdownSignals::~ShutdownSignals() {
  // A second SIGTERM or SIGINT sent during shutdown is still pending here:
  // restoring the mask would deliver it with its default action and end a
  // clean shutdown with status 143. Shutdown has already begun, so further
  // requests for it are ignored from now on, and the pending ones dropped.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  struct timespec now {};
  while (sigtimedwait(&m_set, nullptr, &now) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &m_previous, nullptr);
}

int ShutdownSignals::wait() {
  int signal = 0;
  while (sigwait(&m_set, &signal) != 0) {
  }
  return signal;
}

}  // namespace pw::app
