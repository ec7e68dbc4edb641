// The JSON shapes of the API's resources, as documented in docs/openapi.yaml.
// Times are RFC 3339 UTC strings with milliseconds.
#pragma once

#include <nlohmann/json.hpp>

#include "queue/job.hpp"
#include "store/records.hpp"
#include "store/tokens.hpp"

namespace pw::api {

nlohmann::json render(const store::User& user);
// Never the secret: it is shown once, in the response that made it.
nlohmann::json render(const store::Token& token);
nlohmann::json render(const store::World& world);
nlohmann::json render(const store::StoredPersona& persona);
nlohmann::json render(const store::Simulation& simulation);
nlohmann::json render(const store::StoredEvent& event);
nlohmann::json render(const queue::Job& job);

// {"items": [...], "next_cursor": "<id>" | null}
template <class T>
nlohmann::json render_page(const store::Page<T>& page, const char* next_field = "next_cursor") {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& item : page.items) items.push_back(render(item));
  nlohmann::json next = nullptr;
  if (page.next_after) next = std::to_string(*page.next_after);
  return {{"items", std::move(items)}, {next_field, std::move(next)}};
}

}  // namespace pw::api
