// libcurl and c-ares each want one global initialisation before any use,
// and neither initialisation is thread-safe: a composition root (or a test)
// holds one of these while the process runs, created before any thread
// that delivers webhooks or checks callback URLs.
#pragma once

namespace pw::webhook {

class NetworkLibraries {
 public:
  NetworkLibraries();  // throws std::runtime_error when a library cannot start
  ~NetworkLibraries();
  NetworkLibraries(const NetworkLibraries&) = delete;
  NetworkLibraries& operator=(const NetworkLibraries&) = delete;
};

}  // namespace pw::webhook
