#include "runtime/generate_command.h"

#include <algorithm>

#include "runtime/chat_template.h"
#include "runtime/spec_generate.h"
#include "runtime/text_stream.h"

namespace edgerag {

namespace {

// The speculative path: one request through the scheduler (stop strings and
// streaming as in Generator; the end-of-generation token is not in `tokens`).
GenerationResult generate_speculative(const Model& model, const Tokenizer& tok, ThreadPool* pool,
                                      const std::vector<int32_t>& ids, const GenerateOptions& opts,
                                      const std::function<void(std::string_view)>& on_text) {
  const int32_t n_ctx = opts.n_ctx > 0 ? opts.n_ctx : std::min(model.hparams().n_ctx_train, Generator::kDefaultMaxCtx);
  SpecEngine engine(model, tok, pool, n_ctx, opts.spec, opts.kv_type);
  TextStream stream(opts.gen.stop);
  auto run = engine.generate(ids, opts.gen.max_tokens, opts.gen.sampling, opts.spec, opts.gen.stop_at_eog,
                             [&](int32_t t) {
                               const std::string text = tok.is_control(t) ? std::string() : stream.push(tok.token_to_piece(t));
                               if (on_text && !text.empty()) on_text(text);
                               return !stream.stopped();
                             });
  if (const std::string tail = stream.flush(); on_text && !tail.empty()) on_text(tail);
  GenerationResult res;
  res.prompt_ids = ids;
  res.tokens = std::move(run.tokens);
  res.text = stream.text();
  const GenResult& g = run.result;
  res.stop_reason = stream.stopped() ? "stop" : g.reason == FinishReason::Length ? "length" : "eog";
  res.n_drafted = g.n_drafted;
  res.n_accepted = g.n_accepted;
  auto& t = res.timings;
  t.n_prompt = static_cast<int32_t>(ids.size());
  t.prompt_ms = t.ttft_ms = g.ttft_ms;  // prefill and the first sample are one scheduler step
  t.decode_ms = g.total_ms - g.ttft_ms;
  t.n_decode = std::max(0, g.n_generated - 1);  // tokens decoded after the first (fewer forwards)
  t.prefill_tok_s = t.prompt_ms > 0 ? t.n_prompt * 1000.0 / t.prompt_ms : 0;
  t.decode_tok_s = t.decode_ms > 0 ? t.n_decode * 1000.0 / t.decode_ms : 0;
  return res;
}

}  // namespace

GenerationResult run_generate(const GenerateOptions& opts, const std::function<void(std::string_view)>& on_text) {
  auto model = Model::load(opts.model_path);
  auto tok = Tokenizer::from_gguf(model->gguf());
  std::vector<int32_t> ids;
  if (opts.chat) {
    std::vector<ChatMessage> msgs;
    if (!opts.system.empty()) msgs.push_back({"system", opts.system});
    msgs.push_back({"user", opts.prompt});
    ids = tok->encode_parts(render_chat(detect_chat_format(model->gguf()), msgs), true);
  } else {
    ids = tok->encode(opts.prompt, true, false);
  }
  ThreadPool pool(opts.threads > 0 ? opts.threads : default_thread_count());
  if (opts.spec.mode != SpecMode::Off) return generate_speculative(*model, *tok, &pool, ids, opts, on_text);
  Generator gen(*model, *tok, &pool, opts.n_ctx, opts.kv_type);
  TokenCallback cb;
  if (on_text) cb = [&](int32_t, std::string_view text) {
      if (!text.empty()) on_text(text);
      return true;
    };
  return gen.generate_ids(ids, opts.gen, cb);
}

nlohmann::json generation_to_json(const GenerationResult& r) {
  const auto& t = r.timings;
  return {{"tokens", r.tokens},
          {"text", r.text},
          {"prompt_tokens", r.prompt_ids.size()},
          {"prompt_ids", r.prompt_ids},
          {"stop_reason", r.stop_reason},
          {"timings",
           {{"prompt_ms", t.prompt_ms},
            {"ttft_ms", t.ttft_ms},
            {"decode_ms", t.decode_ms},
            {"prefill_tok_s", t.prefill_tok_s},
            {"decode_tok_s", t.decode_tok_s},
            {"n_prompt", t.n_prompt},
            {"n_decode", t.n_decode}}},
          {"drafted", r.n_drafted},
          {"accepted", r.n_accepted},
          {"acceptance_rate", r.n_drafted ? static_cast<double>(r.n_accepted) / r.n_drafted : 0.0}};
}

}  // namespace edgerag
