#include "webhook/client.hpp"

#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace pw::webhook {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Longest wait for socket activity, so a stop request ends the transfer
// within this much even when curl has nothing to do until its deadline.
constexpr milliseconds max_wait{50};

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct MultiDeleter {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
struct ListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;
using Multi = std::unique_ptr<CURLM, MultiDeleter>;
using List = std::unique_ptr<curl_slist, ListDeleter>;

// Keeps `easy` in `multi` for one transfer; curl wants it removed before
// either is cleaned up.
class Attached {
 public:
  Attached(CURLM* multi, CURL* easy) : m_multi(multi), m_easy(easy) {
    if (curl_multi_add_handle(multi, easy) != CURLM_OK) throw std::runtime_error("curl_multi_add_handle failed");
  }
  ~Attached() { curl_multi_remove_handle(m_multi, m_easy); }
  Attached(const Attached&) = delete;
  Attached& operator=(const Attached&) = delete;

 private:
  CURLM* m_multi;
  CURL* m_easy;
};

// What curl's callbacks see of the transfer.
struct Transfer {
  ResponseMeter meter;
  IpAddress address;
  int port = 0;
  const StopCheck* stop = nullptr;
  bool stopped = false;
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* arg) {
  auto* transfer = static_cast<Transfer*>(arg);
  const std::size_t bytes = size * count;
  // Any count other than `bytes` makes curl end the transfer.
  return transfer->meter.on_header_line(std::string_view(data, bytes)) ? bytes : 0;
}

std::size_t on_body(char*, std::size_t size, std::size_t count, void* arg) {
  auto* transfer = static_cast<Transfer*>(arg);
  const std::size_t bytes = size * count;
  return transfer->meter.on_body(bytes) ? bytes : 0;
}

// Also asked while bytes flow (between the loop's own checks below).
int on_progress(void* arg, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(arg);
  if (*transfer->stop && (*transfer->stop)()) transfer->stopped = true;
  return transfer->stopped ? 1 : 0;
}

// curl hands over a sockaddr of `addrlen` bytes; the struct declares only
// its first 16.
bool is_checked_endpoint(const curl_sockaddr* target, const IpAddress& address, int port) {
  const auto* raw = reinterpret_cast<const unsigned char*>(target) + offsetof(curl_sockaddr, addr);
  if (target->family == AF_INET && !address.v6 && target->addrlen >= sizeof(sockaddr_in)) {
    sockaddr_in in{};
    std::memcpy(&in, raw, sizeof in);
    return ntohs(in.sin_port) == port && std::memcmp(&in.sin_addr, address.bytes.data(), 4) == 0;
  }
  if (target->family == AF_INET6 && address.v6 && target->addrlen >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, raw, sizeof in6);
    return ntohs(in6.sin6_port) == port && std::memcmp(&in6.sin6_addr, address.bytes.data(), 16) == 0;
  }
  return false;
}

// The last guard of the SSRF check: CURLOPT_CONNECT_TO already sends every
// connection to the checked address; should anything in curl still pick
// another one (a URL host it spells differently, a proxy), no socket is made.
curl_socket_t open_socket(void* arg, curlsocktype purpose, curl_sockaddr* target) {
  auto* transfer = static_cast<Transfer*>(arg);
  if (purpose != CURLSOCKTYPE_IPCXN || !is_checked_endpoint(target, transfer->address, transfer->port)) {
    return CURL_SOCKET_BAD;
  }
  return ::socket(target->family, target->socktype | SOCK_CLOEXEC, target->protocol);
}

template <typename Value>
void set(CURL* easy, CURLoption option, Value value) {
  if (const CURLcode code = curl_easy_setopt(easy, option, value); code != CURLE_OK) {
    throw std::runtime_error(std::string("webhook client setup failed: ") + curl_easy_strerror(code));
  }
}

void append(List& list, const std::string& line) {
  curl_slist* longer = curl_slist_append(list.get(), line.c_str());
  if (longer == nullptr) throw std::bad_alloc();
  (void)list.release();  // curl_slist_append extended the same list
  list.reset(longer);
}

// Header values come from stored jobs; a CR or LF would start a header of its own.
bool is_header_value(const std::string& value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte < 0x7f;
  });
}

long long milliseconds_until(Deadline deadline) {
  return std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
}

// Runs the transfer until it ends, the deadline passes or `stop` says so.
CURLcode perform(CURLM* multi, CURL* easy, Transfer& transfer, Deadline deadline) {
  Attached attached(multi, easy);
  int running = 1;
  for (;;) {
    if (curl_multi_perform(multi, &running) != CURLM_OK) return CURLE_FAILED_INIT;
    if (running == 0) {
      CURLcode code = CURLE_FAILED_INIT;
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
        if (message->msg == CURLMSG_DONE) code = message->data.result;
      }
      return code;
    }
    if (*transfer.stop && (*transfer.stop)()) {
      transfer.stopped = true;
      return CURLE_ABORTED_BY_CALLBACK;
    }
    // curl ends the transfer itself at CURLOPT_TIMEOUT_MS (the poll also
    // wakes for curl's own timers); the short wait is for the stop check.
    const long long left = std::max<long long>(milliseconds_until(deadline), 1);
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(std::min<long long>(left, max_wait.count())), nullptr);
  }
}

}  // namespace

DeliveryResult deliver(const Delivery& delivery, const config::WebhookConfig& config, const StopCheck& stop) {
  const auto start = Clock::now();
  const Deadline deadline = start + milliseconds(config.timeout_ms);
  const Deadline lookup_deadline = std::min(deadline, start + milliseconds(config.dns_timeout_ms));
  const DestinationPolicy policy{config.allow_private, ResolverSettings{config.dns_servers}};
  auto destination = check_destination(delivery.url, policy, lookup_deadline, stop);
  switch (destination.verdict) {
    case Verdict::invalid_url:
      return DeliveryResult{Outcome::permanent, 0, "invalid callback_url: " + destination.reason, {}};
    case Verdict::no_such_host:
    case Verdict::lookup_failed:
      if (stop && stop()) return DeliveryResult{Outcome::retryable, 0, "delivery abandoned: the worker is stopping", {}};
      return DeliveryResult{Outcome::retryable, 0, destination.reason, {}};
    case Verdict::forbidden:
      return DeliveryResult{Outcome::permanent, 0, "refused destination: " + destination.reason, {}};
    case Verdict::allowed:
      break;
  }
  return send(delivery, *destination.url, *destination.address, deadline, ResponseLimits{}, stop);
}

DeliveryResult send(const Delivery& delivery, const Url& url, const IpAddress& checked, Deadline deadline,
                    const ResponseLimits& limits, const StopCheck& stop) {
  const std::string address = checked.to_string();
  const auto start = Clock::now();
  const long long budget_ms = milliseconds_until(deadline);
  if (budget_ms <= 0) {
    return DeliveryResult{Outcome::retryable, 0, "no complete response: no time left after the lookup", address};
  }

  Transfer transfer{ResponseMeter(limits), checked, url.port, &stop, false};
  Easy easy(curl_easy_init());
  Multi multi(curl_multi_init());
  if (!easy || !multi) throw std::runtime_error("webhook client setup failed: curl did not start");
  CURL* handle = easy.get();

  const std::string target = url.scheme + "://" + url.authority + url.path;
  set(handle, CURLOPT_URL, target.c_str());
  set(handle, CURLOPT_PATH_AS_IS, 1L);  // the path as checked, no dot-segment squashing
  set(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  set(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  set(handle, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect would lead past the check
  set(handle, CURLOPT_MAXREDIRS, 0L);
  set(handle, CURLOPT_PROXY, "");  // never an environment's proxy: it would connect elsewhere
  set(handle, CURLOPT_NOSIGNAL, 1L);
  set(handle, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  set(handle, CURLOPT_FORBID_REUSE, 1L);
  set(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(budget_ms));
  set(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(budget_ms));

  // Connect to the checked address; the URL's host stays in Host and in TLS
  // (SNI and certificate name checks).
  List connect_to;
  append(connect_to, "::" + (checked.v6 ? "[" + address + "]" : address) + ":" + std::to_string(url.port));
  set(handle, CURLOPT_CONNECT_TO, connect_to.get());
  set(handle, CURLOPT_OPENSOCKETFUNCTION, &open_socket);
  set(handle, CURLOPT_OPENSOCKETDATA, &transfer);

  set(handle, CURLOPT_HEADERFUNCTION, &on_header);
  set(handle, CURLOPT_HEADERDATA, &transfer);
  set(handle, CURLOPT_WRITEFUNCTION, &on_body);
  set(handle, CURLOPT_WRITEDATA, &transfer);
  if (stop) {
    set(handle, CURLOPT_NOPROGRESS, 0L);
    set(handle, CURLOPT_XFERINFOFUNCTION, &on_progress);
    set(handle, CURLOPT_XFERINFODATA, &transfer);
  }

  List headers;
  append(headers, "Content-Type: application/json");
  append(headers, "Expect:");  // no 100-continue round trip
  if (is_header_value(delivery.request_id)) append(headers, "X-Request-ID: " + delivery.request_id);
  if (is_header_value(delivery.delivery_id)) append(headers, "X-PersonaWorlds-Delivery: " + delivery.delivery_id);
  set(handle, CURLOPT_HTTPHEADER, headers.get());
  const std::string user_agent = std::string("personaworlds-webhook/") + PW_VERSION;
  set(handle, CURLOPT_USERAGENT, user_agent.c_str());
  set(handle, CURLOPT_POST, 1L);
  set(handle, CURLOPT_POSTFIELDS, delivery.body.c_str());
  set(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(delivery.body.size()));

  const CURLcode code = perform(multi.get(), handle, transfer, deadline);

  const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  Ending ending = Ending::failed;
  std::string failure = curl_easy_strerror(code);
  if (code == CURLE_OK) {
    ending = Ending::completed;
  } else if (transfer.stopped) {
    ending = Ending::stopped;
  } else if (code == CURLE_WRITE_ERROR && (transfer.meter.headers_over_budget() || transfer.meter.body_over_budget())) {
    ending = Ending::over_budget;
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    ending = Ending::timed_out;
    failure = "timed out after " + std::to_string(elapsed) + " ms";
  } else if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL) {
    return DeliveryResult{Outcome::permanent, 0, "invalid callback_url: " + failure, address};
  }
  DeliveryResult result = judge(transfer.meter, ending, failure);
  result.address = address;
  return result;
}

}  // namespace pw::webhook
