#include <prunelab/params.hpp>

#include <gtest/gtest.h>

using namespace prunelab;

TEST(Params, TypedAccessAndErrors) {
  Params p({{"p", 2.0}, {"n", int64_t{3}}, {"flag", true}, {"name", std::string("x")},
            {"steps", std::vector<double>{0.3, 0.5}}});
  EXPECT_DOUBLE_EQ(p.get_number("p"), 2.0);
  EXPECT_DOUBLE_EQ(p.get_number("n"), 3.0);  // ints read as numbers
  EXPECT_EQ(p.get_int("n"), 3);
  EXPECT_TRUE(p.get_bool("flag"));
  EXPECT_EQ(p.get_string("name"), "x");
  EXPECT_EQ(p.get_number_list("steps"), (std::vector<double>{0.3, 0.5}));
  EXPECT_THROW(p.get_int("p"), ParamError);
  EXPECT_THROW(p.get_number("missing"), ParamError);
}

TEST(Params, CanonicalJson) {
  EXPECT_EQ(value_to_json(Value(0.1)), "0.1");
  EXPECT_EQ(value_to_json(Value(5e-4)), "0.0005");
  EXPECT_EQ(value_to_json(Value(int64_t{7})), "7");
  EXPECT_EQ(value_to_json(Value(true)), "true");
  EXPECT_EQ(value_to_json(Value(std::string("a\"b"))), "\"a\\\"b\"");
  EXPECT_EQ(value_to_json(Value(std::vector<double>{0.3, 0.5})), "[0.3,0.5]");
}
