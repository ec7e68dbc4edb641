#include "observability/logger.hpp"

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>

#include "observability/line_writer.hpp"

namespace pw::observability {
namespace {

// The pattern is `%v`, so the payload is the whole line: it goes to a
// LineWriter as is, and reaches stdout from the writer's thread. Lines are
// written out promptly without a flush per line (flush() waits for them).
// The LineWriter does its own locking, so spdlog's lock is the null one.
class BatchedStdoutSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  BatchedStdoutSink() : m_writer(STDOUT_FILENO) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    m_writer.append(std::string_view(msg.payload.data(), msg.payload.size()));
  }
  void flush_() override { m_writer.flush(); }

 private:
  LineWriter m_writer;
};

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
  auto sink = std::make_shared<BatchedStdoutSink>();
  m_logger = std::make_shared<spdlog::logger>(m_service, std::move(sink));
  m_logger->set_pattern("%v");
  m_logger->set_level(spdlog::level::trace);
  // No flush_on: the sink's writer thread gets every line out at once by
  // itself; a flush per line would make each caller wait for the write.
}

Logger::Logger(std::string service, LogLevel min_level, config::LogFormat format,
               std::function<void(std::string_view)> sink)
    : m_service(std::move(service)), m_min_level(min_level), m_format(format), m_sink(std::move(sink)) {}

// The lines still pending are written when the sink (and its writer) goes.
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
  // The overload that takes the text as it is: never a format string.
  m_logger->log(levels[static_cast<int>(level)], spdlog::string_view_t(line.data(), line.size()));
}

void Logger::flush() const {
  if (m_logger) m_logger->flush();
}

}  // namespace pw::observability
