// Build-time tool for the CPU emulation tests (tests/emu): copies a CUDA source so that a host C++
// compiler takes it. Two rewrites, nothing else changes (line numbers are kept):
//   kernel<T><<<grid, block, smem, stream>>>(args)  ->  ::tilenet_emu::launch(kernel<T>, grid, block, smem, stream)(args)
//   kernel<<<grid, block, smem, stream>>>(args)  ->  ::tilenet_emu::launch_deduced([=](auto... a) { kernel(a...); },
//                                                       grid, block, smem, stream)(args)
//   extern __shared__ [__align__(n)] T name[];    ->  T* name = ::tilenet_emu::dynamic_smem<T>();
// Usage: emu_rewrite IN OUT
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>

namespace {

// Index of the '<' that opens the template argument list closing just before `end` (the index of
// its '>'), or std::string::npos.
std::size_t template_open(const std::string& s, std::size_t end) {
  int depth = 0;
  for (std::size_t i = end + 1; i-- > 0;) {
    if (s[i] == '>') ++depth;
    if (s[i] == '<' && --depth == 0) return i;
    if (s[i] == ';' || s[i] == '{' || s[i] == '}') break;
  }
  return std::string::npos;
}

std::string rewrite_launches(const std::string& src) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t open = src.find("<<<", pos);
    if (open == std::string::npos) break;
    const std::size_t close = src.find(">>>", open);
    if (close == std::string::npos) throw std::runtime_error("unterminated <<<");
    // The kernel expression: an identifier (with ::) optionally followed by template arguments,
    // possibly separated from <<< by whitespace.
    std::size_t e = open;
    while (e > pos && std::isspace(static_cast<unsigned char>(src[e - 1]))) --e;
    std::size_t b = e;
    if (b > 0 && src[b - 1] == '>') {
      const std::size_t t = template_open(src, b - 1);
      if (t == std::string::npos) throw std::runtime_error("cannot find the kernel's template arguments");
      b = t;
    }
    while (b > pos && (std::isalnum(static_cast<unsigned char>(src[b - 1])) || src[b - 1] == '_' || src[b - 1] == ':'))
      --b;
    if (b == e) throw std::runtime_error("cannot find the kernel name before <<<");
    out.append(src, pos, b - pos);
    const std::string kernel = src.substr(b, e - b);
    if (kernel.back() == '>') {  // explicit template arguments: the kernel's address is known
      out += "::tilenet_emu::launch(" + kernel + ", ";
    } else {  // maybe a template deduced from the arguments, as <<<>>> allows
      out += "::tilenet_emu::launch_deduced([=](auto... a) { " + kernel + "(a...); }, ";
    }
    out.append(src, open + 3, close - open - 3);
    out += ")";
    pos = close + 3;
  }
  out.append(src, pos, std::string::npos);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: emu_rewrite IN OUT\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::cerr << "emu_rewrite: cannot read " << argv[1] << "\n";
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    std::string s = rewrite_launches(ss.str());
    static const std::regex dyn(R"(extern\s+__shared__\s+(?:__align__\(\s*\d+\s*\)\s+)?([A-Za-z_][\w: ]*?)\s+([A-Za-z_]\w*)\s*\[\s*\]\s*;)");
    s = std::regex_replace(s, dyn, "$1* $2 = ::tilenet_emu::dynamic_smem<$1>();");
    std::ofstream out(argv[2], std::ios::binary);
    out << "#line 1 \"" << argv[1] << "\"\n" << s;
    if (!out) throw std::runtime_error("cannot write output");
  } catch (const std::exception& e) {
    std::cerr << "emu_rewrite: " << argv[1] << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
