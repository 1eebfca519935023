// Unit tests for src/core/html_text (HTML → text with libxml2's HTML parser), text_chunker (chunks
// for retrieval) and utf8.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/html_text.hpp"
#include "core/text_chunker.hpp"
#include "core/utf8.hpp"

namespace {

using plane::html_blocks;
using plane::html_chunks;
using plane::html_to_text;
using plane::TextChunk;

// A description as Plane's editor stores it (tiptap HTML): paragraphs, lists whose items wrap
// paragraphs, headings, inline code, links, a user mention, an image and a task list.
const char* kPlaneDescription =
    "<p>Users get logged out after <strong>5 minutes</strong> on Safari.</p>"
    "<ul><li><p>Open the app</p></li><li><p>Wait &amp; reload</p></li></ul>"
    "<h2>Expected</h2><p>The session lasts 24&nbsp;h, see <code>auth/session.ts</code> and "
    "<a href=\"https://example.com/docs\">the docs</a>.</p>"
    "<p>cc <mention-component id=\"m1\" entity_identifier=\"5f0c\" entity_name=\"user_mention\" "
    "label=\"Ann Lee\"></mention-component></p>"
    "<image-component src=\"https://uploads.plane.so/a.png\" alt=\"login screen\"></image-component>"
    "<ul data-type=\"taskList\"><li data-checked=\"true\" data-type=\"taskItem\"><label><input "
    "type=\"checkbox\" checked=\"checked\"></label><div><p>Reproduce</p></div></li>"
    "<li data-checked=\"false\" data-type=\"taskItem\"><label><input type=\"checkbox\"></label>"
    "<div><p>Fix</p></div></li></ul>";

TEST(HtmlToText, PlaneDescription) {
  EXPECT_EQ(html_to_text(kPlaneDescription),
            "Users get logged out after 5 minutes on Safari.\n"
            "- Open the app\n"
            "- Wait & reload\n"
            "Expected\n"
            "The session lasts 24 h, see auth/session.ts and the docs.\n"
            "cc @Ann Lee\n"
            "login screen\n"
            "- [x] Reproduce\n"
            "- [ ] Fix");
}

TEST(HtmlToText, HeadingsAreBlocksWithTheirLevel) {
  const auto blocks = html_blocks("<h1>Top</h1><p>a</p><h3>Deep <em>one</em></h3><p>b</p>");
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(blocks[0].heading_level, 1);
  EXPECT_EQ(blocks[0].text, "Top");
  EXPECT_EQ(blocks[1].heading_level, 0);
  EXPECT_EQ(blocks[2].heading_level, 3);
  EXPECT_EQ(blocks[2].text, "Deep one");
}

TEST(HtmlToText, EntitiesDecoded) {
  EXPECT_EQ(html_to_text("<p>&lt;tag&gt; &quot;q&quot; &#39;s&#39; caf&eacute; &#x1F680; &euro;5</p>"),
            "<tag> \"q\" 's' café 🚀 €5");
}

TEST(HtmlToText, ScriptStyleTemplateHeadDropped) {
  EXPECT_EQ(html_to_text("<html><head><title>T</title><style>p{color:red}</style></head><body>"
                         "<script>alert('x')</script><p>kept</p><template><p>no</p></template>"
                         "<noscript>no</noscript><p>also kept</p></body></html>"),
            "kept\nalso kept");
}

TEST(HtmlToText, WhitespaceCollapsedAndLineBreaks) {
  EXPECT_EQ(html_to_text("  <p>  a \n\t b  </p>\n\n<div>c<br>d<br/><br>e</div>  text   "),
            "a b\nc\nd\ne\ntext");
  EXPECT_EQ(html_to_text("<p>a<b>b</b> <i>c</i></p>"), "ab c");
}

TEST(HtmlToText, NestedListsIndented) {
  EXPECT_EQ(html_to_text("<ul><li>one<ul><li>one.a</li></ul></li><li>two</li></ul>"
                         "<ol><li>first</li></ol>"),
            "- one\n  - one.a\n- two\n- first");
}

TEST(HtmlToText, TablesAsRows) {
  EXPECT_EQ(html_to_text("<table><tr><th>Name</th><th>Owner</th></tr>"
                         "<tr><td>API</td><td>Ann</td></tr></table>"),
            "Name | Owner\nAPI | Ann");
}

TEST(HtmlToText, PreKeepsLinesAndIndentation) {
  EXPECT_EQ(html_to_text("<p>Run:</p><pre><code>if x:\n    y()\n\nz</code></pre><p>done</p>"),
            "Run:\nif x:\n    y()\nz\ndone");
}

TEST(HtmlToText, AccentsCjkEmojiPassThrough) {
  EXPECT_EQ(html_to_text("<p>Größe ändern — naïve façade</p><p>検索機能の改善</p><p>버그 수정 🚀👩‍💻</p>"),
            "Größe ändern — naïve façade\n検索機能の改善\n버그 수정 🚀👩‍💻");
}

TEST(HtmlToText, DeclaredCharsetIgnored) {
  // The input is UTF-8 whatever a <meta> says (Postgres hands text over in UTF-8).
  EXPECT_EQ(html_to_text("<meta charset=\"iso-8859-1\"><p>café 日本</p>"), "café 日本");
}

TEST(HtmlToText, EmptyAndPlainInputs) {
  EXPECT_EQ(html_to_text(""), "");
  EXPECT_EQ(html_to_text("   \n "), "");
  EXPECT_EQ(html_to_text("<p></p><p> </p>"), "");
  EXPECT_EQ(html_to_text("just text"), "just text");
  EXPECT_EQ(html_to_text("<"), "<");
  EXPECT_EQ(html_to_text("a < b > c"), "a < b > c");
  EXPECT_EQ(html_to_text("<!-- comment --><p>x</p><!-- <p>hidden</p> -->"), "x");
}

TEST(HtmlToText, BrokenMarkupRecovered) {
  EXPECT_EQ(html_to_text("<p>one<p>two<div>three</span></p><li>four"), "one\ntwo\nthree\n- four");
  EXPECT_EQ(html_to_text("<p title=\"unterminated>text</p>"), "");
  EXPECT_EQ(html_to_text("<p>a</p><p>b"), "a\nb");
}

TEST(HtmlToText, MalformedUtf8Replaced) {
  const std::string text = html_to_text(std::string("<p>bad \xFF\xFE bytes \xC3 é</p><p>after</p>"));
  EXPECT_TRUE(plane::utf8_valid(text));
  EXPECT_EQ(text, "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes \xEF\xBF\xBD é\nafter");
}

TEST(HtmlToText, NulBytesDoNotTruncate) {
  const std::string html("<p>a\0b</p><p>c</p>", 18);
  const std::string text = html_to_text(html);
  EXPECT_TRUE(plane::utf8_valid(text));
  EXPECT_NE(text.find('c'), std::string::npos);
}

TEST(HtmlToText, DeepNestingKeepsEverything) {
  // libxml2's tree builder stops at depth 256; the SAX layout has no such limit.
  std::string html;
  for (int i = 0; i < 100000; ++i) html += "<div><span>";
  html += "deep";
  for (int i = 0; i < 100000; ++i) html += "</span></div>";
  html += "<p>after</p>";
  EXPECT_EQ(html_to_text(html), "deep\nafter");
}

TEST(HtmlToText, HugeInput) {
  std::string html = "<p>start</p><img src=\"data:image/png;base64,";
  html.append(20u << 20, 'A');  // a pasted 20 MB image, as editors inline them
  html += "\"><p>";
  html.append(5u << 20, 'x');
  html += "</p><p>end</p>";
  const std::string text = html_to_text(html);
  EXPECT_EQ(text.substr(0, 6), "start\n");
  EXPECT_EQ(text.size(), 6u + (5u << 20) + 4u);
  EXPECT_EQ(text.substr(text.size() - 4), "\nend");
}

// --- chunks ---------------------------------------------------------------------------------

std::string words(int n, const std::string& word = "lorem") {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += word + std::to_string(i);
  }
  return s;
}

TEST(HtmlChunks, ShortDocumentIsOneChunkWithItsHeadings) {
  const auto chunks = html_chunks("<h1>Guide</h1><h2>Setup</h2><p>Install it.</p>");
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].heading_path, (std::vector<std::string>{"Guide", "Setup"}));
  EXPECT_EQ(chunks[0].content, "Guide\nSetup\nInstall it.");
}

TEST(HtmlChunks, EachSectionStartsAChunkWithItsPath) {
  const auto chunks = html_chunks(
      "<p>intro</p><h1>A</h1><p>a text</p><h2>A1</h2><p>a1 text</p><h2>A2</h2><p>a2</p>"
      "<h1>B</h1><p>b text</p>");
  ASSERT_EQ(chunks.size(), 5u);
  EXPECT_TRUE(chunks[0].heading_path.empty());
  EXPECT_EQ(chunks[0].content, "intro");
  EXPECT_EQ(chunks[1].heading_path, (std::vector<std::string>{"A"}));
  EXPECT_EQ(chunks[2].heading_path, (std::vector<std::string>{"A", "A1"}));
  EXPECT_EQ(chunks[2].content, "A1\na1 text");
  EXPECT_EQ(chunks[3].heading_path, (std::vector<std::string>{"A", "A2"}));
  EXPECT_EQ(chunks[4].heading_path, (std::vector<std::string>{"B"}));
}

TEST(HtmlChunks, LongSectionSplitWithOverlapWithinTarget) {
  std::string html = "<h2>Log</h2>";
  for (int p = 0; p < 30; ++p) {
    html += "<p>Sentence one of paragraph " + std::to_string(p) +
            " is here. Sentence two adds detail about the failure. Sentence three ends it.</p>";
  }
  const auto chunks = html_chunks(html, 300, 60);
  ASSERT_GT(chunks.size(), 5u);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_LE(plane::utf8_length(chunks[i].content), 300u);
    EXPECT_GT(plane::utf8_length(chunks[i].content), 100u);
    EXPECT_EQ(chunks[i].heading_path, (std::vector<std::string>{"Log"}));
    if (i > 0) {
      // The start of each chunk repeats the end of the previous one.
      const std::string head = chunks[i].content.substr(0, 20);
      EXPECT_NE(chunks[i - 1].content.find(head), std::string::npos) << head;
    }
  }
  // Nothing lost: every paragraph's first sentence is somewhere.
  for (int p = 0; p < 30; ++p) {
    const std::string s = "Sentence one of paragraph " + std::to_string(p) + " is here.";
    bool found = false;
    for (const auto& c : chunks) found = found || c.content.find(s) != std::string::npos;
    EXPECT_TRUE(found) << s;
  }
}

TEST(HtmlChunks, OneHugeParagraphCutAtWords) {
  const std::string text = words(2000);
  const auto chunks = html_chunks("<p>" + text + "</p>", 1000, 150);
  ASSERT_GT(chunks.size(), 10u);
  std::set<std::string> seen;
  for (const auto& c : chunks) {
    EXPECT_LE(plane::utf8_length(c.content), 1000u);
    EXPECT_GE(plane::utf8_length(c.content), 500u - 1);  // cut in the second half, or the tail
    std::istringstream in(c.content);
    std::string w;
    while (in >> w) {
      EXPECT_EQ(w.rfind("lorem", 0), 0u) << "a word was cut: " << w;
      seen.insert(w);
    }
  }
  EXPECT_EQ(seen.size(), 2000u);
}

TEST(HtmlChunks, CutParagraphContinuesAfterTheOverlapOnTheSameLine) {
  const auto chunks = html_chunks("<p>" + words(60) + "</p>", 200, 40);
  ASSERT_GE(chunks.size(), 2u);
  EXPECT_EQ(chunks[1].content.find('\n'), std::string::npos) << chunks[1].content;
}

TEST(HtmlChunks, CjkWithoutSpacesCutAtCodePoints) {
  std::string text;
  for (int i = 0; i < 3000; ++i) text += i % 7 == 6 ? "。" : "検";
  const auto chunks = html_chunks("<p>" + text + "</p>", 1000, 100);
  ASSERT_GE(chunks.size(), 3u);
  std::size_t total = 0;
  for (const auto& c : chunks) {
    EXPECT_TRUE(plane::utf8_valid(c.content));
    EXPECT_LE(plane::utf8_length(c.content), 1000u);
    total += plane::utf8_length(c.content);
  }
  EXPECT_GE(total, 3000u);
}

TEST(HtmlChunks, EmojiNeverSplit) {
  std::string text;
  for (int i = 0; i < 500; ++i) text += "🚀";
  for (std::size_t target : {7u, 10u, 33u, 100u}) {
    for (const auto& c : html_chunks("<p>" + text + "</p>", target, target / 2)) {
      EXPECT_TRUE(plane::utf8_valid(c.content));
      EXPECT_LE(plane::utf8_length(c.content), target);
    }
  }
}

TEST(HtmlChunks, EmptyDocumentHasNoChunks) {
  EXPECT_TRUE(html_chunks("").empty());
  EXPECT_TRUE(html_chunks("<p> </p><script>x</script>").empty());
}

TEST(HtmlChunks, ArgumentsChecked) {
  EXPECT_THROW(html_chunks("<p>x</p>", 0, 0), std::invalid_argument);
  EXPECT_THROW(html_chunks("<p>x</p>", 100, 51), std::invalid_argument);
  EXPECT_NO_THROW(html_chunks("<p>x</p>", 100, 50));
  EXPECT_NO_THROW(html_chunks("<p>" + words(100) + "</p>", 1, 0));
}

TEST(HtmlChunks, NoOverlapAcrossSections) {
  const auto chunks = html_chunks("<h1>A</h1><p>" + words(50, "alpha") + "</p><h1>B</h1><p>beta</p>",
                                  1000, 150);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[1].content, "B\nbeta");
}

// --- UTF-8 ---------------------------------------------------------------------

TEST(Utf8, LengthAdvanceFloor) {
  const std::string s = "aé検🚀";
  EXPECT_EQ(plane::utf8_length(s), 4u);
  EXPECT_EQ(plane::utf8_advance(s, 2), 3u);
  EXPECT_EQ(plane::utf8_advance(s, 9), s.size());
  EXPECT_EQ(plane::utf8_floor(s, 4), 3u);
  EXPECT_EQ(plane::utf8_floor(s, 7), 6u);
}

TEST(Utf8, ValidityAndSanitizing) {
  EXPECT_TRUE(plane::utf8_valid("plain é 検 🚀 \xEF\xBF\xBD"));
  EXPECT_FALSE(plane::utf8_valid("\xC0\xAF"));          // overlong "/"
  EXPECT_FALSE(plane::utf8_valid("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(plane::utf8_valid("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(plane::utf8_valid("\xE6\xA4"));          // truncated
  EXPECT_EQ(plane::utf8_sanitize("a\x80" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(plane::utf8_sanitize("ok"), "ok");
}

}  // namespace

// --- the layout memo --------------------------------------------------------------------------

#include "core/html_blocks_cache.hpp"

namespace {

TEST(HtmlBlocksCache, SecondLayoutOfTheSameHtmlIsRemembered) {
  plane::HtmlBlocksCache cache(4, 1 << 20, 1 << 10);
  const auto a = cache.blocks("<p>one</p><h2>two</h2>");
  const auto b = cache.blocks("<p>one</p><h2>two</h2>");
  EXPECT_EQ(a, b);  // the same object: not laid out again
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(plane::blocks_to_text(*b), "one\ntwo");
  EXPECT_EQ(plane::blocks_to_text(*cache.blocks("<p>other</p>")), "other");
  EXPECT_EQ(cache.hits(), 1u);
}

TEST(HtmlBlocksCache, BoundedByEntriesBytesAndDocumentSize) {
  plane::HtmlBlocksCache cache(3, 1 << 20, 64);
  for (int i = 0; i < 10; ++i) cache.blocks("<p>" + std::to_string(i) + "</p>");
  EXPECT_EQ(cache.size(), 3u);
  cache.blocks("<p>9</p>");
  EXPECT_EQ(cache.hits(), 1u);  // the newest stayed
  cache.blocks("<p>0</p>");
  EXPECT_EQ(cache.hits(), 1u);  // the oldest went
  const std::string big = "<p>" + std::string(100, 'x') + "</p>";
  cache.blocks(big);
  cache.blocks(big);
  EXPECT_EQ(cache.hits(), 1u);  // over max_document_bytes: never kept
  plane::HtmlBlocksCache small(100, 40, 1 << 10);
  for (int i = 0; i < 10; ++i) small.blocks("<p>" + std::to_string(i) + "</p>");  // 2 × 8 bytes each
  EXPECT_LE(small.size(), 2u);
}

}  // namespace
