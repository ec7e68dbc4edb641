// The job types this build knows, so metrics can show each at zero from the start.
#pragma once

#include <string>
#include <vector>

namespace pw::app {

inline const std::vector<std::string>& known_job_types() {
  static const std::vector<std::string> types = {"noop", "persona.generate", "world.simulate",
                                                 "webhook.deliver"};
  return types;
}

}  // namespace pw::app
