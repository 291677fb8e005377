# Checks the files of `edgerag report quant ... --qa tests/eval/data/qa_tiny_squad.json
# --qa-limit 3 -o REPORT_DIR`: every row of the JSON has perplexity and QA scores,
# the base row's scores equal the ones worked out by hand below, every row's
# change is its score minus the base's, every row has the --mc scores of
# tests/eval/data/mc_tiny.jsonl (1-shot) and $/1M tokens = J/token / 3.6 x 0.30
# (--price-kwh 0.30), and the Markdown and CSV carry those columns. Run: cmake -DREPORT_DIR=DIR -P this file.
#
# The base model (stories260K F32, greedy, as llama.cpp) answers the three
# questions with the first lines ' "It's a small ball!"', ' "Hello, Max! What are'
# and ' Can you help me?"'. SQuAD normalization (lower case, no punctuation, no
# articles) gives the token lists below; F1 = 2PR / (P + R) over shared tokens:
#   q1 [its small ball] vs "a big red ball" [big red ball]: 1 shared, P 1/3, R 1/3, F1 1/3, EM 0
#   q2 [hello max what are] vs "Max" [max]: 1 shared, P 1/4, R 1, F1 0.4, EM 0
#   q3 [can you help me] vs "Can you help me?": EM 1, F1 1
# Means: EM 1/3 = 0.333333, F1 (1/3 + 0.4 + 1) / 3 = 0.577778.
set(expected_em 333333)
set(expected_f1 577778)

# A JSON number in [-2, 2] as an integer number of millionths (truncated), since
# CMake's math() has no floating point.
function(to_micro value out)
  if(value MATCHES "e-")
    set(${out} 0 PARENT_SCOPE)  # |x| < 1e-4: float rounding of a zero difference
    return()
  endif()
  if(NOT value MATCHES "^(-?)([0-9]+)(\\.([0-9]*))?$")
    message(FATAL_ERROR "not a plain number: ${value}")
  endif()
  set(sign "${CMAKE_MATCH_1}")
  set(int "${CMAKE_MATCH_2}")
  string(SUBSTRING "${CMAKE_MATCH_4}000000" 0 6 frac)
  # Leading zeros off one at a time (REGEX REPLACE re-anchors ^ after each match: 020817 -> 2817).
  while(frac MATCHES "^0[0-9]")
    string(SUBSTRING "${frac}" 1 -1 frac)
  endwhile()
  math(EXPR micro "${int} * 1000000 + ${frac}")
  if(sign STREQUAL "-")
    math(EXPR micro "-${micro}")
  endif()
  set(${out} ${micro} PARENT_SCOPE)
endfunction()

function(expect_micro name got want)
  math(EXPR diff "${got} - (${want})")
  if(diff GREATER 2 OR diff LESS -2)
    message(FATAL_ERROR "${name}: ${got} millionths, expected ${want}")
  endif()
endfunction()

file(READ "${REPORT_DIR}/quant_report.json" json)
string(JSON n_rows LENGTH "${json}" rows)
if(n_rows LESS 7)
  message(FATAL_ERROR "expected base + 6 methods, got ${n_rows} rows")
endif()
string(JSON qa_limit GET "${json}" qa limit)
string(JSON base_em GET "${json}" rows 0 qa em)
string(JSON base_f1 GET "${json}" rows 0 qa f1)
to_micro(${base_em} base_em)
to_micro(${base_f1} base_f1)
expect_micro("base qa.em" ${base_em} ${expected_em})
expect_micro("base qa.f1" ${base_f1} ${expected_f1})
math(EXPR last "${n_rows} - 1")
foreach(i RANGE ${last})
  string(JSON name GET "${json}" rows ${i} model)
  string(JSON ppl GET "${json}" rows ${i} ppl)
  foreach(field em f1)
    string(JSON value GET "${json}" rows ${i} qa ${field})
    string(JSON change GET "${json}" rows ${i} qa ${field}_change)
    to_micro(${value} value)
    to_micro(${change} change)
    if(value LESS 0 OR value GREATER 1000000)
      message(FATAL_ERROR "${name}: qa.${field} = ${value} millionths")
    endif()
    expect_micro("${name}: qa.${field}_change" ${change} "${value} - ${base_${field}}")
  endforeach()
  string(JSON n GET "${json}" rows ${i} qa n)
  string(JSON skipped GET "${json}" rows ${i} qa skipped)
  math(EXPR total "${n} + ${skipped}")
  if(NOT total EQUAL qa_limit OR NOT n EQUAL 3)
    message(FATAL_ERROR "${name}: ${n} answered + ${skipped} too long, expected all ${qa_limit} answered")
  endif()
  if(ppl LESS_EQUAL 1)
    message(FATAL_ERROR "${name}: perplexity ${ppl}")
  endif()
  # --mc tests/eval/data/mc_tiny.jsonl --mc-fewshot 1: 3 multiple-choice items and 1 GSM8K item scored.
  string(JSON mc_n GET "${json}" rows ${i} mc n)
  string(JSON mc_gen_n GET "${json}" rows ${i} mc gen_n)
  string(JSON mc_acc GET "${json}" rows ${i} mc acc)
  if(NOT mc_n EQUAL 3 OR NOT mc_gen_n EQUAL 1 OR mc_acc LESS 0 OR mc_acc GREATER 1)
    message(FATAL_ERROR "${name}: mc n ${mc_n}, gen_n ${mc_gen_n}, acc ${mc_acc}")
  endif()
  # --price-kwh 0.30: $/1M tokens = J/token / 3.6 x 0.30.
  string(JSON jpt GET "${json}" rows ${i} energy_j_per_token)
  string(JSON usd GET "${json}" rows ${i} usd_per_1m_tokens)
  to_micro(${jpt} jpt)
  to_micro(${usd} usd)
  expect_micro("${name}: usd_per_1m_tokens" ${usd} "${jpt} * 3 / 36")
  # Batch scaling: the optimal batch has the highest tok/s; efficiency = tok/s(B) / (B x tok/s(1)).
  string(JSON opt_b GET "${json}" rows ${i} optimal_batch)
  string(JSON eff GET "${json}" rows ${i} scaling_efficiency)
  string(JSON at GET "${json}" rows ${i} batch_tok_s ${opt_b})
  string(JSON one GET "${json}" rows ${i} batch_tok_s 1)
  foreach(b 1 2 4 8)
    string(JSON v GET "${json}" rows ${i} batch_tok_s ${b})
    if(v GREATER at)
      message(FATAL_ERROR "${name}: batch ${b} (${v} tok/s) beats the optimal batch ${opt_b} (${at})")
    endif()
  endforeach()
  # eff x B x tok/s(1) = tok/s(B), within 0.1%.
  to_micro(${at} at_micro)
  to_micro(${one} one_micro)
  to_micro(${eff} eff_micro)
  math(EXPR want "${at_micro} * 1000000 / (${opt_b} * ${one_micro})")
  math(EXPR diff "${eff_micro} - ${want}")
  if(diff GREATER 1000 OR diff LESS -1000)
    message(FATAL_ERROR "${name}: scaling efficiency ${eff}, expected ${at} / (${opt_b} x ${one})")
  endif()
  # --roofline: decode MFU in (0, 1].
  string(JSON mfu GET "${json}" rows ${i} mfu_decode)
  if(NOT mfu GREATER 0 OR mfu GREATER 1)
    message(FATAL_ERROR "${name}: mfu_decode ${mfu}")
  endif()
endforeach()
file(READ "${REPORT_DIR}/quant_report.md" md)
string(FIND "${md}" "| model | EM | ΔEM | F1 | ΔF1 |" at)
if(at LESS 0)
  message(FATAL_ERROR "quant_report.md has no QA table")
endif()
file(STRINGS "${REPORT_DIR}/quant_report.csv" header LIMIT_COUNT 1)
if(NOT header MATCHES ",qa_em,qa_f1,qa_em_change,qa_f1_change,qa_n,qa_skipped,mc_acc,mc_acc_norm,mc_n,mc_em_strict,mc_em_flexible,mc_gen_n,mc_skipped,usd_per_1m_tokens,mfu_prefill,mfu_decode$")
  message(FATAL_ERROR "quant_report.csv header lacks the QA / MC / cost columns: ${header}")
endif()
# --qa-context-tokens 256,4096 --qa-attention: a column per length, the fit and the attention table
# (the 3-question file has too few distractors to reach 4096 tokens: padding stops when they run out).
foreach(needle "## Context length" "| model | F1 @256 | F1 @4096 | slope/1K |" "## Attention" "| base | 256 | ")
  string(FIND "${md}" "${needle}" at)
  if(at LESS 0)
    message(FATAL_ERROR "quant_report.md lacks '${needle}'")
  endif()
endforeach()
string(JSON n256 GET "${json}" rows 0 qa_context lengths 0 n)
if(NOT n256 EQUAL 3)
  message(FATAL_ERROR "qa_context: ${n256} answered at 256 tokens (expected 3)")
endif()
string(FIND "${md}" "| model | acc | acc_norm | MC items |" at)
if(at LESS 0)
  message(FATAL_ERROR "quant_report.md has no reasoning / knowledge table")
endif()
message(STATUS "${n_rows} rows with perplexity, QA, MC and cost; base EM ${base_em}, F1 ${base_f1} millionths as worked out")
