// The exception boundary between C++ and Postgres (design brief, "The exception boundary").
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

#include <exception>
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
