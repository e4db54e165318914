// CPU tests of the tensor layer: shapes, views, dtype casts, devices, errors.
#include <gtest/gtest.h>

#include "tensor/ops.h"
#include "tensor/tensor.h"
#include "test_util.h"

using namespace tilenet;

TEST(Shape, BasicsAndNegativeIndex) {
  Shape s{2, 3, 4};
  EXPECT_EQ(s.ndim(), 3);
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s[-1], 4);
  EXPECT_EQ(s.rows(), 6);
  EXPECT_EQ(s.cols(), 4);
  EXPECT_EQ(s.str(), "(2, 3, 4)");
  EXPECT_EQ(Shape{5}.str(), "(5,)");
  EXPECT_THROW(s[3], ShapeError);
  EXPECT_THROW((Shape{1, 2, 3, 4, 5, 6}), ShapeError);
  EXPECT_THROW((Shape{2, -1}), ShapeError);
}

TEST(Tensor, FromVectorRoundTripAndFull) {
  const auto v = test::random_uniform(24, -3, 3, test::kSeed);
  Tensor t = Tensor::from_vector(v, {2, 3, 4});
  EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(t.dtype(), DType::f32);
  EXPECT_TRUE(t.device().is_cpu());
  EXPECT_TRUE(test::all_equal(t.to_vector(), v));
  Tensor f = Tensor::full({3, 5}, 2.5f);
  for (float x : f.to_vector()) EXPECT_EQ(x, 2.5f);
  EXPECT_THROW(Tensor::from_vector(v, {5, 5}), ShapeError);
}

TEST(Tensor, ReshapeSharesStorageAndInfers) {
  Tensor t = Tensor::uniform({4, 6}, -1, 1, 7);
  Tensor r = t.reshape({2, -1, 3});
  EXPECT_EQ(r.shape(), (Shape{2, 4, 3}));
  EXPECT_TRUE(r.shares_storage_with(t));
  EXPECT_THROW(t.reshape({5, -1}), ShapeError);
  EXPECT_THROW(t.reshape({-1, -1}), ShapeError);
  EXPECT_THROW(t.reshape({7, 7}), ShapeError);
}

TEST(Tensor, SliceIsAViewOfRows) {
  const auto v = test::random_uniform(5 * 3, -1, 1, 11);
  Tensor t = Tensor::from_vector(v, {5, 3});
  Tensor s = t.slice(1, 4);
  EXPECT_EQ(s.shape(), (Shape{3, 3}));
  const auto sv = s.to_vector();
  for (int i = 0; i < 9; ++i) EXPECT_EQ(sv[i], v[3 + i]);
  fill_(s, 9.0f);
  const auto after = t.to_vector();
  EXPECT_EQ(after[0], v[0]);
  EXPECT_EQ(after[3], 9.0f);
  EXPECT_EQ(after[14], v[14]);
  EXPECT_THROW(t.slice(3, 6), ShapeError);
  EXPECT_THROW(t.slice(-1, 2), ShapeError);
}

TEST(Tensor, CastF32F16RoundTripIsRoundToNearestEven) {
  const auto v = test::random_uniform(1000, -100, 100, 3);
  Tensor h = Tensor::from_vector(v, {1000}).to(DType::f16);
  EXPECT_EQ(h.dtype(), DType::f16);
  EXPECT_EQ(h.nbytes(), 2000u);
  EXPECT_TRUE(test::all_equal(h.to_vector(), test::round_to_half(v)));
}

TEST(Tensor, TypedAccessChecksDtype) {
  Tensor t = Tensor::zeros({3}, DType::f16);
  EXPECT_NO_THROW(t.data<half>());
  try {
    t.data<float>();
    FAIL() << "expected DtypeError";
  } catch (const DtypeError& e) {
    EXPECT_NE(std::string(e.what()).find("f16"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("f32"), std::string::npos) << e.what();
  }
}

TEST(Tensor, UndefinedTensorErrors) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_THROW(t.raw_data(), ValueError);
  EXPECT_THROW(t.clone(), ValueError);
  EXPECT_EQ(t.str(), "Tensor(undefined)");
}

TEST(Tensor, ItemAndPrinting) {
  Tensor t = Tensor::full({1}, 4.0f);
  EXPECT_EQ(t.item(), 4.0f);
  EXPECT_THROW(Tensor::zeros({2}).item(), ShapeError);
  const std::string s = Tensor::zeros({2, 2}).str();
  EXPECT_NE(s.find("shape=(2, 2)"), std::string::npos) << s;
  EXPECT_NE(s.find("device=cpu"), std::string::npos) << s;
}

TEST(Tensor, CopyFromChecksShapeAndDtype) {
  Tensor a = Tensor::zeros({2, 3});
  Tensor b = Tensor::uniform({2, 3}, 0, 1, 5);
  a.copy_from(b);
  EXPECT_TRUE(test::all_equal(a.to_vector(), b.to_vector()));
  Tensor c = Tensor::zeros({3, 2});
  EXPECT_THROW(a.copy_from(c), ShapeError);
  Tensor d = Tensor::zeros({2, 3}, DType::f16);
  EXPECT_THROW(a.copy_from(d), DtypeError);
}

TEST(Device, CudaTensorWithoutGpuThrowsClearError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present; this checks the no-GPU message";
  try {
    Tensor::zeros({4}, DType::f32, Device::cuda());
    FAIL() << "expected DeviceError";
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("no GPU"), std::string::npos) << e.what();
  }
  EXPECT_EQ(default_device(), Device::cpu());
}

TEST(Device, NamesAndEquality) {
  EXPECT_EQ(Device::cpu().str(), "cpu");
  EXPECT_EQ(Device::cuda(1).str(), "cuda:1");
  EXPECT_NE(Device::cuda(0), Device::cuda(1));
  EXPECT_EQ(Device::cpu(), Device::cpu());
  EXPECT_NE(std::string(built_cuda_architectures()), "");
}
