#include "samples/common/flags.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <sstream>

namespace tilenet::samples {
namespace {

std::string format_double(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::int64_t parse_int(const std::string& flag, const std::string& text, std::int64_t lo, std::int64_t hi) {
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || std::isspace(static_cast<unsigned char>(text[0])))
    throw FlagError("--" + flag + " expects an integer, got '" + text + "'");
  if (errno == ERANGE || v < lo || v > hi)
    throw FlagError("--" + flag + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                    text);
  return v;
}

double parse_double(const std::string& flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || std::isspace(static_cast<unsigned char>(text[0])))
    throw FlagError("--" + flag + " expects a number, got '" + text + "'");
  if (errno == ERANGE || !std::isfinite(v)) throw FlagError("--" + flag + " is out of range: " + text);
  return v;
}

Flags::Flags(std::string program, std::string usage_line, std::string about)
    : program_(std::move(program)), usage_line_(std::move(usage_line)), about_(std::move(about)) {}

Flags::Flag& Flags::add_flag(const std::string& name, const std::string& metavar, const std::string& help,
                             std::string default_text) {
  if (name.empty() || name == "help" || find(name))
    throw std::logic_error("Flags: bad or duplicate flag name '" + name + "'");
  Flag f;
  f.name = name;
  f.metavar = metavar;
  f.help = help;
  f.default_text = std::move(default_text);
  flags_.push_back(std::move(f));
  return flags_.back();
}

void Flags::add(const std::string& name, std::string* target, const std::string& metavar, const std::string& help,
                std::vector<std::string> choices) {
  Flag& f = add_flag(name, metavar, help, *target);
  f.choices = std::move(choices);
  f.set = [target, name, choices = f.choices](const std::string& v) {
    if (!choices.empty() && std::find(choices.begin(), choices.end(), v) == choices.end()) {
      std::string list;
      for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
      throw FlagError("--" + name + " must be one of " + list + "; got '" + v + "'");
    }
    *target = v;
  };
}

void Flags::add(const std::string& name, int* target, const std::string& metavar, const std::string& help) {
  add_flag(name, metavar, help, std::to_string(*target)).set = [target, name](const std::string& v) {
    *target = static_cast<int>(
        parse_int(name, v, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
  };
}

void Flags::add(const std::string& name, std::int64_t* target, const std::string& metavar, const std::string& help) {
  add_flag(name, metavar, help, std::to_string(*target)).set = [target, name](const std::string& v) {
    *target = parse_int(name, v, std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max());
  };
}

void Flags::add(const std::string& name, std::uint64_t* target, const std::string& metavar,
                const std::string& help) {
  add_flag(name, metavar, help, std::to_string(*target)).set = [target, name](const std::string& v) {
    *target = static_cast<std::uint64_t>(parse_int(name, v, 0, std::numeric_limits<std::int64_t>::max()));
  };
}

void Flags::add(const std::string& name, double* target, const std::string& metavar, const std::string& help) {
  add_flag(name, metavar, help, format_double(*target)).set = [target, name](const std::string& v) {
    *target = parse_double(name, v);
  };
}

void Flags::add_switch(const std::string& name, bool* target, const std::string& help) {
  Flag& f = add_flag(name, "", help, *target ? "on" : "");
  f.is_switch = true;
  f.set = [target, name](const std::string& v) {
    if (v == "true" || v == "1" || v == "yes" || v == "on") {
      *target = true;
    } else if (v == "false" || v == "0" || v == "no" || v == "off") {
      *target = false;
    } else {
      throw FlagError("--" + name + " is a switch: give it alone, or as --" + name + "=true|false; got '" + v + "'");
    }
  };
}

Flags::Flag* Flags::find(const std::string& name) {
  for (auto& f : flags_)
    if (f.name == name) return &f;
  return nullptr;
}

std::string Flags::closest(const std::string& name) const {
  std::string best;
  std::size_t best_d = 3;  // suggest only near misses
  for (const auto& f : flags_) {
    std::size_t d = edit_distance(name, f.name);
    if (d < best_d || (f.name.rfind(name, 0) == 0 && best.empty())) {
      best_d = std::min(d, best_d);
      best = f.name;
    }
  }
  return best;
}

bool Flags::given(const std::string& name) const {
  for (const auto& f : flags_)
    if (f.name == name) return f.seen;
  throw std::logic_error("Flags::given: no flag '" + name + "'");
}

bool Flags::parse(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << help();
      return false;
    }
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0)
      throw FlagError("unexpected argument '" + arg + "' (flags look like --name value)");
    std::string name = arg.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    Flag* f = find(name);
    if (!f) {
      std::string hint = closest(name);
      throw FlagError("unknown flag --" + name + (hint.empty() ? "" : " (did you mean --" + hint + "?)"));
    }
    if (!inline_value) {
      if (f->is_switch) {
        value = "true";
      } else {
        if (i + 1 >= argc) throw FlagError("--" + name + " needs a value (" + f->metavar + ")");
        value = argv[++i];
      }
    }
    f->set(value);
    f->seen = true;
  }
  return true;
}

std::string Flags::help() const {
  std::ostringstream os;
  os << "usage: " << program_ << " " << usage_line_ << "\n";
  if (!about_.empty()) os << "\n" << about_ << "\n";
  os << "\nflags:\n";
  std::vector<std::string> heads;
  std::size_t width = 0;
  for (const auto& f : flags_) {
    heads.push_back("--" + f.name + (f.metavar.empty() ? "" : " " + f.metavar));
    width = std::max(width, heads.back().size());
  }
  width = std::min<std::size_t>(width, 26);
  for (std::size_t i = 0; i < flags_.size(); ++i) {
    const Flag& f = flags_[i];
    os << "  " << heads[i];
    if (heads[i].size() > width)
      os << "\n  " << std::string(width, ' ');
    else
      os << std::string(width - heads[i].size(), ' ');
    os << "  " << f.help;
    if (!f.default_text.empty() && !f.is_switch) os << " (default: " << f.default_text << ")";
    os << "\n";
  }
  os << "  --help" << std::string(width > 6 ? width - 6 : 0, ' ') << "  show this text and exit\n";
  return os.str();
}

int run_main(const std::string& program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const FlagError& e) {
    std::cerr << program << ": " << e.what() << " (see --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << program << ": error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace tilenet::samples
