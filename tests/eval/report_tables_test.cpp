#include "eval/report_tables.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace edgerag;

namespace {

QuantReportRow row(const std::string& name, const std::string& method, const std::string& set) {
  QuantReportRow r;
  r.name = name, r.method = method, r.calib_set = set, r.main_type = "Q4_0", r.energy_method = "tdp-estimate (35 W)";
  r.ppl = std::exp(2.0), r.decode_tok_s = 250, r.energy_j_per_token = 0.5;
  r.batch_tok_s = {{2, 100}, {4, 300}};
  r.optimal_batch = 4;
  return r;
}

const StudyCell& cell(const StudyTable& t, size_t r, const std::string& column) {
  for (size_t c = 0; c < t.columns.size(); ++c)
    if (t.columns[c] == column) return t.rows.at(r).cells.at(c);
  throw std::runtime_error("no column " + column);
}

}  // namespace

TEST(ReportTables, TwentyEightNumberedTablesWithExplainedBlanks) {
  QuantReportOptions opt;
  opt.batches = {2, 4};  // no batch 1: no scaling efficiency
  QuantReport rep;       // no --qa, --mc, --roofline, --price-kwh
  rep.rows = {row("base", "none", ""), row("rtn-4b", "rtn", ""), row("gptq-4b@wiki", "gptq", "wiki"),
              row("gptq-4b@rag", "gptq", "rag")};
  const auto tables = study_tables(opt, rep);
  ASSERT_EQ(tables.size(), 28u);
  for (size_t i = 0; i < tables.size(); ++i) {
    const StudyTable& t = tables[i];
    EXPECT_EQ(t.number, static_cast<int>(i) + 1);
    for (const auto& r : t.rows) {
      ASSERT_EQ(r.cells.size(), t.columns.size()) << t.title;
      ASSERT_EQ(r.labels.size(), t.labels.size()) << t.title;
      for (const auto& c : r.cells) {
        const bool explained = c.value || (c.text.rfind("n/a (", 0) == 0 && c.text.back() == ')');
        EXPECT_TRUE(explained) << t.title << ": " << c.text;
      }
    }
  }
  // Tables 1-14: the uncalibrated variants and the first calibration set; 15-28: the
  // base and every calibrated variant, labelled with its set.
  const StudyTable& ppl = tables[5];
  EXPECT_EQ(ppl.title, "Perplexity");
  ASSERT_EQ(ppl.rows.size(), 3u);
  EXPECT_EQ(ppl.rows[2].labels[0], "gptq-4b@wiki");
  EXPECT_EQ(cell(ppl, 0, "loss (nats)").text, "2.0000");  // ln e^2
  const StudyTable& twin = tables[19];
  EXPECT_EQ(twin.title, "Perplexity: calibration-set comparison");
  ASSERT_EQ(twin.rows.size(), 3u);
  EXPECT_EQ(twin.labels, (std::vector<std::string>{"model", "calibration set"}));
  EXPECT_EQ(twin.rows[0].labels, (std::vector<std::string>{"base", "none"}));
  EXPECT_EQ(twin.rows[2].labels, (std::vector<std::string>{"gptq-4b@rag", "rag"}));
  // Missing inputs are explained in the cell.
  EXPECT_EQ(cell(tables[0], 0, "ms/token").text, "4.000");
  EXPECT_EQ(cell(tables[2], 1, "decode MFU %").text, "n/a (no --roofline)");
  EXPECT_EQ(cell(tables[3], 0, "optimal batch").text, "4");
  EXPECT_EQ(cell(tables[3], 0, "scaling efficiency").text, "n/a (batch 1 not measured)");
  EXPECT_EQ(cell(tables[4], 0, "tokens/J").text, "2.00");
  EXPECT_EQ(cell(tables[4], 0, "$/1M tokens").text, "n/a (no --price-kwh)");
  EXPECT_EQ(cell(tables[7], 0, "acc").text, "n/a (no --mc-knowledge file)");
  EXPECT_EQ(cell(tables[8], 0, "F1").text, "n/a (no --qa file)");
  EXPECT_EQ(tables[9].rows[0].labels, (std::vector<std::string>{"base", "-"}));
  EXPECT_EQ(cell(tables[9], 0, "Gini").text, "n/a (no --qa file)");
  EXPECT_EQ(cell(tables[11], 0, "F1 @2048").text, "n/a (no --qa file)");  // the study's lengths by default
  const std::string md = table_markdown(tables[16]);
  EXPECT_EQ(md.rfind("## Table 17: Throughput: calibration-set comparison\n", 0), 0u);
  EXPECT_NE(md.find("| gptq-4b@rag | rag | 0 | 250 | n/a (no --roofline) | n/a (no --roofline) |"), std::string::npos);
  EXPECT_EQ(table_csv(tables[5]).rfind("model,PPL,± (stderr),loss (nats),ΔPPL %,tokens scored\nbase,", 0), 0u);
  const auto j = table_json(tables[5]);
  EXPECT_EQ(j["number"], 6);
  EXPECT_DOUBLE_EQ(j["rows"][0]["cells"][2].get<double>(), 2.0);
}
