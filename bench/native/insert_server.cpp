// The baseline of bench/receiver_throughput.py: a minimal HTTP server that only INSERTs each
// POSTed body, as jsonb, into a table shaped like ops.event_queue — no signature check, no
// envelope, no dedup. Built like the embedded receiver so that the comparison is of the work,
// not of the HTTP stack: libmicrohttpd in epoll mode driven from one single-threaded loop, one
// transaction per request (an autocommit INSERT), over one libpq connection on a unix socket.
//
//   insert_server --port P --conninfo "host=/sock/dir port=5432 dbname=d user=postgres"
//
// Prints "ready" once it listens; stops on SIGTERM.
#include <libpq-fe.h>
#include <microhttpd.h>
#include <poll.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace {

constexpr size_t kMaxBody = 5 * 1024 * 1024;  // plane.webhook_max_body_size's default
constexpr const char* kPathPrefix = "/plane/webhook/";

volatile std::sig_atomic_t stop = 0;

struct Request {
  std::string body;
  bool too_large = false;
};

MHD_Result respond(MHD_Connection* c, unsigned status) {
  char body[32];
  std::snprintf(body, sizeof body, "{\"status\":%u}\n", status);
  MHD_Response* r = MHD_create_response_from_buffer(std::strlen(body), body, MHD_RESPMEM_MUST_COPY);
  if (r == nullptr) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  const MHD_Result q = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return q;
}

const char* header(MHD_Connection* c, const char* name) {
  const char* v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
  return v != nullptr ? v : "";
}

MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                      const char*, const char* data, size_t* size, void** con_cls) {
  PGconn* pg = static_cast<PGconn*>(cls);
  if (*con_cls == nullptr) {
    if (std::strcmp(method, "POST") != 0) return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED);
    if (std::strncmp(url, kPathPrefix, std::strlen(kPathPrefix)) != 0) return respond(c, MHD_HTTP_NOT_FOUND);
    try {
      *con_cls = std::make_unique<Request>().release();  // adopted by on_completed
    } catch (...) {
      return MHD_NO;
    }
    return MHD_YES;
  }
  auto* req = static_cast<Request*>(*con_cls);
  if (*size > 0) {
    try {
      if (req->body.size() + *size > kMaxBody) req->too_large = true;
      else req->body.append(data, *size);
    } catch (...) {
      return MHD_NO;  // nothing may propagate out of a C callback
    }
    *size = 0;
    return MHD_YES;
  }
  if (req->too_large) return respond(c, MHD_HTTP_CONTENT_TOO_LARGE);
  std::string key;
  try {
    key = std::string("plane:event:") + header(c, "X-Plane-Delivery");
  } catch (...) {
    return MHD_NO;
  }
  const char* params[5] = {key.c_str(), url + std::strlen(kPathPrefix), header(c, "X-Plane-Event"),
                           header(c, "X-Plane-Delivery"), req->body.c_str()};
  PGresult* res = PQexecPrepared(pg, "enqueue", 5, params, nullptr, nullptr, 0);
  const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
  if (!ok) std::fprintf(stderr, "insert_server: %s", PQerrorMessage(pg));
  PQclear(res);
  return respond(c, ok ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR);
}

void on_completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  std::unique_ptr<Request> adopt(static_cast<Request*>(*con_cls));
  *con_cls = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  const char* conninfo = nullptr;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0) port = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--conninfo") == 0) conninfo = argv[i + 1];
  }
  if (port <= 0 || conninfo == nullptr) {
    std::fprintf(stderr, "usage: insert_server --port P --conninfo CONNINFO\n");
    return 2;
  }
  std::signal(SIGTERM, [](int) { stop = 1; });
  std::signal(SIGINT, [](int) { stop = 1; });
  std::unique_ptr<PGconn, decltype(&PQfinish)> pg(PQconnectdb(conninfo), PQfinish);
  if (PQstatus(pg.get()) != CONNECTION_OK) {
    std::fprintf(stderr, "insert_server: %s", PQerrorMessage(pg.get()));
    return 1;
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> prepared(
      PQprepare(pg.get(), "enqueue",
                "INSERT INTO bench.event_queue (source, idempotency_key, workspace_slug, event_type, "
                "delivery_id, payload, status) VALUES ('plane', $1, $2, $3, $4, $5::jsonb, 'pending')",
                5, nullptr),
      PQclear);
  if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "insert_server: %s", PQerrorMessage(pg.get()));
    return 1;
  }
  std::unique_ptr<MHD_Daemon, decltype(&MHD_stop_daemon)> daemon(
      MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, static_cast<uint16_t>(port), nullptr,
                       nullptr, on_request, pg.get(),
                       MHD_OPTION_CONNECTION_LIMIT, 64u,
                       MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                       MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(64 * 1024),
                       MHD_OPTION_NOTIFY_COMPLETED, on_completed, nullptr,
                       MHD_OPTION_END),
      MHD_stop_daemon);
  if (!daemon) {
    std::fprintf(stderr, "insert_server: cannot listen on port %d\n", port);
    return 1;
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon.get(), MHD_DAEMON_INFO_EPOLL_FD);
  std::printf("ready\n");
  std::fflush(stdout);
  // The receiver's loop without the latch: wait on libmicrohttpd's epoll descriptor, then run it.
  while (!stop) {
    MHD_UNSIGNED_LONG_LONG mhd_timeout = 0;
    int timeout_ms = 1000;
    if (MHD_get_timeout(daemon.get(), &mhd_timeout) == MHD_YES && mhd_timeout < 1000) {
      timeout_ms = static_cast<int>(mhd_timeout);
    }
    pollfd p{info->epoll_fd, POLLIN, 0};
    (void)poll(&p, 1, timeout_ms);
    MHD_run(daemon.get());
  }
  return 0;
}
