// Clang's thread-safety analysis (-Wthread-safety): which mutex guards which
// member, and which functions must be called with it held. `make
// lint-thread-safety` builds the worker with clang and fails on any breach;
// with other compilers the annotations expand to nothing.
//
// libstdc++'s std::mutex carries no annotations, so guarded state uses Mutex
// and Lock from here. A condition variable waits on a Mutex directly
// (std::condition_variable_any), inside an explicit loop in the annotated
// function, so the analysis sees every guarded read.
#pragma once

#include <mutex>

#if defined(__clang__)
#define PW_TSA(x) __attribute__((x))
#else
#define PW_TSA(x)
#endif

#define PW_CAPABILITY(name) PW_TSA(capability(name))
#define PW_SCOPED_CAPABILITY PW_TSA(scoped_lockable)
#define PW_GUARDED_BY(mutex) PW_TSA(guarded_by(mutex))
#define PW_REQUIRES(...) PW_TSA(requires_capability(__VA_ARGS__))
#define PW_EXCLUDES(...) PW_TSA(locks_excluded(__VA_ARGS__))
#define PW_ACQUIRE(...) PW_TSA(acquire_capability(__VA_ARGS__))
#define PW_RELEASE(...) PW_TSA(release_capability(__VA_ARGS__))

namespace pw::worker {

class PW_CAPABILITY("mutex") Mutex {
 public:
  void lock() PW_ACQUIRE() { m_mutex.lock(); }
  void unlock() PW_RELEASE() { m_mutex.unlock(); }

 private:
  std::mutex m_mutex;
};

class PW_SCOPED_CAPABILITY Lock {
 public:
  explicit Lock(Mutex& mutex) PW_ACQUIRE(mutex) : m_mutex(mutex) { m_mutex.lock(); }
  ~Lock() PW_RELEASE() { m_mutex.unlock(); }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  Mutex& m_mutex;
};

}  // namespace pw::worker
