#include "runtime/chat_template.h"

#include <algorithm>

#include "util/error.h"

namespace edgerag {
namespace {

bool contains(std::string_view s, std::string_view needle) { return s.find(needle) != std::string_view::npos; }

// Builds a prompt: ctl() for what the template inserts as control tokens,
// text() for role names, separators and message content.
struct Parts {
  std::vector<PromptPart> out;
  Parts& ctl(std::string_view t) {
    out.push_back({std::string(t), true});
    return *this;
  }
  Parts& text(std::string_view t) {
    if (!out.empty() && !out.back().special)
      out.back().text += t;
    else
      out.push_back({std::string(t), false});
    return *this;
  }
};

std::vector<PromptPart> chatml(const std::vector<ChatMessage>& msgs, bool gen) {
  Parts p;
  for (const auto& m : msgs) p.ctl("<|im_start|>").text(m.role + "\n" + m.content).ctl("<|im_end|>").text("\n");
  if (gen) p.ctl("<|im_start|>").text("assistant\n");
  return std::move(p.out);
}

std::vector<PromptPart> llama3(const std::vector<ChatMessage>& msgs, bool gen) {
  Parts p;
  for (const auto& m : msgs)
    p.ctl("<|start_header_id|>").text(m.role).ctl("<|end_header_id|>").text("\n\n" + m.content).ctl("<|eot_id|>");
  if (gen) p.ctl("<|start_header_id|>").text("assistant").ctl("<|end_header_id|>").text("\n\n");
  return std::move(p.out);
}

// [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] ...
// The first <s> comes from the tokenizer; later turns spell it out. In Llama-2
// vocabularies only <s> and </s> are control tokens: the [INST] and <<SYS>>
// markers are ordinary text.
std::vector<PromptPart> llama2(const std::vector<ChatMessage>& msgs) {
  Parts p;
  std::string system;
  bool first = true;
  for (const auto& m : msgs) {
    if (m.role == "system") {
      system = m.content;
    } else if (m.role == "user") {
      if (!first) p.ctl("<s>");
      p.ctl("[INST]").text(" ");
      if (!system.empty()) p.ctl("<<SYS>>").text("\n" + system + "\n").ctl("<</SYS>>").text("\n\n");
      system.clear();
      p.text(m.content + " ").ctl("[/INST]");
      first = false;
    } else {
      p.text(" " + m.content + " ").ctl("</s>");
    }
  }
  return std::move(p.out);
}

std::vector<PromptPart> plain(const std::vector<ChatMessage>& msgs, bool gen) {
  Parts p;
  for (const auto& m : msgs) {
    std::string role = m.role;
    if (!role.empty()) role[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(role[0])));
    p.text(role + ": " + m.content + "\n");
  }
  if (gen) p.text("Assistant:");
  return std::move(p.out);
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

std::vector<PromptPart> render_chat(ChatFormat f, const std::vector<ChatMessage>& messages,
                                    bool add_generation_prompt) {
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

std::string prompt_text(const std::vector<PromptPart>& parts) {
  std::string out;
  for (const auto& p : parts) out += p.text;
  return out;
}

std::string apply_chat_template(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  return prompt_text(render_chat(f, messages, add_generation_prompt));
}

}  // namespace edgerag
