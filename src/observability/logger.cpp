#include "observability/logger.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace pw::observability {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Logger::Logger(std::string service, const config::LogConfig& config)
    : m_service(std::move(service)),
      m_min_level(parse_log_level(config.level).value_or(LogLevel::info)),
      m_format(config.format) {
  // A private (unregistered) logger: no global registry, no name clashes
  // between the several Loggers a test process may create.
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  m_logger = std::make_shared<spdlog::logger>(m_service, std::move(sink));
  m_logger->set_pattern("%v");
  m_logger->set_level(spdlog::level::trace);
  // Lines must reach a pipe (docker logs, a test) promptly, not when a 4 KiB
  // buffer happens to fill.
  m_logger->flush_on(spdlog::level::trace);
}

Logger::Logger(std::string service, LogLevel min_level, config::LogFormat format,
               std::function<void(std::string_view)> sink)
    : m_service(std::move(service)), m_min_level(min_level), m_format(format), m_sink(std::move(sink)) {}

Logger::~Logger() = default;

void Logger::log(LogLevel level, std::string_view msg, const LogFields& fields) const {
  if (!enabled(level)) return;
  std::string ts = format_rfc3339_ms(now_ms());
  std::string line = m_format == config::LogFormat::json
                         ? encode_json_line(ts, level, msg, m_service, fields)
                         : encode_text_line(ts, level, msg, m_service, fields);
  if (m_sink) {
    m_sink(line);
    return;
  }
  static constexpr spdlog::level::level_enum levels[] = {spdlog::level::debug, spdlog::level::info,
                                                         spdlog::level::warn, spdlog::level::err};
  // The line is passed as an argument, never as the format string.
  m_logger->log(levels[static_cast<int>(level)], "{}", line);
}

void Logger::flush() const {
  if (m_logger) m_logger->flush();
}

}  // namespace pw::observability
