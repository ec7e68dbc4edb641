// Names for HTTP statuses: the reason phrase of the status line, and the
// `code` and `message` of our JSON error body for statuses the server
// answers by itself (before or outside any handler).
#pragma once

namespace pw::http {

const char* reason_phrase(int status);
const char* error_code_for(int status);
const char* error_message_for(int status);

}  // namespace pw::http
