// The samples' flag parser: both value forms, switches, defaults, strict numbers, clear errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "samples/common/flags.h"

using tilenet::samples::FlagError;
using tilenet::samples::Flags;

namespace {

struct Args {
  std::vector<std::string> words;
  std::vector<const char*> ptrs;
  explicit Args(std::vector<std::string> w) : words(std::move(w)) {
    words.insert(words.begin(), "prog");
    for (auto& s : words) ptrs.push_back(s.c_str());
  }
  int argc() const { return static_cast<int>(ptrs.size()); }
  const char* const* argv() const { return ptrs.data(); }
};

struct Fixture {
  std::string data = "data/mnist", model = "mlp";
  int epochs = 12;
  std::int64_t limit = 0;
  std::uint64_t seed = 42;
  double lr = 1e-3;
  bool synthetic = false;
  Flags flags{"prog", "[flags]", "test program"};
  Fixture() {
    flags.add("data", &data, "DIR", "data folder");
    flags.add("model", &model, "mlp|cnn", "model", {"mlp", "cnn"});
    flags.add("epochs", &epochs, "N", "epochs");
    flags.add("train-limit", &limit, "N", "limit");
    flags.add("seed", &seed, "N", "seed");
    flags.add("lr", &lr, "X", "learning rate");
    flags.add_switch("synthetic", &synthetic, "synthetic data");
  }
  bool parse(std::vector<std::string> w) {
    Args a(std::move(w));
    return flags.parse(a.argc(), a.argv());
  }
};

std::string error_of(std::vector<std::string> w) {
  Fixture f;
  try {
    f.parse(std::move(w));
  } catch (const FlagError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(SamplesFlags, DefaultsStayWhenNotGiven) {
  Fixture f;
  EXPECT_TRUE(f.parse({}));
  EXPECT_EQ(f.epochs, 12);
  EXPECT_EQ(f.model, "mlp");
  EXPECT_FALSE(f.flags.given("epochs"));
}

TEST(SamplesFlags, BothValueFormsAndSwitches) {
  Fixture f;
  EXPECT_TRUE(f.parse({"--epochs", "3", "--model=cnn", "--lr", "0.01", "--train-limit=1000", "--synthetic",
                       "--seed", "7", "--data", "/x y"}));
  EXPECT_EQ(f.epochs, 3);
  EXPECT_EQ(f.model, "cnn");
  EXPECT_DOUBLE_EQ(f.lr, 0.01);
  EXPECT_EQ(f.limit, 1000);
  EXPECT_EQ(f.seed, 7u);
  EXPECT_EQ(f.data, "/x y");
  EXPECT_TRUE(f.synthetic);
  EXPECT_TRUE(f.flags.given("epochs"));
  Fixture g;
  g.synthetic = true;
  EXPECT_TRUE(g.parse({"--synthetic=false", "--lr=-1e-2"}));
  EXPECT_FALSE(g.synthetic);
  EXPECT_DOUBLE_EQ(g.lr, -1e-2);
}

TEST(SamplesFlags, HelpReturnsFalseAndListsEveryFlag) {
  Fixture f;
  testing::internal::CaptureStdout();
  EXPECT_FALSE(f.parse({"--epochs", "3", "--help"}));
  std::string out = testing::internal::GetCapturedStdout();
  for (const char* s : {"usage: prog", "--data DIR", "--model mlp|cnn", "(default: 12)", "--synthetic", "--help"})
    EXPECT_NE(out.find(s), std::string::npos) << s << " missing from:\n" << out;
}

TEST(SamplesFlags, ErrorsNameTheFlagAndTheProblem) {
  EXPECT_NE(error_of({"--epoch", "3"}).find("unknown flag --epoch (did you mean --epochs?)"), std::string::npos);
  EXPECT_NE(error_of({"--bogus"}).find("unknown flag --bogus"), std::string::npos);
  EXPECT_NE(error_of({"--epochs"}).find("--epochs needs a value"), std::string::npos);
  EXPECT_NE(error_of({"--epochs", "3x"}).find("--epochs expects an integer, got '3x'"), std::string::npos);
  EXPECT_NE(error_of({"--epochs", ""}).find("expects an integer"), std::string::npos);
  EXPECT_NE(error_of({"--epochs", "99999999999"}).find("must be in"), std::string::npos);
  EXPECT_NE(error_of({"--seed", "-1"}).find("must be in"), std::string::npos);
  EXPECT_NE(error_of({"--lr", "fast"}).find("--lr expects a number"), std::string::npos);
  EXPECT_NE(error_of({"--lr", "inf"}).find("out of range"), std::string::npos);
  EXPECT_NE(error_of({"--model", "resnet"}).find("--model must be one of mlp, cnn; got 'resnet'"),
            std::string::npos);
  EXPECT_NE(error_of({"--synthetic=maybe"}).find("is a switch"), std::string::npos);
  EXPECT_NE(error_of({"train"}).find("unexpected argument 'train'"), std::string::npos);
  EXPECT_NE(error_of({"-e", "3"}).find("unexpected argument '-e'"), std::string::npos);
}

TEST(SamplesFlags, RunMainMapsErrorsToExitCodes) {
  using tilenet::samples::run_main;
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_main("prog", [] { return 0; }), 0);
  EXPECT_EQ(run_main("prog", []() -> int { throw FlagError("--x is bad"); }), 2);
  EXPECT_EQ(run_main("prog", []() -> int { throw std::runtime_error("disk on fire"); }), 1);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("prog: --x is bad (see --help)"), std::string::npos) << err;
  EXPECT_NE(err.find("prog: error: disk on fire"), std::string::npos) << err;
}
