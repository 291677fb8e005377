// The quantization study's tables 1-28, numbered as in "Comprehensive Evaluation
// of Quantization Methods for Edge LLM Deployment with RAG Focus": fourteen
// measurements (tables 1-14: every method, calibrated ones on the first
// calibration set) and their calibration-set comparison twins (tables 15-28: the
// base model and every calibrated variant on every set). Each cell is a number or
// an explained blank ("n/a (why)"), never an empty string.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/report_quant.h"

namespace edgerag {

struct StudyCell {
  std::optional<double> value;  // empty: a blank, `text` says why
  std::string text;             // the number as printed, or "n/a (why)"
};

struct StudyTable {
  int number = 0;
  std::string title, note;           // note: what the table measures, as printed under its title
  std::vector<std::string> labels;   // label columns (model, calibration set, context length)
  std::vector<std::string> columns;  // value columns
  struct Row {
    std::vector<std::string> labels;
    std::vector<StudyCell> cells;
  };
  std::vector<Row> rows;
};

// The number of tables in the study.
inline constexpr int kStudyTables = 28;

std::vector<StudyTable> study_tables(const QuantReportOptions& opt, const QuantReport& rep);

std::string table_markdown(const StudyTable& t);
std::string table_csv(const StudyTable& t);
// {"number", "title", "note", "labels", "columns", "rows": [{"labels", "cells"}]}: a
// cell is a JSON number or its "n/a (why)" string.
nlohmann::json table_json(const StudyTable& t);

}  // namespace edgerag
