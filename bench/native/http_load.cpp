// A lean HTTP/1.1 load generator for bench/receiver_throughput.py: pre-rendered requests over a
// fixed number of keep-alive connections, one epoll loop, one thread (the machine has 2 cores and
// the server under test needs them more than the client).
//
//   http_load --port P --requests FILE --count N --connections C [--rate R]
//
// FILE holds complete requests, each as a 4-byte little-endian length and the bytes; request i
// is FILE's (i mod n)-th. Without --rate the run is closed-loop: each connection sends its next
// request as soon as it has the previous answer (throughput). With --rate the run is open-loop:
// request i is due at start + i/R and is sent then on an idle connection (or as soon as one is
// idle); its latency runs from the time it was due, so a slow server cannot hide its stalls by
// slowing the client down (coordinated omission). Prints one JSON object.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0, Clock::time_point t) {
  return std::chrono::duration<double>(t - t0).count();
}

struct Options {
  int port = 0;
  std::string requests_file;
  long count = 0;
  int connections = 16;
  double rate = 0;  // 0: closed loop
};

struct Connection {
  int fd = -1;
  bool busy = false;
  long request = -1;            // index in flight
  Clock::time_point due;        // when it was due (open loop) or sent (closed loop)
  size_t written = 0;
  std::string in;               // response bytes so far
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "http_load: %s: %s\n", what, std::strerror(errno));
  std::exit(2);
}

std::vector<std::string> read_requests(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) die("cannot open the requests file");
  std::vector<std::string> out;
  unsigned char len[4];
  while (f.read(reinterpret_cast<char*>(len), 4)) {
    const uint32_t n = len[0] | (len[1] << 8) | (len[2] << 16) | (uint32_t(len[3]) << 24);
    std::string r(n, '\0');
    if (!f.read(r.data(), n)) die("truncated requests file");
    out.push_back(std::move(r));
  }
  if (out.empty()) die("no requests");
  return out;
}

int open_connection(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    die("connect");
  }
  return fd;
}

// Length of a complete response at the start of `in` (0: not complete yet); sets status and
// whether the server will close the connection.
size_t complete_response(const std::string& in, int& status, bool& closes) {
  const size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  status = std::atoi(in.c_str() + 9);  // "HTTP/1.1 200 ..."
  size_t body = 0;
  closes = false;
  for (size_t line = in.find("\r\n") + 2; line < end;) {
    const size_t eol = in.find("\r\n", line);
    const std::string h = in.substr(line, eol - line);
    const size_t colon = h.find(':');
    std::string name = h.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "content-length") body = std::strtoul(h.c_str() + colon + 1, nullptr, 10);
    if (name == "connection" && h.find("close") != std::string::npos) closes = true;
    line = eol + 2;
  }
  return in.size() >= end + 4 + body ? end + 4 + body : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--port") o.port = std::atoi(v);
    else if (k == "--requests") o.requests_file = v;
    else if (k == "--count") o.count = std::atol(v);
    else if (k == "--connections") o.connections = std::atoi(v);
    else if (k == "--rate") o.rate = std::atof(v);
    else { std::fprintf(stderr, "http_load: unknown option %s\n", k.c_str()); return 2; }
  }
  if (o.port <= 0 || o.count <= 0 || o.connections <= 0 || o.requests_file.empty()) {
    std::fprintf(stderr, "usage: http_load --port P --requests FILE --count N --connections C [--rate R]\n");
    return 2;
  }
  const std::vector<std::string> requests = read_requests(o.requests_file);
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  std::vector<Connection> conns(o.connections);
  auto watch = [&](int i, bool writing, int op) {
    epoll_event ev{};
    ev.events = writing ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    if (epoll_ctl(ep, op, conns[i].fd, &ev) != 0) die("epoll_ctl");
  };
  for (int i = 0; i < o.connections; ++i) {
    conns[i].fd = open_connection(o.port);
    watch(i, false, EPOLL_CTL_ADD);
  }

  std::vector<double> latency_ms;
  latency_ms.reserve(static_cast<size_t>(o.count));
  std::map<int, long> statuses;
  long errors = 0, next = 0, done = 0, reconnects = 0;
  std::deque<std::pair<long, Clock::time_point>> waiting;  // open loop: due, no idle connection
  const Clock::time_point start = Clock::now();
  const bool open_loop = o.rate > 0;
  auto due_time = [&](long i) {
    return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i / o.rate));
  };

  auto send_some = [&](int i) {
    Connection& c = conns[i];
    const std::string& r = requests[static_cast<size_t>(c.request) % requests.size()];
    while (c.written < r.size()) {
      const ssize_t n = send(c.fd, r.data() + c.written, r.size() - c.written, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) break;
        return false;
      }
      c.written += static_cast<size_t>(n);
    }
    watch(i, c.written < r.size(), EPOLL_CTL_MOD);
    return true;
  };
  auto start_request = [&](int i, long request, Clock::time_point due) {
    Connection& c = conns[i];
    c.busy = true;
    c.request = request;
    c.due = due;
    c.written = 0;
    c.in.clear();
    return send_some(i);
  };
  auto reconnect = [&](int i) {
    epoll_ctl(ep, EPOLL_CTL_DEL, conns[i].fd, nullptr);
    close(conns[i].fd);
    conns[i].fd = open_connection(o.port);
    conns[i].busy = false;
    watch(i, false, EPOLL_CTL_ADD);
    ++reconnects;
  };
  // Hands work to idle connections: the next request at once (closed loop), or the requests that
  // are due (open loop).
  auto dispatch = [&]() {
    const Clock::time_point now = Clock::now();
    if (open_loop) {
      while (next < o.count && due_time(next) <= now) waiting.emplace_back(next, due_time(next)), ++next;
    }
    for (int i = 0; i < o.connections; ++i) {
      if (conns[i].busy) continue;
      if (open_loop) {
        if (waiting.empty()) break;
        auto [request, due] = waiting.front();
        waiting.pop_front();
        if (!start_request(i, request, due)) { ++errors; ++done; reconnect(i); }
      } else {
        if (next >= o.count) break;
        if (!start_request(i, next++, now)) { ++errors; ++done; reconnect(i); }
      }
    }
  };

  std::vector<epoll_event> events(static_cast<size_t>(o.connections));
  char buf[65536];
  dispatch();
  while (done < o.count) {
    int timeout_ms = -1;
    if (open_loop && next < o.count) {
      const auto wait = std::chrono::duration_cast<std::chrono::microseconds>(due_time(next) - Clock::now()).count();
      timeout_ms = wait <= 0 ? 0 : static_cast<int>((wait + 999) / 1000);
    }
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int e = 0; e < n; ++e) {
      const int i = static_cast<int>(events[e].data.u32);
      Connection& c = conns[i];
      if ((events[e].events & EPOLLOUT) && c.busy && !send_some(i)) {
        ++errors; ++done; reconnect(i);
        continue;
      }
      if (!(events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      const ssize_t got = recv(c.fd, buf, sizeof buf, 0);
      if (got <= 0) {
        if (got < 0 && errno == EAGAIN) continue;
        if (c.busy) { ++errors; ++done; }
        reconnect(i);
        continue;
      }
      c.in.append(buf, static_cast<size_t>(got));
      int status = 0;
      bool closes = false;
      if (!c.busy || complete_response(c.in, status, closes) == 0) continue;
      latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - c.due).count());
      ++statuses[status];
      ++done;
      c.busy = false;
      if (closes) reconnect(i);
    }
    dispatch();
  }
  const double elapsed = seconds_since(start, Clock::now());

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  std::sort(latency_ms.begin(), latency_ms.end());
  auto pct = [&](double p) {  // nearest rank
    if (latency_ms.empty()) return 0.0;
    size_t k = static_cast<size_t>(p / 100.0 * latency_ms.size() + 0.999999);
    k = std::min(std::max<size_t>(k, 1), latency_ms.size());
    return latency_ms[k - 1];
  };
  std::printf("{\"requests\": %ld, \"errors\": %ld, \"reconnects\": %ld, \"seconds\": %.6f, "
              "\"per_second\": %.1f, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
              "\"p999_ms\": %.3f, \"max_ms\": %.3f, \"client_cpu_s\": %.4f, \"statuses\": {",
              o.count, errors, reconnects, elapsed, static_cast<double>(latency_ms.size()) / elapsed,
              pct(50), pct(90), pct(99), pct(99.9), latency_ms.empty() ? 0.0 : latency_ms.back(), cpu);
  bool first = true;
  for (const auto& [status, n] : statuses) {
    std::printf("%s\"%d\": %ld", first ? "" : ", ", status, n);
    first = false;
  }
  std::printf("}}\n");
  return 0;
}
