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

ShutdownSignals::~ShutdownSignals() { pthread_sigmask(SIG_SETMASK, &m_previous, nullptr); }

int ShutdownSignals::wait() {
  int signal = 0;
  while (sigwait(&m_set, &signal) != 0) {
  }
  return signal;
}

}  // namespace pw::app
