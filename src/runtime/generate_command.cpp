#include "runtime/generate_command.h"

#include <algorithm>

#include "runtime/chat_template.h"
#include "runtime/spec_generate.h"

namespace edgerag {

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
  if (opts.spec.mode != SpecMode::Off) {
    const int32_t n_ctx = opts.n_ctx > 0 ? opts.n_ctx : std::min(model->hparams().n_ctx_train, Generator::kDefaultMaxCtx);
    return SpecEngine(*model, *tok, &pool, n_ctx, opts.spec, opts.kv_type).generate_text(ids, opts.gen, opts.spec, on_text);
  }
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
