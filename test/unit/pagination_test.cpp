// Unit tests for src/core/pagination: Plane's v1 list envelope: offset cursors "per_page:page:is_prev", next_cursor always a string, stop on
// next_page_results.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

#include "core/errors.hpp"
#include "core/pagination.hpp"
#include "core/parsed_json.hpp"

namespace {

using nlohmann::json;
using plane::ErrorKind;
using plane::ListPage;
using plane::make_cursor;
using plane::parse_list_page;
using plane::PlaneError;
using plane::rebase_cursor;

// Plane's envelope with the exact key order of BasePaginator.paginate.
json envelope(json results, const std::string& next_cursor, const std::string& prev_cursor,
              bool next_page_results, bool prev_page_results, long total, int per_page) {
  json doc = json::object();
  doc["grouped_by"] = nullptr;
  doc["sub_grouped_by"] = nullptr;
  doc["total_count"] = total;
  doc["next_cursor"] = next_cursor;
  doc["prev_cursor"] = prev_cursor;
  doc["next_page_results"] = next_page_results;
  doc["prev_page_results"] = prev_page_results;
  doc["count"] = results.size();
  doc["total_pages"] = (total + per_page - 1) / per_page;
  doc["total_results"] = total;
  doc["extra_stats"] = nullptr;
  doc["results"] = std::move(results);
  return doc;
}

ErrorKind error_kind_in(const std::string& body, plane::ListForm form) {
  try {
    plane::parse_list_page(body, form);
  } catch (const PlaneError& e) {
    return e.kind();
  }
  return ErrorKind::Internal;  // "did not throw"
}

// Both forms (the sync's work-item pages are read as parsed): the same error, or none.
ErrorKind parse_error_kind(const std::string& body) {
  const ErrorKind kind = error_kind_in(body, plane::ListForm::Json);
  EXPECT_EQ(error_kind_in(body, plane::ListForm::Parsed), kind) << body;
  return kind;
}

// The Json form of a page, checked against its Parsed form: the same envelope, the same rows.
ListPage parse_both(const std::string& body) {
  ListPage page = plane::parse_list_page(body, plane::ListForm::Json);
  const ListPage parsed = plane::parse_list_page(body, plane::ListForm::Parsed);
  EXPECT_NE(parsed.parsed, nullptr) << body;
  EXPECT_TRUE(parsed.results.empty());
  json rows = json::array();
  for (const auto& row : parsed.parsed_results) rows.push_back(plane::to_json(row));
  EXPECT_EQ(rows, page.results) << body;
  EXPECT_EQ(parsed.size(), page.size());
  EXPECT_EQ(parsed.next_cursor, page.next_cursor);
  EXPECT_EQ(parsed.has_next, page.has_next);
  EXPECT_EQ(parsed.total_results, page.total_results);
  EXPECT_EQ(parsed.bare_array, page.bare_array);
  return page;
}

TEST(ParseListPage, FirstOfTwoPages) {
  // Exactly what Plane sends for page 0 of 150 rows at per_page=100.
  const std::string body =
      R"({"grouped_by": null, "sub_grouped_by": null, "total_count": 150,)"
      R"( "next_cursor": "100:1:0", "prev_cursor": "100:-1:1", "next_page_results": true,)"
      R"( "prev_page_results": false, "count": 2, "total_pages": 2, "total_results": 150,)"
      R"( "extra_stats": null, "results": [{"id": "a"}, {"id": "b"}]})";
  const ListPage page = parse_both(body);
  EXPECT_TRUE(page.has_next);
  EXPECT_EQ(page.next_cursor, "100:1:0");
  ASSERT_TRUE(page.total_results.has_value());
  EXPECT_EQ(*page.total_results, 150);
  EXPECT_FALSE(page.bare_array);
  ASSERT_TRUE(page.results.is_array());
  ASSERT_EQ(page.results.size(), 2u);
  EXPECT_EQ(page.results[0]["id"], "a");
  EXPECT_EQ(page.results[1]["id"], "b");
}

TEST(ParseListPage, LastPageStillHasACursorButNoNext) {
  // next_cursor is never empty, even on the last page: only next_page_results says "stop".
  const json doc = envelope(json::array({{{"id", "z"}}}), "100:1:0", "100:-1:1",
                            /*next=*/false, /*prev=*/false, 1, 100);
  const ListPage page = parse_both(doc.dump());
  EXPECT_FALSE(page.has_next);
  EXPECT_EQ(page.next_cursor, "100:1:0");
  EXPECT_EQ(page.total_results, 1);
  EXPECT_EQ(page.results.size(), 1u);
}

TEST(ParseListPage, SecondPageOfThree) {
  const json doc = envelope(json::array({{{"id", "c"}}}), "2:2:0", "2:0:1", true, true, 5, 2);
  const ListPage page = parse_both(doc.dump());
  EXPECT_TRUE(page.has_next);
  EXPECT_EQ(page.next_cursor, "2:2:0");
  EXPECT_EQ(page.total_results, 5);
}

TEST(ParseListPage, EmptyList) {
  const json doc = envelope(json::array(), "100:1:0", "100:-1:1", false, false, 0, 100);
  const ListPage page = parse_both(doc.dump());
  EXPECT_FALSE(page.has_next);
  EXPECT_TRUE(page.results.is_array());
  EXPECT_TRUE(page.results.empty());
  EXPECT_EQ(page.total_results, 0);
}

TEST(ParseListPage, TotalCountUsedWhenTotalResultsAbsent) {
  const ListPage page =
      parse_both(R"({"total_count": 7, "next_page_results": false, "results": []})");
  EXPECT_EQ(page.total_results, 7);
}

TEST(ParseListPage, NoTotalsLeavesTotalUnknown) {
  const ListPage page = parse_both(R"({"results": [{"id": "x"}]})");
  EXPECT_FALSE(page.total_results.has_value());
  EXPECT_FALSE(page.has_next);  // absent next_page_results means "no more"
  EXPECT_EQ(page.next_cursor, "");
}

TEST(ParseListPage, NonBooleanNextPageResultsIsNotTrue) {
  const ListPage page =
      parse_both(R"({"next_page_results": "true", "next_cursor": "1:1:0", "results": []})");
  EXPECT_FALSE(page.has_next);
}

TEST(ParseListPage, BareArray) {
  // Member lists, attachments and cycle_view=current are bare arrays.
  const ListPage page = parse_both(R"([{"id": "u1", "role": 20}, {"id": "u2", "role": 15}])");
  EXPECT_TRUE(page.bare_array);
  EXPECT_FALSE(page.has_next);
  EXPECT_EQ(page.next_cursor, "");
  EXPECT_EQ(page.total_results, 2);
  ASSERT_EQ(page.results.size(), 2u);
  EXPECT_EQ(page.results[1]["id"], "u2");
}

TEST(ParseListPage, EmptyBareArray) {
  const ListPage page = parse_both("[]");
  EXPECT_TRUE(page.bare_array);
  EXPECT_TRUE(page.results.empty());
  EXPECT_EQ(page.total_results, 0);
}

TEST(ParseListPage, MalformedJsonIsParseError) {
  EXPECT_EQ(parse_error_kind(""), ErrorKind::Parse);
  EXPECT_EQ(parse_error_kind("{"), ErrorKind::Parse);
  EXPECT_EQ(parse_error_kind(R"({"results": [{"id": "a"},)"), ErrorKind::Parse);  // truncated
  EXPECT_EQ(parse_error_kind("<html>502 Bad Gateway</html>"), ErrorKind::Parse);
  EXPECT_EQ(parse_error_kind(R"({"results": []} trailing)"), ErrorKind::Parse);
}

TEST(ParseListPage, MissingOrWrongResultsIsParseError) {
  EXPECT_EQ(parse_error_kind(R"({"detail": "Invalid cursor parameter."})"), ErrorKind::Parse);
  EXPECT_EQ(parse_error_kind(R"({"results": null})"), ErrorKind::Parse);
  EXPECT_EQ(parse_error_kind(R"({"results": {"id": "a"}})"), ErrorKind::Parse);
  EXPECT_EQ(parse_error_kind(R"({"results": "a"})"), ErrorKind::Parse);
  EXPECT_EQ(parse_error_kind("42"), ErrorKind::Parse);
  EXPECT_EQ(parse_error_kind(R"("results")"), ErrorKind::Parse);
  EXPECT_EQ(parse_error_kind("null"), ErrorKind::Parse);
}

TEST(ParseListPage, HasNextWithoutCursorIsParseError) {
  // Following nothing would either loop on the first page forever or stop silently.
  EXPECT_EQ(parse_error_kind(R"({"next_page_results": true, "next_cursor": "", "results": []})"),
            ErrorKind::Parse);
  EXPECT_EQ(parse_error_kind(R"({"next_page_results": true, "results": []})"), ErrorKind::Parse);
  EXPECT_EQ(
      parse_error_kind(R"({"next_page_results": true, "next_cursor": null, "results": []})"),
      ErrorKind::Parse);
  EXPECT_EQ(parse_error_kind(R"({"next_page_results": true, "next_cursor": 5, "results": []})"),
            ErrorKind::Parse);
}

TEST(ParseListPage, ParseErrorIsRetryable) {
  try {
    parse_both("{");
    FAIL() << "expected PlaneError";
  } catch (const PlaneError& e) {
    EXPECT_TRUE(e.retryable());  // a truncated page is worth fetching again
  }
}

TEST(MakeCursor, Format) {
  EXPECT_EQ(make_cursor(100, 0), "100:0:0");
  EXPECT_EQ(make_cursor(100, 1), "100:1:0");
  EXPECT_EQ(make_cursor(20, 123456), "20:123456:0");
  EXPECT_EQ(make_cursor(1000, 7), "1000:7:0");
}

TEST(RebaseCursor, SamePerPageIsUnchanged) {
  EXPECT_EQ(rebase_cursor("100:3:0", 100), "100:3:0");
  EXPECT_EQ(rebase_cursor("100:0:0", 100), "100:0:0");
  EXPECT_EQ(rebase_cursor(make_cursor(50, 9), 50), make_cursor(50, 9));
}

TEST(RebaseCursor, SmallerPerPageKeepsTheOffset) {
  // Offset 300 at 100/page is page 6 at 50/page.
  EXPECT_EQ(rebase_cursor("100:3:0", 50), "50:6:0");
  EXPECT_EQ(rebase_cursor("100:1:0", 30), "30:3:0");  // offset 100 -> 90: re-reads 10, skips none
}

TEST(RebaseCursor, LargerPerPageRoundsDown) {
  // Offset 150 at 100/page would be page 1.5: page 1 (offset 100) re-reads rows, never skips.
  EXPECT_EQ(rebase_cursor("50:3:0", 100), "100:1:0");
  EXPECT_EQ(rebase_cursor("50:1:0", 100), "100:0:0");
  EXPECT_EQ(rebase_cursor("20:10:0", 100), "100:2:0");
}

TEST(RebaseCursor, NeverSkipsRowsExhaustive) {
  // For every saved position, the resumed offset is <= the saved offset and within one page of it.
  for (int old_pp = 1; old_pp <= 40; ++old_pp) {
    for (long index = 0; index <= 25; ++index) {
      for (int new_pp = 1; new_pp <= 40; ++new_pp) {
        const std::string rebased = rebase_cursor(make_cursor(old_pp, index), new_pp);
        long pp = 0, idx = 0, prev = 0;
        ASSERT_EQ(std::sscanf(rebased.c_str(), "%ld:%ld:%ld", &pp, &idx, &prev), 3) << rebased;
        ASSERT_EQ(pp, new_pp);
        ASSERT_EQ(prev, 0);
        const long saved_offset = old_pp * index;
        const long new_offset = pp * idx;
        ASSERT_LE(new_offset, saved_offset) << old_pp << ":" << index << " -> " << rebased;
        ASSERT_GT(new_offset + new_pp, saved_offset) << old_pp << ":" << index << " -> " << rebased;
      }
    }
  }
}

TEST(RebaseCursor, GarbageMeansStartOver) {
  const char* bad[] = {
      "",          "garbage", "100",     "100:3",   "100:3:",  "100:3:0:1", "100:3:0x",
      "100:3:1",   // a prev cursor: following it backwards is not a resume point
      "100:-1:1",  // Plane's first-page prev_cursor
      "100:-1:0",  "0:3:0",   "-100:3:0", "a:b:c",  "100:3:0 ", ":3:0",
  };
  for (const char* cursor : bad) {
    SCOPED_TRACE(cursor);
    EXPECT_EQ(rebase_cursor(cursor, 100), "");
  }
}

TEST(RebaseCursor, InvalidTargetPerPageMeansStartOver) {
  EXPECT_EQ(rebase_cursor("100:3:0", 0), "");
  EXPECT_EQ(rebase_cursor("100:3:0", -5), "");
}

}  // namespace

// A body nesting deeper than any Plane object is refused before anything recurses over it
// (copying or dumping 100,000 levels overflows the stack).
TEST(ParseListPageHostile, DeeplyNestedBodyIsAParseError) {
  const std::string deep = R"({"results":[)" + std::string(100000, '[') + std::string(100000, ']') +
                           R"(],"next_page_results":false})";
  try {
    (void)plane::parse_list_page(deep, plane::ListForm::Parsed);
    FAIL() << "expected a PlaneError";
  } catch (const plane::PlaneError& e) {
    EXPECT_EQ(e.kind(), plane::ErrorKind::Parse);
    EXPECT_NE(std::string(e.what()).find("nests deeper"), std::string::npos);
  }
  // 200 levels inside a result are still a page (rich-text descriptions nest).
  const std::string ok = R"({"results":[{"id":"a","d":)" + std::string(200, '[') + std::string(200, ']') +
                         R"(}],"next_page_results":false})";
  EXPECT_EQ(plane::parse_list_page(ok).results.size(), 1u);
  EXPECT_EQ(plane::parse_list_page(ok, plane::ListForm::Parsed).size(), 1u);
}

// What simdjson refuses and nlohmann reads (an integer beyond 64 bits) is read as the Json form.
TEST(ParseListPage, ParsedFormFallsBackToJsonForWhatSimdjsonRefuses) {
  const std::string body =
      R"({"results": [{"id": "a", "n": 123456789012345678901234567890}], "next_page_results": false})";
  const ListPage page = plane::parse_list_page(body, plane::ListForm::Parsed);
  EXPECT_EQ(page.parsed, nullptr);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page.results[0]["id"], "a");
  EXPECT_TRUE(page.results[0]["n"].is_number_float());
}
