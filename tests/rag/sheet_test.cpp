// Spreadsheet readers (rag/reader_sheet.h): xlsx and ods built here with libzip,
// read as rows with sheet/row provenance; formulas as cached values, hidden
// sheets skipped, limits enforced; ingest gives chunks with the header and
// "sheet, rows a-b".
#include <gtest/gtest.h>

#include "fixtures.h"
#include "rag/chunker.h"
#include "rag/index.h"
#include "rag/reader.h"
#include "rag/reader_sheet.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

using test::make_zip;

constexpr const char* kSheetNs = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
constexpr const char* kRelNs = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

// A workbook of (name, state, sheetData rows XML) sheets plus shared strings.
std::string make_xlsx(const std::vector<std::tuple<std::string, std::string, std::string>>& sheets,
                      const std::vector<std::string>& shared) {
  std::string wb = fmt::format("<workbook xmlns=\"{}\" xmlns:r=\"{}\"><sheets>", kSheetNs, kRelNs);
  std::string rels = "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">";
  std::vector<std::pair<std::string, std::string>> parts;
  for (size_t i = 0; i < sheets.size(); ++i) {
    const auto& [name, state, rows] = sheets[i];
    wb += fmt::format("<sheet name=\"{}\" sheetId=\"{}\" {} r:id=\"rId{}\"/>", name, i + 1,
                      state.empty() ? "" : "state=\"" + state + "\"", i + 1);
    rels += fmt::format("<Relationship Id=\"rId{}\" Type=\"{}/worksheet\" Target=\"worksheets/sheet{}.xml\"/>", i + 1,
                        kRelNs, i + 1);
    parts.emplace_back(fmt::format("xl/worksheets/sheet{}.xml", i + 1),
                       fmt::format("<worksheet xmlns=\"{}\"><sheetData>{}</sheetData></worksheet>", kSheetNs, rows));
  }
  wb += "</sheets></workbook>";
  rels += "</Relationships>";
  std::string sst = fmt::format("<sst xmlns=\"{}\">", kSheetNs);
  for (const auto& s : shared) sst += "<si><t>" + s + "</t></si>";
  sst += "</sst>";
  parts.emplace_back("xl/workbook.xml", wb);
  parts.emplace_back("xl/_rels/workbook.xml.rels", rels);
  parts.emplace_back("xl/sharedStrings.xml", sst);
  return make_zip(parts);
}

constexpr const char* kOdsHead =
    "<office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" "
    "xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" "
    "xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" "
    "xmlns:style=\"urn:oasis:names:tc:opendocument:xmlns:style:1.0\">";

std::string make_ods(const std::string& styles, const std::string& tables) {
  return make_zip({{"mimetype", "application/vnd.oasis.opendocument.spreadsheet"},
                   {"content.xml", std::string(kOdsHead) + "<office:automatic-styles>" + styles +
                                       "</office:automatic-styles><office:body><office:spreadsheet>" + tables +
                                       "</office:spreadsheet></office:body></office:document-content>"}});
}

std::string ods_cell(const std::string& text, int repeat = 1) {
  return fmt::format("<table:table-cell table:number-columns-repeated=\"{}\"><text:p>{}</text:p></table:table-cell>",
                     repeat, text);
}

struct Row {
  std::string sheet, text;
  int64_t row;
  bool operator==(const Row&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Row& r) { return os << r.sheet << "#" << r.row << ": " << r.text; }

std::vector<Row> rows(const ParsedDocument& d) {
  std::vector<Row> out;
  for (const Block& b : d.blocks) out.push_back({b.headings, b.text, b.row});
  return out;
}

TEST(SheetReader, XlsxRowsWithSharedStringsFormulasAndHiddenSheets) {
  const std::string sales =
      "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c><c r=\"C1\" t=\"s\"><v>2</v></c></row>"
      "<row r=\"2\"><c r=\"A2\" t=\"s\"><v>3</v></c><c r=\"B2\"><v>12.5</v></c>"
      "<c r=\"C2\"><f>B2*2</f><v>25</v></c></row>"
      "<row r=\"4\"><c r=\"A4\" t=\"inlineStr\"><is><t>Widget</t></is></c><c r=\"C4\" t=\"b\"><v>1</v></c></row>"
      "<row r=\"5\"><c r=\"A5\"/></row>"  // empty row: skipped
      "<row r=\"6\"><c r=\"B6\" t=\"str\"><f>CONCAT(\"a\",\"b\")</f><v>ab</v></c><c r=\"C6\" t=\"e\"><v>#DIV/0!</v></c></row>";
  const std::string secret = "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>salary</t></is></c></row>";
  const std::string notes = "<row r=\"3\"><c r=\"B3\" t=\"inlineStr\"><is><t>Note</t></is></c></row>"
                            "<row r=\"7\"><c r=\"B7\" t=\"inlineStr\"><is><t>Ships &amp; boats</t></is></c></row>";
  const std::string bytes = make_xlsx({{"Sales", "", sales}, {"Secret", "hidden", secret}, {"Notes", "", notes}},
                                      {"Item", "Price", "Double", "Gadget"});
  const ParsedDocument d = read_xlsx(bytes);
  EXPECT_TRUE(d.tabular);
  EXPECT_EQ(d.table_headers.at("Sales"), "Item, Price, Double");
  EXPECT_EQ(d.table_headers.at("Notes"), ", Note");
  EXPECT_FALSE(d.table_headers.count("Secret"));
  EXPECT_EQ(rows(d), (std::vector<Row>{{"Sales", "Gadget, 12.5, 25", 2},
                                      {"Sales", "Widget, , TRUE", 4},
                                      {"Sales", ", ab, #DIV/0!", 6},
                                      {"Notes", ", Ships & boats", 7}}));
  EXPECT_EQ(d.notes, std::vector<std::string>{"hidden sheet 'Secret' skipped"});
}

TEST(SheetReader, OdsRowsWithRepeatsAndHiddenTables) {
  const std::string styles =
      "<style:style style:name=\"ta1\" style:family=\"table\"><style:table-properties table:display=\"true\"/>"
      "</style:style><style:style style:name=\"ta2\" style:family=\"table\">"
      "<style:table-properties table:display=\"false\"/></style:style>";
  const std::string tables =
      "<table:table table:name=\"Inventory\" table:style-name=\"ta1\">"
      "<table:table-row>" + ods_cell("Part") + ods_cell("Count") + "</table:table-row>"
      "<table:table-row table:number-rows-repeated=\"3\"><table:table-cell table:number-columns-repeated=\"1024\"/>"
      "</table:table-row>"  // three empty rows: counted, not emitted
      "<table:table-row>" + ods_cell("Bolt") + "<table:table-cell table:formula=\"of:=2*3\" office:value-type=\"float\" "
      "office:value=\"6\"><text:p>6</text:p></table:table-cell></table:table-row>"
      "<table:table-row table:number-rows-repeated=\"2\">" + ods_cell("Nut<text:s text:c=\"2\"/>M3") +
      ods_cell("x", 2) + "<table:table-cell table:number-columns-repeated=\"16000\"/></table:table-row>"
      "<table:table-row table:number-rows-repeated=\"1048000\"><table:table-cell/></table:table-row>"
      "</table:table>"
      "<table:table table:name=\"Hidden\" table:style-name=\"ta2\"><table:table-row>" + ods_cell("secret") +
      "</table:table-row></table:table>";
  const ParsedDocument d = read_ods(make_ods(styles, tables));
  EXPECT_EQ(d.table_headers.at("Inventory"), "Part, Count");
  EXPECT_EQ(rows(d), (std::vector<Row>{{"Inventory", "Bolt, 6", 5},
                                      {"Inventory", "Nut  M3, x, x", 6},
                                      {"Inventory", "Nut  M3, x, x", 7}}));
  EXPECT_EQ(d.notes, std::vector<std::string>{"hidden sheet 'Hidden' skipped"});
}

TEST(SheetReader, LimitsAndBrokenFilesAreErrors) {
  std::string many;
  for (int r = 1; r <= 20; ++r) many += fmt::format("<row r=\"{}\"><c r=\"A{}\"><v>{}</v></c></row>", r, r, r);
  const std::string book = make_xlsx({{"S", "", many}}, {});
  EXPECT_EQ(read_xlsx(book).blocks.size(), 19u);
  EXPECT_THROW(read_xlsx(book, {.rows = 10}), Error);
  EXPECT_THROW(read_xlsx(book, {.cells = 5}), Error);
  EXPECT_THROW(read_xlsx(book, {.unzipped_bytes = 200}), Error);  // decompressed bytes counted while streaming
  EXPECT_THROW(read_xlsx(make_xlsx({{"S", "", "<row r=\"1\"><c r=\"XFE1\"><v>1</v></c></row>"}}, {})), Error);
  EXPECT_THROW(read_xlsx(make_xlsx({{"S", "", "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>7</v></c></row>"}}, {})), Error);
  EXPECT_THROW(read_xlsx(make_xlsx({{"S", "", "<row><c><v>1</c></row>"}}, {})), Error);  // malformed XML
  EXPECT_THROW(read_xlsx("not a zip"), Error);
  EXPECT_THROW(read_xlsx(make_zip({{"xl/workbook.xml", "<workbook/>"}})), Error);  // no relationships
  // A repeated non-empty row is expanded only up to the row limit.
  const std::string repeated = "<table:table table:name=\"T\"><table:table-row>" + ods_cell("h") +
                               "</table:table-row><table:table-row table:number-rows-repeated=\"1000000000\">" +
                               ods_cell("v") + "</table:table-row></table:table>";
  EXPECT_THROW(read_ods(make_ods("", repeated), {.rows = 1000}), Error);
  EXPECT_THROW(read_ods(make_ods("", "<table:table table:name=\"T\"><table:table-row>" + ods_cell("v", 20000) +
                                         "</table:table-row></table:table>")),
               Error);
  EXPECT_THROW(read_ods(make_zip({{"content.xml", "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>"}})), Error);
  try {
    read_document("old.xls", "\xD0\xCF\x11\xE0", {});
    ADD_FAILURE() << "xls must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(".xlsx"), std::string::npos) << e.what();
  }
}

TEST(SheetReader, ChunksRepeatTheSheetHeaderAndStayInsideOneSheet) {
  std::string a = "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>city</t></is></c>"
                  "<c r=\"B1\" t=\"inlineStr\"><is><t>population</t></is></c></row>";
  for (int r = 2; r <= 9; ++r)
    a += fmt::format("<row r=\"{0}\"><c r=\"A{0}\" t=\"inlineStr\"><is><t>town{0}</t></is></c><c r=\"B{0}\"><v>{0}000</v>"
                     "</c></row>",
                     r);
  const std::string b = "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>river</t></is></c></row>"
                        "<row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>Kamo</t></is></c></row>";
  test::TempDir t;
  test::write_file(t / "docs/book.xlsx", make_xlsx({{"Towns", "", a}, {"Rivers", "", b}}, {}));
  IndexOptions o;
  o.writable = true;
  auto idx = Index::open(t / "idx", o);
  IngestOptions ing;
  ing.chunk.max_tokens = 12;  // words: a header and about four rows per chunk
  idx->ingest({t / "docs"}, ing);
  SearchOptions so;
  so.mode = SearchMode::Bm25;
  so.k = 10;
  const auto town7 = idx->search("town7", so).hits.at(0);
  EXPECT_EQ(town7.provenance.headings, "Towns");
  EXPECT_LE(town7.provenance.row_begin, 7);
  EXPECT_GE(town7.provenance.row_end, 7);
  EXPECT_EQ(town7.text.rfind("city, population\n", 0), 0u) << town7.text;
  const auto kamo = idx->search("kamo", so).hits.at(0);
  EXPECT_EQ(kamo.provenance.headings, "Rivers");
  EXPECT_EQ(kamo.provenance.row_begin, 2);
  EXPECT_EQ(kamo.provenance.row_end, 2);
  EXPECT_EQ(kamo.text, "river\nKamo");
}

}  // namespace
}  // namespace edgerag::rag
