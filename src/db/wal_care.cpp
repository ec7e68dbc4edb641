#include "db/wal_care.hpp"

#include <algorithm>

namespace pw::db {

void WalCare::run_once() {
  using Mode = Connection::Checkpoint;
  auto copied = m_connection->try_checkpoint(Mode::passive);
  // Counted in frames, one page each: older files have 4 KiB pages, new ones 1 KiB.
  if (copied.wal_frames < kResetAboveBytes / m_connection->page_size()) return;
  if (m_rounds_to_skip > 0) {
    --m_rounds_to_skip;
    return;
  }
  // Restarting leaves the file as large as it grew; it is emptied too when
  // readers held off the restarts long enough for it to grow past its bound.
  const Mode mode = m_connection->wal_file_bytes() > kShrinkAboveBytes ? Mode::truncate : Mode::restart;
  if (m_connection->try_checkpoint(mode, kReaderWait).busy) {
    m_backoff = std::min(kMostRoundsSkipped, std::max(1, m_backoff * 2));
    m_rounds_to_skip = m_backoff;
  } else {
    m_backoff = 0;
  }
}

}  // namespace pw::db
