// A small command-line parser for the sample programs: `--name value` and `--name=value`, switches
// (`--synthetic`, `--synthetic=false`), `--help`. Flags bind to variables whose initial values are
// the defaults shown in the help text. Bad input throws FlagError with a message that names the
// flag and what was expected (and the closest known flag for a misspelt one); `run_main` turns it
// into a one-line message on stderr and exit status 2.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tilenet::samples {

class FlagError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Flags {
 public:
  // `usage_line` follows the program name in "usage: ..."; `about` is printed under it.
  Flags(std::string program, std::string usage_line, std::string about);

  // `metavar` names the value in the help text (DIR, N, mlp|cnn). A non-empty `choices` restricts
  // a string flag to those values.
  void add(const std::string& name, std::string* target, const std::string& metavar, const std::string& help,
           std::vector<std::string> choices = {});
  void add(const std::string& name, int* target, const std::string& metavar, const std::string& help);
  void add(const std::string& name, std::int64_t* target, const std::string& metavar, const std::string& help);
  void add(const std::string& name, std::uint64_t* target, const std::string& metavar, const std::string& help);
  void add(const std::string& name, double* target, const std::string& metavar, const std::string& help);
  // A switch: `--name` sets true; `--name=true|false|1|0` sets either.
  void add_switch(const std::string& name, bool* target, const std::string& help);

  // Parses argv[1..]. Returns false when --help (or -h) was given: the help text has then been
  // printed to stdout and the caller should exit 0. Throws FlagError on anything it cannot accept.
  bool parse(int argc, const char* const* argv);
  // True when the flag appeared on the command line (not just defaulted).
  bool given(const std::string& name) const;
  std::string help() const;
  const std::string& program() const { return program_; }

 private:
  struct Flag {
    std::string name, metavar, help, default_text;
    std::vector<std::string> choices;
    bool is_switch = false;
    bool seen = false;
    std::function<void(const std::string&)> set;  // parses and stores, throws FlagError
  };
  Flag& add_flag(const std::string& name, const std::string& metavar, const std::string& help,
                 std::string default_text);
  Flag* find(const std::string& name);
  std::string closest(const std::string& name) const;

  std::string program_, usage_line_, about_;
  std::vector<Flag> flags_;
};

// Strict number parsing for flag values: the whole text must be a number in range.
std::int64_t parse_int(const std::string& flag, const std::string& text, std::int64_t lo, std::int64_t hi);
double parse_double(const std::string& flag, const std::string& text);

// Runs body(), mapping FlagError to "PROGRAM: MESSAGE (see --help)" with status 2 and any other
// std::exception to "PROGRAM: error: MESSAGE" with status 1, both on stderr.
int run_main(const std::string& program, const std::function<int()>& body);

}  // namespace tilenet::samples
