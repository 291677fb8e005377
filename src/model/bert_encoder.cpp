#include "model/bert_encoder.h"

#include <algorithm>
#include <cctype>

#include "util/deadline.h"
#include "util/error.h"

namespace edgerag {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

RolePrefixes role_prefixes(const GgufFile& f) {
  const std::string name = lower(f.get_string("general.name") + " " + f.path());
  if (name.find("e5") != std::string::npos) return {"query: ", "passage: "};
  if (name.find("bge") != std::string::npos && name.find("-en") != std::string::npos)
    return {"Represent this sentence for searching relevant passages: ", ""};
  return {};
}

Encoder::~Encoder() = default;

std::unique_ptr<Encoder> Encoder::load(const std::string& path, EncoderOptions opts) {
  EDGERAG_CHECK(opts.batch_size > 0, "encoder batch size must be positive (got {})", opts.batch_size);
  std::unique_ptr<Encoder> e(new Encoder());
  e->model_ = BertModel::load(path, opts.compute);
  e->tok_ = Tokenizer::from_gguf(e->model_->gguf());
  EDGERAG_CHECK(e->tok_->n_vocab() <= e->model_->hparams().n_vocab,
                "{}: tokenizer has {} tokens but the embedding only {}", path, e->tok_->n_vocab(),
                e->model_->hparams().n_vocab);
  const RolePrefixes auto_prefixes = role_prefixes(e->model_->gguf());
  e->query_prefix_ = opts.query_prefix == "auto" ? auto_prefixes.query : opts.query_prefix;
  e->passage_prefix_ = opts.passage_prefix == "auto" ? auto_prefixes.passage : opts.passage_prefix;
  e->pool_ = std::make_unique<ThreadPool>(opts.n_threads > 0 ? opts.n_threads : default_thread_count());
  e->opts_ = std::move(opts);
  return e;
}

int Encoder::dim() const { return static_cast<int>(model_->hparams().n_embd); }
bool Encoder::is_reranker() const { return model_->hparams().pooling == Pooling::Rank; }
int Encoder::max_tokens() const { return static_cast<int>(model_->hparams().n_ctx); }

std::vector<int32_t> Encoder::tokenize(const std::string& text, TextRole role) const {
  const std::string& prefix = role == TextRole::Query ? query_prefix_ : role == TextRole::Passage ? passage_prefix_ : "";
  std::vector<int32_t> ids = tok_->encode(prefix + text, /*add_special=*/true, /*parse_special=*/false);
  // Truncate like sentence-transformers: keep the head of the text and the final [SEP].
  if (static_cast<int>(ids.size()) > max_tokens()) {
    const int32_t last = ids.back();
    ids.resize(max_tokens());
    ids.back() = last;
  }
  return ids;
}

BertInput Encoder::pair_input(const std::string& query, const std::string& doc) const {
  BertInput in;
  in.ids = tok_->encode_pair(query, doc, &in.type_ids);
  if (static_cast<int>(in.ids.size()) > max_tokens()) {  // cut the document, keep its closing [SEP]
    const int32_t last = in.ids.back();
    in.ids.resize(max_tokens());
    in.type_ids.resize(max_tokens());
    in.ids.back() = last;
  }
  if (opts_.token_type_zero) std::fill(in.type_ids.begin(), in.type_ids.end(), 0);
  return in;
}

std::vector<std::vector<float>> Encoder::run(const std::vector<BertInput>& inputs) const {
  std::vector<std::vector<float>> out;
  out.reserve(inputs.size());
  // A pass holds at most batch_size inputs and, past the first input, at most
  // kMaxPassTokens tokens: activations grow with the packed length, and
  // long-context models (ModernBERT, 8,192 tokens) would otherwise pack
  // batch_size full-length inputs into one pass.
  constexpr size_t kMaxPassTokens = 16384;
  for (size_t b = 0; b < inputs.size();) {
    size_t e = b, tokens = 0;
    while (e < inputs.size() && e - b < static_cast<size_t>(opts_.batch_size) &&
           (e == b || tokens + inputs[e].ids.size() <= kMaxPassTokens))
      tokens += inputs[e++].ids.size();
    const std::vector<BertInput> batch(inputs.begin() + b, inputs.begin() + e);
    // One pass at a time (they share the thread pool), but the lock is taken
    // per pass, so concurrent callers interleave instead of waiting for each
    // other's whole call; each pass and layer checks the caller's deadline.
    std::lock_guard<std::mutex> lock(mu_);
    check_deadline("an encoder pass");
    for (auto& v : model_->encode(batch, pool_.get())) out.push_back(std::move(v));
    b = e;
  }
  return out;
}

std::vector<std::vector<float>> Encoder::embed(const std::vector<std::string>& texts, TextRole role) const {
  EDGERAG_CHECK(!is_reranker(), "{}: a reranker model does not produce embeddings", model_->gguf().path());
  std::vector<BertInput> inputs(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) inputs[i].ids = tokenize(texts[i], role);
  std::vector<std::vector<float>> out = run(inputs);
  for (auto& v : out) l2_normalize(v);
  return out;
}

std::vector<float> Encoder::rerank(const std::string& query, const std::vector<std::string>& docs) const {
  EDGERAG_CHECK(is_reranker(), "{}: not a reranker (pooling '{}', no classifier head)", model_->gguf().path(),
                pooling_name(model_->hparams().pooling));
  std::vector<BertInput> inputs;
  inputs.reserve(docs.size());
  for (const std::string& d : docs) inputs.push_back(pair_input(query, d));
  std::vector<float> scores;
  scores.reserve(docs.size());
  for (const auto& v : run(inputs)) scores.push_back(v[0]);
  return scores;
}

}  // namespace edgerag
