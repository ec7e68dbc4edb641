#include "webhook/network_libraries.hpp"

#include <ares.h>
#include <curl/curl.h>

#include <stdexcept>
#include <string>

namespace pw::webhook {

NetworkLibraries::NetworkLibraries() {
  if (const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT); code != CURLE_OK) {
    throw std::runtime_error(std::string("libcurl did not start: ") + curl_easy_strerror(code));
  }
  if (const int status = ares_library_init(ARES_LIB_INIT_ALL); status != ARES_SUCCESS) {
    curl_global_cleanup();
    throw std::runtime_error(std::string("c-ares did not start: ") + ares_strerror(status));
  }
}

NetworkLibraries::~NetworkLibraries() {
  ares_library_cleanup();
  curl_global_cleanup();
}

}  // namespace pw::webhook
