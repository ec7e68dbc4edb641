// The job types this build can run: the built-in ones (src/worker/builtin)
// and the PersonaWorlds handlers (src/jobs). Metrics show each at zero from
// the start; any other type found in the job table is labelled `unknown`.
#pragma once

#include <string>
#include <vector>

namespace pw::app {

inline const std::vector<std::string>& known_job_types() {
  static const std::vector<std::string> types = {"noop",           "sleep",           "persona.generate",
                                                 "world.simulate", "webhook.deliver", "world.purge"};
  return types;
}

}  // namespace pw::app
