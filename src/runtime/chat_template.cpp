#include "runtime/chat_template.h"

#include <algorithm>

#include "util/error.h"

namespace edgerag {
namespace {

bool contains(std::string_view s, std::string_view needle) { return s.find(needle) != std::string_view::npos; }

std::string chatml(const std::vector<ChatMessage>& msgs, bool gen) {
  std::string out;
  for (const auto& m : msgs) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

std::string llama3(const std::vector<ChatMessage>& msgs, bool gen) {
  std::string out;
  for (const auto& m : msgs) out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

// [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] ...
// The first <s> comes from the tokenizer; later turns spell it out.
std::string llama2(const std::vector<ChatMessage>& msgs) {
  std::string out, system;
  bool first = true;
  for (const auto& m : msgs) {
    if (m.role == "system") {
      system = m.content;
    } else if (m.role == "user") {
      if (!first) out += "<s>";
      out += "[INST] ";
      if (!system.empty()) out += "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
      system.clear();
      out += m.content + " [/INST]";
      first = false;
    } else {
      out += " " + m.content + " </s>";
    }
  }
  return out;
}

std::string plain(const std::vector<ChatMessage>& msgs, bool gen) {
  std::string out;
  for (const auto& m : msgs) {
    std::string role = m.role;
    if (!role.empty()) role[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(role[0])));
    out += role + ": " + m.content + "\n";
  }
  if (gen) out += "Assistant:";
  return out;
}

}  // namespace

const char* chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::ChatML: return "chatml";
    case ChatFormat::Llama3: return "llama3";
    case ChatFormat::Llama2: return "llama2";
    case ChatFormat::Plain: return "plain";
  }
  return "plain";
}

ChatFormat chat_format_from_template(std::string_view tmpl) {
  if (contains(tmpl, "<|im_start|>")) return ChatFormat::ChatML;
  if (contains(tmpl, "<|start_header_id|>")) return ChatFormat::Llama3;
  if (contains(tmpl, "[INST]")) return ChatFormat::Llama2;
  return ChatFormat::Plain;
}

ChatFormat detect_chat_format(const GgufFile& f) {
  const ChatFormat from_text = chat_format_from_template(f.get_string("tokenizer.chat_template"));
  if (from_text != ChatFormat::Plain) return from_text;
  const auto& tokens = f.get_string_array("tokenizer.ggml.tokens");
  auto has = [&](std::string_view t) { return std::find(tokens.begin(), tokens.end(), t) != tokens.end(); };
  if (has("<|im_start|>")) return ChatFormat::ChatML;
  if (has("<|start_header_id|>")) return ChatFormat::Llama3;
  const std::string arch = f.get_string("general.architecture");
  if (arch == "qwen2" || arch == "qwen3") return ChatFormat::ChatML;
  return ChatFormat::Plain;
}

std::string apply_chat_template(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  for (const auto& m : messages)
    EDGERAG_CHECK(m.role == "system" || m.role == "user" || m.role == "assistant",
                  "chat template: unknown role '{}' (system, user, assistant)", m.role);
  switch (f) {
    case ChatFormat::ChatML: return chatml(messages, add_generation_prompt);
    case ChatFormat::Llama3: return llama3(messages, add_generation_prompt);
    case ChatFormat::Llama2: return llama2(messages);
    case ChatFormat::Plain: return plain(messages, add_generation_prompt);
  }
  return plain(messages, add_generation_prompt);
}

}  // namespace edgerag
