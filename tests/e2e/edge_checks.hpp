// What every edge proxy attack test checks: the answer is the API's JSON
// error format, and after the attack both processes are up, their memory
// grew by less than the 64 MB (peak RSS from /proc) and an ordinary
// request through the edge still succeeds.
#pragma once

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "e2e/edge_scene.hpp"

namespace pw::test::edge {

constexpr long kMemoryBoundKib = 64 * 1024;  // the bound: 64 MB above the start
constexpr std::size_t kFlood = 100u << 20;   // the attacks send 100 MB

class Unharmed {
 public:
  explicit Unharmed(EdgeScene& scene)
      : m_scene(scene),
        m_api_start(proc_kib(scene.api().pid(), "VmRSS")),
        m_edge_start(proc_kib(scene.edge().pid(), "VmRSS")) {}

  void check() {
    const long api_growth = proc_kib(m_scene.api().pid(), "VmHWM") - m_api_start;
    const long edge_growth = proc_kib(m_scene.edge().pid(), "VmHWM") - m_edge_start;
    MESSAGE("peak RSS growth: api ", api_growth, " KiB, edge ", edge_growth, " KiB");
    CHECK(m_scene.api().running());
    CHECK(m_scene.edge().running());
    CHECK(api_growth < kMemoryBoundKib);
    CHECK(edge_growth < kMemoryBoundKib);
    auto health = http_get(m_scene.port(), "/healthz", 5s);
    CHECK_MESSAGE(health.status == 200, health.error);
    auto signed_up = m_scene.sign_up_through_edge();
    CHECK_MESSAGE(signed_up.status == 201, signed_up.body, signed_up.error);
  }

 private:
  EdgeScene& m_scene;
  long m_api_start;
  long m_edge_start;
};

// The API's error format: {"error":{"code","message","request_id"}}.
inline bool is_json_error(const std::string& body, const std::string& code, const std::string& request_id) {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  return parsed.is_object() && parsed.contains("error") && parsed["error"].is_object() &&
         parsed["error"].value("code", "") == code && parsed["error"].value("request_id", "") == request_id &&
         !parsed["error"].value("message", "").empty();
}

}  // namespace pw::test::edge
