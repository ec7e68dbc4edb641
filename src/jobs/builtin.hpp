// Handlers every worker has, for smoke tests, benchmarks and drills (their
// args: NoopArgs and SleepArgs in jobs/contract.hpp):
//
//   noop   does nothing and returns null. When the environment variable
//          PW_NOOP_RUN_LOG names a file, each run also appends one line
//          "<job id> <attempt> <CLOCK_MONOTONIC microseconds>\n" to it
//          (O_APPEND, one write per run), so a test can count how often each
//          job really ran and a benchmark can tell when it started.
//   sleep  payload {"ms": N} (0..3,600,000): sleeps N ms, checking
//          stop_requested every 10 ms and giving up (the job is handed back)
//          when the worker stops. Stands in for a long job. With
//          "ignore_stop": true it sleeps on regardless, like a handler that
//          cannot be interrupted (for shutdown drills).
#pragma once

#include "worker/handler.hpp"

namespace pw::jobs {

void register_builtin_handlers(worker::HandlerRegistry& registry);

}  // namespace pw::jobs
