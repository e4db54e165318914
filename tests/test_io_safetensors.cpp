// Safetensors: bitwise round trips, the on-disk layout, atomic writes, and a clear IoError for
// every kind of broken file (truncated, oversized header, bad JSON, bad dtype, bad shapes and
// offsets). Training-state files for resume.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "io_test_util.h"
#include "nn/io/json.h"
#include "nn/io/safetensors.h"
#include "nn/io/training_state.h"
#include "optim/optimizers.h"
#include "test_util.h"

using namespace tilenet;
using namespace tilenet::nn::io;
using test::Bytes;

namespace {

// A file with the given header text and data bytes (length prefix computed).
Bytes st_file(const std::string& header, const Bytes& data, std::int64_t len_override = -1) {
  Bytes b(8);
  std::uint64_t n = len_override >= 0 ? static_cast<std::uint64_t>(len_override) : header.size();
  for (int i = 0; i < 8; ++i, n >>= 8) b[i] = static_cast<std::uint8_t>(n & 0xff);
  b.insert(b.end(), header.begin(), header.end());
  test::append(b, data);
  return b;
}

// Expects load_safetensors to throw IoError whose message contains the file path and `needle`.
void expect_io_error(const test::ScratchDir& dir, const Bytes& file, const std::string& needle) {
  const std::string path = dir.file("bad.safetensors");
  test::write_bytes(path, file);
  try {
    load_safetensors(path);
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const IoError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "expected '" << needle << "' in: " << msg;
  }
  // The in-memory parser agrees.
  EXPECT_THROW(parse_safetensors(file.data(), file.size(), "mem"), IoError);
}

Bytes zeros(std::size_t n) { return Bytes(n, 0); }

const std::string kOne = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

}  // namespace

TEST(Safetensors, RoundTripIsBitwise) {
  test::ScratchDir dir;
  // f32 with NaN payloads, -0, infinities and subnormals; f16 bits; i32 extremes; 0-D and empty.
  std::vector<float> f = test::random_uniform(15, -3.0f, 3.0f, test::kSeed);
  const std::uint32_t specials[] = {0x7fc00001u, 0xff800000u, 0x80000000u, 0x00000001u, 0x7f800000u};
  for (int i = 0; i < 5; ++i) std::memcpy(&f[i], &specials[i], 4);
  Tensor a = Tensor::from_vector(f, {3, 5});
  Tensor h = Tensor::empty({2, 2, 2}, DType::f16);
  const std::uint16_t hb[] = {0x3c00, 0x7e01, 0xfc00, 0x0001, 0x8000, 0x7bff, 0x1234, 0xabcd};
  std::memcpy(h.raw_data(), hb, sizeof hb);
  Tensor i = Tensor::from_ints({INT32_MIN, -1, 0, 7, INT32_MAX}, {5});
  Tensor s = Tensor::from_vector({42.0f}, Shape{});
  Tensor e = Tensor::zeros({0, 4});
  const NamedTensors in = {{"dense/kernel", a}, {"h\"alf\\\n", h}, {"labels", i}, {"scalar", s}, {"empty", e}};
  const Metadata meta = {{"epoch", "3"}, {"note", "ünïcode \"quoted\"\ttab"}};
  const std::string path = dir.file("m.safetensors");
  save_safetensors(path, in, meta);
  const SafetensorsContents out = load_safetensors(path);
  ASSERT_EQ(out.tensors.size(), in.size());
  for (std::size_t k = 0; k < in.size(); ++k) {
    SCOPED_TRACE(in[k].first);
    EXPECT_EQ(out.tensors[k].first, in[k].first);
    const Tensor& t = out.tensors[k].second;
    EXPECT_EQ(t.dtype(), in[k].second.dtype());
    EXPECT_EQ(t.shape(), in[k].second.shape());
    ASSERT_EQ(t.nbytes(), in[k].second.nbytes());
    EXPECT_EQ(std::memcmp(t.raw_data(), in[k].second.raw_data(), t.nbytes()), 0);
  }
  EXPECT_EQ(out.metadata, meta);
  EXPECT_EQ(dir.list().size(), 1u);  // no temporary left behind
}

TEST(Safetensors, LayoutIsTheSpecs) {
  test::ScratchDir dir;
  const std::string path = dir.file("x.safetensors");
  save_safetensors(path, {{"w", Tensor::from_vector({1.0f, 2.0f}, {1, 2})}, {"b", Tensor::from_ints({5}, {1})}});
  const Bytes b = test::read_bytes(path);
  std::uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = n << 8 | b[k];
  ASSERT_EQ(b.size(), 8 + n + 12);
  EXPECT_EQ((8 + n) % 8, 0u);  // data aligned
  const std::string header(b.begin() + 8, b.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  EXPECT_EQ(header.substr(0, header.find_last_not_of(' ') + 1),
            R"({"w":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}})");
  float w1;
  std::memcpy(&w1, &b[8 + n + 4], 4);
  EXPECT_EQ(w1, 2.0f);
}

TEST(Safetensors, SaveReplacesAtomicallyAndReportsBadPaths) {
  test::ScratchDir dir;
  const std::string path = dir.file("w.safetensors");
  save_safetensors(path, {{"a", Tensor::full({4}, 1.0f)}});
  save_safetensors(path, {{"a", Tensor::full({2}, 2.0f)}});
  EXPECT_EQ(load_safetensors(path).tensors[0].second.numel(), 2);
  EXPECT_EQ(dir.list().size(), 1u);
  EXPECT_THROW(save_safetensors(dir.file("no/such/dir/w.safetensors"), {{"a", Tensor::full({1}, 1.0f)}}), IoError);
  EXPECT_THROW(load_safetensors(dir.file("missing.safetensors")), IoError);
  EXPECT_THROW(save_safetensors(path, {{"a", Tensor::full({1}, 1.0f)}, {"a", Tensor::full({1}, 1.0f)}}), ValueError);
  EXPECT_THROW(save_safetensors(path, {{"__metadata__", Tensor::full({1}, 1.0f)}}), ValueError);
  EXPECT_THROW(save_safetensors(path, {{"", Tensor::full({1}, 1.0f)}}), ValueError);
  EXPECT_EQ(load_safetensors(path).tensors[0].second.numel(), 2);  // failed saves left it alone
}

TEST(Safetensors, TruncatedFiles) {
  test::ScratchDir dir;
  const Bytes good = st_file(kOne, zeros(8));
  ASSERT_NO_THROW(parse_safetensors(good.data(), good.size(), "good"));
  expect_io_error(dir, Bytes(good.begin(), good.begin() + 5), "too short");
  expect_io_error(dir, Bytes(good.begin(), good.begin() + 20), "exceeds");       // inside the header
  expect_io_error(dir, Bytes(good.begin(), good.end() - 3), "reach past the data");  // inside the data
  expect_io_error(dir, Bytes(), "too short");
}

TEST(Safetensors, OversizedHeader) {
  test::ScratchDir dir;
  expect_io_error(dir, st_file(kOne, zeros(8), 1ll << 40), "exceeds");
  expect_io_error(dir, st_file(kOne, zeros(8), -1 + (1ll << 0)), "too short for JSON");
  // Above the 100 MB cap in a (sparse) file large enough to hold it.
  const std::string path = dir.file("huge.safetensors");
  test::write_bytes(path, st_file("{", {}, static_cast<std::int64_t>(kSafetensorsMaxHeaderBytes) + 1));
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(kSafetensorsMaxHeaderBytes + 64)), 0);
  try {
    load_safetensors(path);
    ADD_FAILURE() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("above the limit"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, BadJson) {
  test::ScratchDir dir;
  const Bytes d = zeros(8);
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},})", d), "not valid JSON");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", d), "not valid JSON");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{}})", d), "duplicate key");
  expect_io_error(dir, st_file("{\"a\xff\":{}}", d), "UTF-8");
  expect_io_error(dir, st_file("{\"a\tb\":{}}", d), "control character");
  expect_io_error(dir, st_file(R"({"\ud800":{}})", d), "surrogate");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}})", d), "leading zero");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x)", d), "after the JSON value");
  expect_io_error(dir, st_file(" " + kOne, d), "does not start with '{'");
  expect_io_error(dir, st_file("[1,2]   ", d), "does not start");
  expect_io_error(dir, st_file(R"({"__metadata__":)" + std::string(200, '[') + std::string(200, ']') + "}", d),
                  "nesting deeper");
  expect_io_error(dir, st_file(R"({"__metadata__":{"k":1}})", d), "expected a string");
}

TEST(Safetensors, WrongDtype) {
  test::ScratchDir dir;
  const Bytes d = zeros(8);
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", d), "F64 is not supported");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}})", d), "not supported");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"float","shape":[2],"data_offsets":[0,8]}})", d), "unknown dtype");
  expect_io_error(dir, st_file(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", d), "expected a string");
}

TEST(Safetensors, ShapeSizeMismatch) {
  test::ScratchDir dir;
  const Bytes d = zeros(24);
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", d), "needs 24 bytes");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,24]}})", d), "needs 12 bytes");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,24]}})", d), "non-negative");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,24]}})", d), "non-negative");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,24]}})", d),
                  "64-bit");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,6],"data_offsets":[0,24]}})", d),
                  "at most 5");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":"6","data_offsets":[0,24]}})", d), "expected an array");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[6]}})", d), "missing field");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[6],"data_offsets":[0,24],"x":1}})", d),
                  "unexpected field");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[6],"data_offsets":[0]}})", d), "two integers");
  expect_io_error(dir, st_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", d), "end before");
  expect_io_error(dir, st_file(R"({"a":[]})", d), "expected an object");
}

TEST(Safetensors, OffsetsMustTileTheBuffer) {
  test::ScratchDir dir;
  const Bytes d = zeros(16);
  const std::string f = R"("dtype":"F32","shape":[2])";
  expect_io_error(dir, st_file("{\"a\":{" + f + ",\"data_offsets\":[0,8]},\"b\":{" + f + ",\"data_offsets\":[4,12]}}", d),
                  "overlap");
  expect_io_error(dir, st_file("{\"a\":{" + f + ",\"data_offsets\":[0,8]},\"b\":{" + f + ",\"data_offsets\":[0,8]}}", d),
                  "overlap");
  expect_io_error(dir, st_file("{\"a\":{" + f + ",\"data_offsets\":[4,12]}}", d), "belong to no tensor");
  expect_io_error(dir, st_file("{\"a\":{" + f + ",\"data_offsets\":[0,8]}}", d), "extra bytes");
  expect_io_error(dir, st_file("{\"a\":{" + f + ",\"data_offsets\":[12,20]}}", d), "reach past");
  // Out-of-order entries that do tile the buffer are fine, and come back in data order.
  const Bytes ok = st_file("{\"b\":{" + f + ",\"data_offsets\":[8,16]},\"a\":{" + f + ",\"data_offsets\":[0,8]}}", d);
  const auto c = parse_safetensors(ok.data(), ok.size(), "ok");
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(c.tensors[0].first, "a");
}

TEST(Safetensors, JsonParserEdgeCases) {
  const JsonValue v = parse_json(R"( {"s":"a\u00e9\ud83d\ude00\n","n":[0,-1.5e+3,18446744073709551615,18446744073709551616],"t":true,"z":null} )");
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.members[0].second.text, "a\xc3\xa9\xf0\x9f\x98\x80\n");
  std::uint64_t x = 0;
  EXPECT_TRUE(v.members[1].second.items[2].as_u64(x));
  EXPECT_EQ(x, UINT64_MAX);
  EXPECT_FALSE(v.members[1].second.items[3].as_u64(x));
  EXPECT_FALSE(v.members[1].second.items[1].as_u64(x));
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "tru", "{\"a\":1,}", "\"\xc0\xaf\""})
    EXPECT_THROW(parse_json(bad), JsonError) << bad;
  std::string s;
  append_json_string(s, "q\"\\\x01");
  EXPECT_EQ(s, "\"q\\\"\\\\\\u0001\"");
  EXPECT_EQ(parse_json(s).text, "q\"\\\x01");
}

TEST(SafetensorsTrainingState, ResumeContinuesBitwise) {
  test::ScratchDir dir;
  optim::Adam a(0.01f);
  a.set_clipnorm(1.0f);
  Tensor p = Tensor::from_vector(test::random_uniform(9, -1, 1, test::kSeed), {9});
  for (int s = 0; s < 2; ++s) a.step(p, Tensor::from_vector(test::random_uniform(9, -1, 1, s), {9}));
  const std::string path = training_state_path(dir.file("model.safetensors"));
  EXPECT_EQ(path, dir.file("model.training_state.safetensors"));
  save_training_state(path, a, 4, {{"user", "x"}});
  optim::Adam b(0.5f);
  const TrainingState st = load_training_state(path, b);
  EXPECT_EQ(st.epoch, 4);
  EXPECT_EQ(st.metadata.at("user"), "x");
  EXPECT_EQ(st.metadata.at("optimizer"), "Adam");
  Tensor q = p.clone();
  for (int s = 2; s < 4; ++s) {
    const Tensor g = Tensor::from_vector(test::random_uniform(9, -1, 1, s), {9});
    a.step(p, g);
    b.step(q, g);
  }
  EXPECT_TRUE(test::all_equal(p.to_vector(), q.to_vector()));
  optim::SGD sgd;
  EXPECT_THROW(load_training_state(path, sgd), ValueError);
  save_safetensors(dir.file("w.safetensors"), {{"w", p}});
  EXPECT_THROW(load_training_state(dir.file("w.safetensors"), b), IoError);
}
