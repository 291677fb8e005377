// Chat prompt formats. The format is detected from the GGUF
// `tokenizer.chat_template` text (ChatML `<|im_start|>`, Llama-3
// `<|start_header_id|>`, Llama-2 `[INST]`), else from the vocabulary / arch,
// else the plain "System: ...\nUser: ...\nAssistant:" fallback. BOS is not
// written: the tokenizer adds it (encode with add_special=true).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

namespace edgerag {

enum class ChatFormat { ChatML, Llama3, Llama2, Plain };

struct ChatMessage {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

const char* chat_format_name(ChatFormat f);
// Plain when the template text matches none of the known formats.
ChatFormat chat_format_from_template(std::string_view tmpl);
ChatFormat detect_chat_format(const GgufFile& f);

// Messages -> prompt parts: the template's control tokens apart from the text
// (role names, message content), so that content is never parsed for special
// tokens (Tokenizer::encode_parts). With add_generation_prompt the assistant
// turn is opened.
std::vector<PromptPart> render_chat(ChatFormat f, const std::vector<ChatMessage>& messages,
                                    bool add_generation_prompt = true);
std::string prompt_text(const std::vector<PromptPart>& parts);  // the parts' texts joined
// prompt_text(render_chat(..)): for display and text-level comparisons.
std::string apply_chat_template(ChatFormat f, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt = true);

}  // namespace edgerag
