// Chat formats: detection from template text / vocabulary / arch, and rendering.
#include <gtest/gtest.h>

#include "runtime/chat_template.h"
#include "test_paths.h"
#include "util/error.h"

namespace edgerag {
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Why?"}};

TEST(ChatTemplate, DetectsFormatFromTemplateText) {
  EXPECT_EQ(chat_format_from_template("{% for m in messages %}<|im_start|>{{m.role}}..."), ChatFormat::ChatML);
  EXPECT_EQ(chat_format_from_template("{{'<|start_header_id|>' + message['role'] + '<|end_header_id|>'}}"),
            ChatFormat::Llama3);
  EXPECT_EQ(chat_format_from_template("{{ bos_token + '[INST] ' + content + ' [/INST]' }}"), ChatFormat::Llama2);
  EXPECT_EQ(chat_format_from_template(""), ChatFormat::Plain);
}

TEST(ChatTemplate, DetectsFormatFromModelFiles) {
  // stories260K: llama arch, no template, no chat tokens -> plain.
  EXPECT_EQ(detect_chat_format(*GgufFile::open(test::model_path("stories260K.gguf"))), ChatFormat::Plain);
  // qwen3 without a template -> ChatML by architecture.
  EXPECT_EQ(detect_chat_format(*GgufFile::open(test::model_path("synth-qwen3.gguf"))), ChatFormat::ChatML);
}

TEST(ChatTemplate, ChatML) {
  EXPECT_EQ(apply_chat_template(ChatFormat::ChatML, kConversation),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplate, Llama3) {
  EXPECT_EQ(apply_chat_template(ChatFormat::Llama3, {{"user", "Hi"}}),
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, Llama2) {
  EXPECT_EQ(apply_chat_template(ChatFormat::Llama2, kConversation),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Why? [/INST]");
}

TEST(ChatTemplate, PlainFallback) {
  EXPECT_EQ(apply_chat_template(ChatFormat::Plain, {{"system", "S"}, {"user", "U"}}),
            "System: S\nUser: U\nAssistant:");
  EXPECT_EQ(apply_chat_template(ChatFormat::Plain, {{"user", "U"}}, false), "User: U\n");
  EXPECT_THROW(apply_chat_template(ChatFormat::Plain, {{"robot", "x"}}), Error);
}

}  // namespace
}  // namespace edgerag
