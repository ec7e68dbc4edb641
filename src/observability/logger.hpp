// Structured logging: one line per event, JSON (default) or text, written
// through spdlog with the `%v` pattern so the line is exactly what we encode.
// Thread-safe; pass by reference.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "observability/log_line.hpp"

namespace spdlog {
class logger;
}

namespace pw::observability {

class Logger {
 public:
  // Writes to stdout.
  Logger(std::string service, const config::LogConfig& config);
  // Writes each encoded line (without newline) to `sink`; for tests.
  Logger(std::string service, LogLevel min_level, config::LogFormat format,
         std::function<void(std::string_view)> sink);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  bool enabled(LogLevel level) const { return level >= m_min_level; }
  const std::string& service() const { return m_service; }

  void log(LogLevel level, std::string_view msg, const LogFields& fields = {}) const;
  void debug(std::string_view msg, const LogFields& fields = {}) const { log(LogLevel::debug, msg, fields); }
  void info(std::string_view msg, const LogFields& fields = {}) const { log(LogLevel::info, msg, fields); }
  void warn(std::string_view msg, const LogFields& fields = {}) const { log(LogLevel::warn, msg, fields); }
  void error(std::string_view msg, const LogFields& fields = {}) const { log(LogLevel::error, msg, fields); }

  void flush() const;

 private:
  std::string m_service;
  LogLevel m_min_level;
  config::LogFormat m_format;
  std::shared_ptr<spdlog::logger> m_logger;
  std::function<void(std::string_view)> m_sink;
};

}  // namespace pw::observability
