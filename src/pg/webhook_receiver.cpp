#include "pg/webhook_receiver.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/request_deadlines.hpp"
#include "pg/boundary.hpp"
#include "pg/gucs.hpp"
#include "pg/webhook_ingest.hpp"
#include "pg/worker_start.hpp"

namespace plane::pg {

namespace {

constexpr const char* kPathPrefix = "/plane/webhook/";
// libmicrohttpd's timeout is an idle one (reset by every byte received): plane.webhook_request_deadline
// bounds a request as a whole, through RequestDeadlines below.
constexpr unsigned kIdleTimeoutS = 10;
constexpr size_t kConnectionMemory = 64 * 1024;   // bounds request line + headers per connection
constexpr unsigned kMaxHeaders = 100;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One request in flight. Owned by libmicrohttpd's per-connection pointer between callbacks:
// created with make_unique(...).release() and adopted back by on_completed.
struct PendingRequest {
  std::string body;
  bool too_large = false;
};

struct ParsedAddress {
  sockaddr_in addr{};
  bool ok = false;
};

ParsedAddress parse_listen_address(const char* text) {
  ParsedAddress out;
  std::string s(text != nullptr ? text : "");
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) return out;
  const std::string host = s.substr(0, colon);
  const int port = std::atoi(s.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return out;
  out.addr.sin_family = AF_INET;
  out.addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.empty() ? "0.0.0.0" : host.c_str(), &out.addr.sin_addr) != 1) return out;
  out.ok = true;
  return out;
}

enum class AfterResponse { KeepAlive, Close };

MHD_Result respond(MHD_Connection* connection, unsigned status,
                   AfterResponse after = AfterResponse::KeepAlive) {
  char body[64];
  std::snprintf(body, sizeof body, "{\"status\":%u}\n", status);
  MHD_Response* response =
      MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, "Content-Type", "application/json");
  // libmicrohttpd 0.9.75 already closes after a response queued before the body was read; the
  // header says so to the client, and keeps the close whatever a later version decides.
  if (after == AfterResponse::Close) MHD_add_response_header(response, "Connection", "close");
  const MHD_Result r = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return r;
}

// Whether the request announces a body over the limit (Content-Length), read in the first call
// of the access handler: before any byte of the body has been handed to us, so that a 413 costs
// the sender's headers only. libmicrohttpd has already refused a malformed Content-Length (400).
// A body without one (chunked) is bounded as it arrives, and by the request deadline.
bool announces_too_large_body(MHD_Connection* connection, size_t max_body) {
  const char* length =
      MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (length == nullptr) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long announced = std::strtoull(length, &end, 10);
  return errno == ERANGE || announced > max_body;
}

struct HeaderCollector {
  nlohmann::json headers = nlohmann::json::object();
  unsigned count = 0;
};

MHD_Result collect_header(void* cls, MHD_ValueKind kind, const char* key, const char* value) {
  auto* c = static_cast<HeaderCollector*>(cls);
  if (++c->count > kMaxHeaders) return MHD_NO;  // a header flood: stop collecting
  try {
    c->headers[key != nullptr ? key : ""] = value != nullptr ? value : "";
  } catch (...) {
    return MHD_NO;
  }
  return MHD_YES;
}

// Runs the ingest in a transaction of its own; any failure is a 500 (logged without the body).
unsigned ingest(const std::string& slug, const std::string& headers, const std::string& body) {
  try {
    return static_cast<unsigned>(with_transaction([&] { return ingest_webhook(slug, headers, body); }));
  } catch (const std::exception& e) {
    char message[512];
    std::snprintf(message, sizeof message, "%s", e.what());
    ereport(LOG, (errmsg("plane_connector webhook receiver: ingest failed: %s", message)));
    return 500;
  }
}

MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url, const char* method,
                      const char* version, const char* upload_data, size_t* upload_data_size,
                      void** con_cls) {
  // A C callback: nothing may propagate out of it.
  try {
    if (*con_cls == nullptr) {
      if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) return respond(connection, MHD_HTTP_METHOD_NOT_ALLOWED);
      if (strncmp(url, kPathPrefix, strlen(kPathPrefix)) != 0) return respond(connection, MHD_HTTP_NOT_FOUND);
      if (announces_too_large_body(connection,
                                   static_cast<size_t>(settings.webhook_max_body_kb) * 1024)) {
        return respond(connection, MHD_HTTP_CONTENT_TOO_LARGE, AfterResponse::Close);
      }
      *con_cls = std::make_unique<PendingRequest>().release();  // adopted by on_completed
      return MHD_YES;
    }
    auto* request = static_cast<PendingRequest*>(*con_cls);
    const size_t max_body = static_cast<size_t>(settings.webhook_max_body_kb) * 1024;
    if (*upload_data_size > 0) {
      if (request->body.size() + *upload_data_size > max_body) {
        // A chunked body over the limit: keep reading (and dropping) so the 413 can be sent;
        // libmicrohttpd cannot answer mid-body, and the request deadline bounds the reading.
        request->too_large = true;
        request->body.clear();
      } else if (!request->too_large) {
        request->body.append(upload_data, *upload_data_size);
      }
      *upload_data_size = 0;
      return MHD_YES;
    }
    if (request->too_large) {
      return respond(connection, MHD_HTTP_CONTENT_TOO_LARGE, AfterResponse::Close);
    }
    HeaderCollector collector;
    MHD_get_connection_values(connection, MHD_HEADER_KIND, collect_header, &collector);
    if (collector.count > kMaxHeaders) return respond(connection, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE);
    const std::string slug(url + strlen(kPathPrefix));
    return respond(connection, ingest(slug, collector.headers.dump(), request->body));
  } catch (...) {
    return respond(connection, MHD_HTTP_INTERNAL_SERVER_ERROR);
  }
}

void on_completed(void* cls, MHD_Connection* connection, void** con_cls,
                  MHD_RequestTerminationCode code) {
  std::unique_ptr<PendingRequest> adopt(static_cast<PendingRequest*>(*con_cls));
  *con_cls = nullptr;
  // The request is answered: a kept-alive connection's next request has a deadline of its own.
  static_cast<plane::RequestDeadlines*>(cls)->restart(connection, now_ms());
}

// Every connection's request runs against plane.webhook_request_deadline from its accept on.
void on_connection(void* cls, MHD_Connection* connection, void** socket_context,
                   MHD_ConnectionNotificationCode code) {
  auto* deadlines = static_cast<plane::RequestDeadlines*>(cls);
  if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    deadlines->forget(connection);
    return;
  }
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (info == nullptr) return;
  try {
    deadlines->track(connection, info->connect_fd, now_ms());
  } catch (...) {
    // Out of memory: a connection without a deadline is one a slow client could keep for ever.
    shutdown(info->connect_fd, SHUT_RDWR);
  }
}

// libmicrohttpd's messages (a connection refused at a limit, a malformed request, ...) go to the
// server log as before, but at most one a second: a flood of refused connections must not become
// a flood of log lines. How many were left out is told with the next one.
struct LogThrottle {
  std::int64_t last_ms = std::numeric_limits<std::int64_t>::min() / 2;
  unsigned long suppressed = 0;
};

__attribute__((format(printf, 2, 0))) void log_throttled(void* cls, const char* format,
                                                          va_list args) {
  auto* throttle = static_cast<LogThrottle*>(cls);
  const std::int64_t now = now_ms();
  if (now - throttle->last_ms < 1000) {
    ++throttle->suppressed;
    return;
  }
  char line[512];
  std::vsnprintf(line, sizeof line, format, args);
  const size_t n = strlen(line);
  if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
  // LOG never longjmps, so it may be raised from this C callback.
  ereport(LOG, (errmsg("plane_connector webhook receiver: %s", line),
                throttle->suppressed > 0
                    ? errdetail("%lu more message(s) of libmicrohttpd since the last one logged "
                                "were left out.", throttle->suppressed)
                    : 0));
  throttle->last_ms = now;
  throttle->suppressed = 0;
}

struct DaemonDeleter {
  void operator()(MHD_Daemon* d) const { MHD_stop_daemon(d); }
};

// A configuration the receiver cannot serve: say so once and idle until shutdown, rather than
// exit and be restarted (and log) every second.
void idle_until_shutdown() {
  while (!ShutdownRequestPending) {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 60000, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}

void serve() {
  ParsedAddress address = parse_listen_address(settings.webhook_listen_address);
  if (!address.ok) {
    ereport(LOG, (errmsg("plane_connector webhook receiver: invalid plane.webhook_listen_address "
                         "\"%s\" (expected IPv4-address:port)",
                         settings.webhook_listen_address)));
    idle_until_shutdown();
    return;
  }
  // Owned here, outlived by nothing: the daemon (declared after them) stops first.
  plane::RequestDeadlines deadlines;
  LogThrottle log_throttle;
  std::unique_ptr<MHD_Daemon, DaemonDeleter> daemon(MHD_start_daemon(
      MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, nullptr, nullptr, on_request, nullptr,
      // First: libmicrohttpd logs to stderr until it has read this option.
      MHD_OPTION_EXTERNAL_LOGGER, log_throttled, &log_throttle,
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&address.addr),
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(settings.webhook_max_connections),
      MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      static_cast<unsigned>(settings.webhook_max_connections_per_ip),
      MHD_OPTION_CONNECTION_TIMEOUT, kIdleTimeoutS,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, kConnectionMemory,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, &deadlines,
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, &deadlines,
      MHD_OPTION_END));
  if (!daemon) {
    ereport(LOG, (errmsg("plane_connector webhook receiver: could not listen on %s",
                         settings.webhook_listen_address)));
    idle_until_shutdown();
    return;
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon.get(), MHD_DAEMON_INFO_EPOLL_FD);
  const int epoll_fd = info != nullptr ? info->epoll_fd : -1;
  if (epoll_fd < 0) {
    ereport(LOG, (errmsg("plane_connector webhook receiver: libmicrohttpd has no epoll descriptor")));
    return;
  }
  ereport(LOG, (errmsg("plane_connector webhook receiver listening on %s",
                       settings.webhook_listen_address)));
  // One loop for both worlds: the latch (signals) and libmicrohttpd's epoll descriptor.
  while (!ShutdownRequestPending) {
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    // A request past its deadline is cut off by shutting its socket down: libmicrohttpd then sees
    // the connection end and closes it (a slow loris never reaches the access handler, so this
    // cannot be done there). The deadline is read each turn: a reload applies at once.
    const std::int64_t deadline_ms = settings.webhook_request_deadline_ms;
    for (const int fd : deadlines.overdue(now_ms(), deadline_ms)) shutdown(fd, SHUT_RDWR);
    MHD_UNSIGNED_LONG_LONG mhd_timeout = 0;
    long timeout_ms = 1000;
    if (MHD_get_timeout(daemon.get(), &mhd_timeout) == MHD_YES) {
      timeout_ms = static_cast<long>(std::min<MHD_UNSIGNED_LONG_LONG>(mhd_timeout, 1000));
    }
    if (const auto next = deadlines.next_expiry_ms(now_ms(), deadline_ms)) {
      timeout_ms = std::min<long>(timeout_ms, static_cast<long>(*next));
    }
    (void)WaitLatchOrSocket(MyLatch,
                            WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                            epoll_fd, timeout_ms, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    MHD_run(daemon.get());
    pgstat_report_stat(false);  // the enqueued rows reach autovacuum (rate-limited to 1/s)
  }
}

}  // namespace

void register_webhook_receiver() {
  if (settings.webhook_listen_address == nullptr || settings.webhook_listen_address[0] == '\0') return;
  BackgroundWorker worker;
  std::memset(&worker, 0, sizeof worker);
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = 1;
  std::snprintf(worker.bgw_library_name, BGW_MAXLEN, "plane_connector");
  std::snprintf(worker.bgw_function_name, BGW_MAXLEN, "plane_webhook_receiver_main");
  std::snprintf(worker.bgw_name, BGW_MAXLEN, "plane_connector webhook receiver");
  std::snprintf(worker.bgw_type, BGW_MAXLEN, "plane_connector webhook receiver");
  RegisterBackgroundWorker(&worker);
}

}  // namespace plane::pg

extern "C" void plane_webhook_receiver_main(Datum arg) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  BackgroundWorkerUnblockSignals();
  plane::pg::connect_static_worker(plane::pg::StaticWorker::Receiver);
  pgstat_report_appname("plane_connector webhook receiver");
  bool failed = false;
  char message[512];
  try {
    plane::pg::serve();
  } catch (const std::exception& e) {
    plane::pg::copy_message(message, sizeof message, e.what());
    failed = true;
  } catch (...) {
    plane::pg::copy_message(message, sizeof message, "unknown C++ exception");
    failed = true;
  }
  if (failed) ereport(LOG, (errmsg("plane_connector webhook receiver stopped: %s", message)));
  proc_exit(1);
}
