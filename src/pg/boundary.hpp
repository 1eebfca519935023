// The exception boundary between C++ and Postgres (README, "The C++/Postgres boundary").
//
//  * C++ → Postgres: a SQL entry point is declared with PLANE_SQL_FUNCTION; its body runs inside
//    invoke_cpp, which catches every C++ exception and raises ereport(ERROR) only after the catch
//    block has ended, i.e. after every C++ frame has been unwound.
//  * Postgres → C++: a call into Postgres code that may ereport is made through pg_call(fn): fn
//    runs under PG_TRY, and a Postgres ERROR becomes a C++ PgError thrown from pg_call's own frame,
//    so the C++ frames above it unwind normally (destructors run).
//    fn must be a noexcept lambda that owns no object with a non-trivial destructor: a longjmp out
//    of it would skip that destructor, and an exception out of it would leave PG_exception_stack
//    pointing at a dead frame. The static_assert enforces the noexcept half.
#pragma once

#include "pg/pg_prelude.hpp"

#include <cstddef>
#include <exception>
#include <new>
#include <string>
#include <type_traits>

namespace plane::pg {

// A Postgres ERROR carried through C++ frames as an exception.
class PgError : public std::exception {
 public:
  PgError(int sqlerrcode, std::string message, std::string detail, std::string hint)
      : sqlerrcode_(sqlerrcode),
        message_(std::move(message)),
        detail_(std::move(detail)),
        hint_(std::move(hint)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  int sqlerrcode() const noexcept { return sqlerrcode_; }
  const std::string& detail() const noexcept { return detail_; }
  const std::string& hint() const noexcept { return hint_; }

 private:
  int sqlerrcode_;
  std::string message_;
  std::string detail_;
  std::string hint_;
};

// Converts the error data caught by PG_CATCH into a PgError and throws it. Frees `edata`.
[[noreturn]] void throw_pg_error(ErrorData* edata);

// Copies a message into a fixed buffer (for catch blocks, which must not allocate with palloc),
// cutting it on a UTF-8 character boundary: a message cut inside a character is invalid text that
// Postgres refuses to log or store.
void copy_message(char* dst, std::size_t size, const char* src) noexcept;

// Raises the ERROR for a C++ exception caught by cpp_step (out of memory for std::bad_alloc).
[[noreturn]] void raise_cpp_failure(bool out_of_memory, const char* message) noexcept;

// Runs a step of C++ code that may throw (an allocation: std::string, std::vector, nlohmann::json)
// from inside a noexcept lambda given to pg_call or in_transaction. An exception would otherwise
// call std::terminate and take the server down; here it becomes a Postgres ERROR, raised after the
// catch block has ended (fn's objects are destroyed by then), which pg_call then turns back into a
// PgError for the C++ frames above.
// cpp_step's first half, for a caller that must clean up before the ERROR: false when fn threw
// (raise_cpp_failure(true, "") then reports it as out of memory, the one failure of a copy).
template <typename F>
bool cpp_try(F&& fn) noexcept {
  try {
    fn();
    return true;
  } catch (...) {
    return false;
  }
}

template <typename F>
void cpp_step(F&& fn) noexcept {
  bool out_of_memory = false;
  char message[256];
  message[0] = '\0';
  try {
    fn();
    return;
  } catch (const std::bad_alloc&) {
    out_of_memory = true;
  } catch (const std::exception& e) {
    copy_message(message, sizeof message, e.what());
  } catch (...) {
    copy_message(message, sizeof message, "unknown C++ exception");
  }
  raise_cpp_failure(out_of_memory, message);
}

// Runs fn under PG_TRY; a Postgres ERROR comes back as a thrown PgError.
// If abort_transaction is set, the current transaction is aborted before throwing (workers).
template <typename F>
void pg_call(F&& fn, bool abort_transaction = false) {
  static_assert(std::is_nothrow_invocable_v<F>,
                "pg_call takes a noexcept lambda: no C++ exception may cross PG_TRY");
  MemoryContext caller_cxt = CurrentMemoryContext;
  ErrorData* volatile edata = nullptr;
  PG_TRY();
  {
    fn();
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(caller_cxt);
    edata = CopyErrorData();
    FlushErrorState();
    if (abort_transaction) {
      AbortCurrentTransaction();
      MemoryContextSwitchTo(caller_cxt);
    }
  }
  PG_END_TRY();
  if (edata != nullptr) throw_pg_error(edata);
}

// Runs fn (noexcept and C-level, as for pg_call) in an internal subtransaction. A Postgres ERROR
// rolls the subtransaction back — the one correct way to carry on in a transaction after catching
// an ERROR — and comes back as a thrown PgError. fn runs in the caller's memory context, so what it
// palloc's outlives the subtransaction. Connect SPI inside fn if fn uses SPI.
template <typename F>
void in_subtransaction(F&& fn) {
  static_assert(std::is_nothrow_invocable_v<F>, "in_subtransaction takes a noexcept lambda");
  MemoryContext cxt = CurrentMemoryContext;
  ResourceOwner owner = CurrentResourceOwner;
  bool begun = false;
  try {
    pg_call([&]() noexcept {
      BeginInternalSubTransaction(nullptr);
      begun = true;
      MemoryContextSwitchTo(cxt);
      fn();
      ReleaseCurrentSubTransaction();
      MemoryContextSwitchTo(cxt);
      CurrentResourceOwner = owner;
    });
  } catch (const PgError&) {
    if (begun) {
      pg_call([&]() noexcept {
        RollbackAndReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(cxt);
        CurrentResourceOwner = owner;
      });
    }
    throw;
  }
}

// Background-worker helper: runs fn in its own short transaction with SPI connected and a snapshot
// pushed, and commits. A Postgres ERROR aborts the transaction and is rethrown as PgError.
template <typename F>
void in_transaction(F&& fn) {
  static_assert(std::is_nothrow_invocable_v<F>, "in_transaction takes a noexcept lambda");
  pg_call(
      [&]() noexcept {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "plane_connector: SPI_connect failed");
        PushActiveSnapshot(GetTransactionSnapshot());
        fn();
        SPI_finish();
        PopActiveSnapshot();
        CommitTransactionCommand();
      },
      /*abort_transaction=*/true);
}

// Background-worker helper for C++ work that needs a transaction but makes its own Postgres calls
// (through pg_call): starts a transaction, runs fn, commits; on any exception aborts and rethrows.
template <typename F>
auto with_transaction(F&& fn) -> decltype(fn()) {
  pg_call(
      []() noexcept {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        PushActiveSnapshot(GetTransactionSnapshot());
      },
      true);
  try {
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      pg_call([]() noexcept { PopActiveSnapshot(); CommitTransactionCommand(); }, true);
    } else {
      auto result = fn();
      pg_call([]() noexcept { PopActiveSnapshot(); CommitTransactionCommand(); }, true);
      return result;
    }
  } catch (...) {
    pg_call([]() noexcept { AbortCurrentTransaction(); });
    throw;
  }
}

using CppFunction = Datum (*)(FunctionCallInfo);

// Calls impl and turns any C++ exception into ereport(ERROR) once all C++ frames are gone.
Datum invoke_cpp(CppFunction impl, FunctionCallInfo fcinfo);

}  // namespace plane::pg

// Declares a SQL-callable function whose body is C++ and runs behind the exception boundary:
//   PLANE_SQL_FUNCTION(plane_sync_now) { ...; PG_RETURN_VOID(); }
#define PLANE_SQL_FUNCTION(name)                                              \
  static Datum name##_cpp(FunctionCallInfo fcinfo);                           \
  extern "C" {                                                                \
  PG_FUNCTION_INFO_V1(name);                                                  \
  Datum name(PG_FUNCTION_ARGS) { return ::plane::pg::invoke_cpp(name##_cpp, fcinfo); } \
  }                                                                           \
  static Datum name##_cpp(FunctionCallInfo fcinfo)
