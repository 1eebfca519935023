#include "pg/boundary.hpp"

#include <cstdio>
#include <cstring>

#include "core/errors.hpp"

namespace plane::pg {

[[noreturn]] void throw_pg_error(ErrorData* edata) {
  // Copy into C++ strings before freeing: the exception outlives the error data.
  const int code = edata->sqlerrcode;
  std::string message = edata->message ? edata->message : "unknown Postgres error";
  std::string detail = edata->detail ? edata->detail : "";
  std::string hint = edata->hint ? edata->hint : "";
  FreeErrorData(edata);
  throw PgError(code, std::move(message), std::move(detail), std::move(hint));
}

void copy_message(char* dst, std::size_t size, const char* src) noexcept {
  if (size == 0) return;
  if (src == nullptr) src = "";
  std::size_t n = strnlen(src, size);
  if (n >= size) {
    n = size - 1;
    // Back up to the first byte of the character that does not fit (continuation bytes are 10xxxxxx).
    while (n > 0 && (static_cast<unsigned char>(src[n]) & 0xC0) == 0x80) --n;
  }
  std::memcpy(dst, src, n);
  dst[n] = '\0';
}

void raise_cpp_failure(bool out_of_memory, const char* message) noexcept {
  if (out_of_memory) {
    ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("plane_connector: out of memory")));
  }
  ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("plane_connector: internal error: %s", message)));
  pg_unreachable();
}

namespace {

int sqlstate_for(const plane::PlaneError& e) {
  switch (e.kind()) {
    case ErrorKind::Config: return ERRCODE_INVALID_PARAMETER_VALUE;
    case ErrorKind::Auth: return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
    case ErrorKind::Forbidden: return ERRCODE_INSUFFICIENT_PRIVILEGE;
    case ErrorKind::Cancelled: return ERRCODE_QUERY_CANCELED;
    case ErrorKind::Timeout:
    case ErrorKind::Transport: return ERRCODE_CONNECTION_FAILURE;
    default: return ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
  }
}


}  // namespace

Datum invoke_cpp(CppFunction impl, FunctionCallInfo fcinfo) {
  // Fixed buffers, not palloc: nothing inside a catch block may ereport (it would longjmp over
  // the catch frame and leak the exception object).
  char message[2048];
  char detail[1024];
  char hint[1024];
  int code = ERRCODE_INTERNAL_ERROR;
  detail[0] = '\0';
  hint[0] = '\0';
  try {
    return impl(fcinfo);
  } catch (const PgError& e) {
    code = e.sqlerrcode();
    copy_message(message, sizeof message, e.what());
    copy_message(detail, sizeof detail, e.detail().c_str());
    copy_message(hint, sizeof hint, e.hint().c_str());
  } catch (const plane::PlaneError& e) {
    code = sqlstate_for(e);
    std::snprintf(message, sizeof message, "plane_connector: ");
    copy_message(message + strlen(message), sizeof message - strlen(message), e.what());
  } catch (const std::bad_alloc&) {
    code = ERRCODE_OUT_OF_MEMORY;
    copy_message(message, sizeof message, "plane_connector: out of memory");
  } catch (const std::exception& e) {
    std::snprintf(message, sizeof message, "plane_connector: internal error: ");
    copy_message(message + strlen(message), sizeof message - strlen(message), e.what());
  } catch (...) {
    copy_message(message, sizeof message, "plane_connector: unknown C++ exception");
  }
  // Every C++ frame between here and impl has been unwound: now it is safe to longjmp.
  ereport(ERROR, (errcode(code), errmsg("%s", message),
                  detail[0] != '\0' ? errdetail("%s", detail) : 0,
                  hint[0] != '\0' ? errhint("%s", hint) : 0));
  pg_unreachable();
}

}  // namespace plane::pg
