#include "http/reactor.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

namespace pw::http {
namespace {

// epoll user data of the two descriptors that are not connections.
char kListenerTag;
char kWakeTag;

// Bytes read from one connection per wake-up, so one fast sender cannot
// keep the others waiting.
constexpr std::size_t kReadBudget = 256 * 1024;
// A refused connection is drained for at most this long or this much. A
// client that writes its whole request before it reads (most do) must be
// able to finish writing, or closing on its unread bytes resets the
// connection and its write fails before it sees the answer: 8 MiB covers a
// body several times the largest accepted (1 MiB by default) on top of what
// the kernel buffers hold. More, and the client gets the reset.
constexpr auto kDrainTime = std::chrono::seconds(1);
constexpr std::size_t kDrainBytes = 8 << 20;
// How often deadlines are checked: timeouts are whole seconds, so this is
// precise enough and costs nothing with thousands of connections.
constexpr auto kSweepInterval = std::chrono::milliseconds(100);

}  // namespace

Reactor::Reactor(Listener listener, Settings settings, Callbacks callbacks)
    : m_listener(std::move(listener)),
      m_settings(settings),
      m_callbacks(std::move(callbacks)),
      m_epoll(::epoll_create1(EPOLL_CLOEXEC)),
      m_wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  m_budget.limit = m_settings.max_buffered_bytes;
  if (!m_epoll || !m_wake) throw std::runtime_error("cannot create the connection reactor");
  epoll_event listen_event{};
  listen_event.events = EPOLLIN;
  listen_event.data.ptr = &kListenerTag;
  epoll_event wake_event{};
  wake_event.events = EPOLLIN;
  wake_event.data.ptr = &kWakeTag;
  if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, m_listener.socket.get(), &listen_event) != 0 ||
      ::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, m_wake.get(), &wake_event) != 0) {
    throw std::runtime_error("cannot watch the listening socket");
  }
}

Reactor::~Reactor() { stop(); }

void Reactor::start() { m_thread = std::thread([this] { run(); }); }

void Reactor::park(std::unique_ptr<Connection> connection) {
  const auto now = Clock::now();
  if (connection->framer.started()) {
    connection->deadline = connection->request_started + m_settings.request_timeout;
  } else {
    connection->deadline = now + m_settings.idle_timeout;
  }
  watch(std::move(connection));
}

void Reactor::drain(std::unique_ptr<Connection> connection) {
  ::shutdown(connection->fd(), SHUT_WR);
  connection->draining_until = Clock::now() + kDrainTime;
  connection->deadline = *connection->draining_until;
  watch(std::move(connection));
}

void Reactor::watch(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(m_mutex);
  if (m_stopped) return;  // closed here, with the connection
  Connection* raw = connection.get();
  epoll_event event{};
  // One-shot: an event hands the connection to exactly one owner, which
  // re-arms it (through here) when it wants to hear from it again.
  event.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  event.data.ptr = raw;
  const int op = raw->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (::epoll_ctl(m_epoll.get(), op, raw->fd(), &event) != 0) return;  // closed
  raw->registered = true;
  m_watched.emplace(raw, std::move(connection));
}

void Reactor::stop() {
  m_stopping = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(m_wake.get(), &one, sizeof one);
  if (m_thread.joinable()) m_thread.join();
  std::unordered_map<Connection*, std::unique_ptr<Connection>> closing;
  {
    std::lock_guard lock(m_mutex);
    m_stopped = true;
    closing.swap(m_watched);
  }
  m_listener.socket.reset();
}

void Reactor::run() {
  std::vector<epoll_event> events(256);
  auto next_sweep = Clock::now() + kSweepInterval;
  while (!m_stopping) {
    const int ready = ::epoll_wait(m_epoll.get(), events.data(), static_cast<int>(events.size()),
                                   static_cast<int>(kSweepInterval.count()));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < ready; ++i) {
      void* tag = events[static_cast<std::size_t>(i)].data.ptr;
      if (tag == &kListenerTag) {
        accept_all();
      } else if (tag == &kWakeTag) {
        std::uint64_t count;
        [[maybe_unused]] auto got = ::read(m_wake.get(), &count, sizeof count);
      } else {
        std::unique_ptr<Connection> connection;
        {
          std::lock_guard lock(m_mutex);
          auto found = m_watched.find(static_cast<Connection*>(tag));
          if (found == m_watched.end()) continue;
          connection = std::move(found->second);
          m_watched.erase(found);
        }
        on_readable(std::move(connection));
      }
    }
    const auto now = Clock::now();
    if (now >= next_sweep) {
      sweep();
      next_sweep = now + kSweepInterval;
    }
    if (!m_accepting && now >= m_resume_accepting) {
      m_accepting = true;
      accept_all();
    }
  }
  // No new connections from here on: the kernel refuses them.
  ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, m_listener.socket.get(), nullptr);
  m_listener.socket.reset();
}

void Reactor::accept_all() {
  if (!m_accepting) return;
  for (int i = 0; i < 256; ++i) {
    Accepted accepted = accept_from(m_listener.socket.get());
    if (!accepted.socket) {
      if (accepted.error == EMFILE || accepted.error == ENFILE || accepted.error == ENOBUFS ||
          accepted.error == ENOMEM) {
        // Out of descriptors: make room by closing an idle connection; with
        // none to close, stop accepting for a moment (the listening socket
        // stays readable, so otherwise this loop would spin).
        if (!evict_idle()) {
          m_accepting = false;
          m_resume_accepting = Clock::now() + std::chrono::milliseconds(100);
          return;
        }
        continue;
      }
      if (accepted.error == EINTR || accepted.error == ECONNABORTED) continue;
      return;  // EAGAIN: nothing more waiting
    }
    if (m_budget.connections >= m_settings.max_connections && !evict_idle()) continue;  // dropped: at the limit
    auto connection = std::make_unique<Connection>(std::move(accepted.socket), std::move(accepted.ip), accepted.port,
                                                   m_settings.limits, m_budget);
    park(std::move(connection));
  }
}

void Reactor::on_readable(std::unique_ptr<Connection> connection) {
  if (connection->draining_until) {
    char sink[16 * 1024];
    std::size_t got = 0;
    IoStatus status;
    do {
      status = read_some(connection->fd(), sink, sizeof sink, got);
      connection->drained += got;
    } while (status == IoStatus::ok && connection->drained < kDrainBytes);
    if (status == IoStatus::would_block && connection->drained < kDrainBytes &&
        Clock::now() < *connection->draining_until) {
      watch(std::move(connection));
    }
    return;  // otherwise closed here
  }
  switch (connection->read_and_frame(kReadBudget)) {
    case Connection::Progress::complete:
      m_callbacks.on_request(std::move(connection));
      return;
    case Connection::Progress::refused: {
      const FramingError error = connection->framer.error();
      m_callbacks.on_refused(std::move(connection), error);
      return;
    }
    case Connection::Progress::need_more:
      park(std::move(connection));
      return;
    case Connection::Progress::closed:
      return;  // the client went away
  }
}

void Reactor::sweep() {
  const auto now = Clock::now();
  std::vector<std::unique_ptr<Connection>> expired;
  {
    std::lock_guard lock(m_mutex);
    for (auto it = m_watched.begin(); it != m_watched.end();) {
      if (it->second->deadline <= now) {
        expired.push_back(std::move(it->second));
        it = m_watched.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& connection : expired) {
    // A request begun but not finished in time is answered 408; an idle
    // keep-alive connection or a finished drain just closes.
    if (connection->framer.started() && !connection->draining_until) {
      m_callbacks.on_refused(std::move(connection), FramingError{408, "the request did not arrive in time"});
    }
  }
}

bool Reactor::evict_idle() {
  std::unique_ptr<Connection> oldest;
  std::lock_guard lock(m_mutex);
  auto victim = m_watched.end();
  for (auto it = m_watched.begin(); it != m_watched.end(); ++it) {
    const Connection& candidate = *it->second;
    if (candidate.framer.started() && !candidate.draining_until) continue;  // a request is arriving
    if (victim == m_watched.end() || candidate.idle_since < victim->second->idle_since) victim = it;
  }
  if (victim == m_watched.end()) return false;
  oldest = std::move(victim->second);
  m_watched.erase(victim);
  return true;  // `oldest` closes as this returns
}

}  // namespace pw::http
