// A small strict JSON (RFC 8259) parser for file headers (safetensors): UTF-8 checked, no
// duplicate object keys, no trailing commas, no comments, nesting depth bounded, numbers kept as
// their text (integers read exactly with as_u64). Errors give the byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tilenet::nn::io {

class JsonError : public std::runtime_error {
 public:
  JsonError(const std::string& what, std::size_t offset) : std::runtime_error(what), offset_(offset) {}
  std::size_t offset() const { return offset_; }

 private:
  std::size_t offset_;
};

struct JsonValue {
  enum class Type { null, boolean, number, string, array, object };
  Type type = Type::null;
  bool boolean = false;
  std::string text;  // string contents (decoded), or the number's text as written
  std::vector<JsonValue> items;                            // array
  std::vector<std::pair<std::string, JsonValue>> members;  // object, in file order

  bool is_object() const { return type == Type::object; }
  bool is_array() const { return type == Type::array; }
  bool is_string() const { return type == Type::string; }
  // A non-negative integer without fraction or exponent that fits 64 bits.
  bool as_u64(std::uint64_t& out) const;
  // "object", "array", ...
  const char* type_name() const;
};

// Parses exactly one JSON value surrounded by optional whitespace. Throws JsonError.
JsonValue parse_json(std::string_view text, int max_depth = 64);

// Appends `s` as a JSON string literal (quotes, escapes for '"', '\\' and control characters).
void append_json_string(std::string& out, std::string_view s);
// s as a JSON string literal cut to about max_chars, for error messages ("\"name\"", "\"aaa...\" (300 bytes)").
std::string quote_for_message(std::string_view s, std::size_t max_chars = 64);
// True when s is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace tilenet::nn::io
