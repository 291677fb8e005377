// Temporary stub bodies so dependents link; the real implementation follows.
#include "tokenizer/tokenizer.h"

#include "util/error.h"

namespace edgerag {

struct Tokenizer::Impl {
  std::string model, pre, empty;
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& f) {
  fail("{}: tokenizer not implemented yet", f.path());
}
std::vector<int32_t> Tokenizer::encode(std::string_view, bool, bool) const { return {}; }
std::vector<int32_t> Tokenizer::encode_pair(std::string_view, std::string_view, std::vector<int32_t>*) const {
  return {};
}
std::string Tokenizer::decode(const std::vector<int32_t>&, bool) const { return {}; }
std::string Tokenizer::token_to_piece(int32_t) const { return {}; }
const std::string& Tokenizer::token_text(int32_t) const { return impl_->empty; }
float Tokenizer::token_score(int32_t) const { return 0; }
TokenType Tokenizer::token_type(int32_t) const { return TokenType::Normal; }
int32_t Tokenizer::find_token(std::string_view) const { return -1; }
int32_t Tokenizer::n_vocab() const { return 0; }
int32_t Tokenizer::bos_id() const { return -1; }
int32_t Tokenizer::eos_id() const { return -1; }
int32_t Tokenizer::eot_id() const { return -1; }
int32_t Tokenizer::cls_id() const { return -1; }
int32_t Tokenizer::sep_id() const { return -1; }
int32_t Tokenizer::pad_id() const { return -1; }
int32_t Tokenizer::unk_id() const { return -1; }
bool Tokenizer::add_bos() const { return false; }
bool Tokenizer::add_eos() const { return false; }
bool Tokenizer::is_eog(int32_t) const { return false; }
bool Tokenizer::is_control(int32_t) const { return false; }
const std::string& Tokenizer::model_kind() const { return impl_->model; }
const std::string& Tokenizer::pre_kind() const { return impl_->pre; }

}  // namespace edgerag
