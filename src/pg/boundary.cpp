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

namespace {

int sqlstate_for(const plane::PlaneError& e) {
  switch (e.kind()) {
    case ErrorKind::Config: return ERRCODE_INVALID_PARAMETER_VALUE;
    case ErrorKind::Auth: return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
    case ErrorKind::Cancelled: return ERRCODE_QUERY_CANCELED;
    case ErrorKind::Timeout:
    case ErrorKind::Transport: return ERRCODE_CONNECTION_FAILURE;
    default: return ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
  }
}

void copy_text(char* dst, size_t size, const char* src) {
  std::snprintf(dst, size, "%s", src != nullptr ? src : "");
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
    copy_text(message, sizeof message, e.what());
    copy_text(detail, sizeof detail, e.detail().c_str());
    copy_text(hint, sizeof hint, e.hint().c_str());
  } catch (const plane::PlaneError& e) {
    code = sqlstate_for(e);
    std::snprintf(message, sizeof message, "plane_connector: %s", e.what());
  } catch (const std::exception& e) {
    std::snprintf(message, sizeof message, "plane_connector: internal error: %s", e.what());
  } catch (...) {
    copy_text(message, sizeof message, "plane_connector: unknown C++ exception");
  }
  // Every C++ frame between here and impl has been unwound: now it is safe to longjmp.
  ereport(ERROR, (errcode(code), errmsg("%s", message),
                  detail[0] != '\0' ? errdetail("%s", detail) : 0,
                  hint[0] != '\0' ? errhint("%s", hint) : 0));
  pg_unreachable();
}

}  // namespace plane::pg
