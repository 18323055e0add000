#include "a2q/io/json_writer.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <sstream>
#include <string>

using a2q::config_error;
using a2q::io::JsonWriter;
using a2q::io::write_json_atomically;
using a2q_test::read_text;
using a2q_test::ScratchDir;

namespace {
template <class F>
std::string json(F&& f, int indent = 0) {
  std::ostringstream out;
  JsonWriter w(out, indent);
  f(w);
  REQUIRE(w.complete());
  return out.str();
}
} // namespace

TEST_CASE("JsonWriter writes nested structures", "[io][json]") {
  CHECK(json([](JsonWriter& w) { w.begin_object().end_object(); }) == "{}");
  CHECK(json([](JsonWriter& w) { w.begin_array().end_array(); }) == "[]");
  CHECK(json([](JsonWriter& w) {
          w.begin_object();
          w.key("test_accuracy").value(0.91);
          w.key("epochs").value(10);
          w.key("ok").value(true);
          w.key("none").null();
          w.key("layers").begin_array().value("fc1").value("fc2").begin_object().end_object().end_array();
          w.member("nested", "x");
          w.key("empty").begin_array().end_array();
          w.end_object();
        }) == R"({"test_accuracy":0.91,"epochs":10,"ok":true,"none":null,)"
              R"("layers":["fc1","fc2",{}],"nested":"x","empty":[]})");
  CHECK(json([](JsonWriter& w) { w.value(42); }) == "42");
  CHECK(json([](JsonWriter& w) { w.value(nullptr); }) == "null");
  CHECK(json([](JsonWriter& w) { w.begin_array().value('x').value('"').end_array(); }) == R"(["x","\""])");
}

TEST_CASE("JsonWriter escapes strings", "[io][json]") {
  CHECK(json([](JsonWriter& w) { w.value("quote \" backslash \\ slash /"); }) ==
        R"("quote \" backslash \\ slash /")");
  CHECK(json([](JsonWriter& w) { w.value("\b\f\n\r\t"); }) == R"("\b\f\n\r\t")");
  CHECK(json([](JsonWriter& w) { w.value(std::string_view("\x01\x1f\0z", 4)); }) ==
        R"("\u0001\u001f\u0000z")");
  CHECK(json([](JsonWriter& w) { w.value("caf\xc3\xa9 \x7f"); }) == "\"caf\xc3\xa9 \x7f\"");
  CHECK(json([](JsonWriter& w) { w.begin_object().key("a\"b\n").value(1).end_object(); }) ==
        R"({"a\"b\n":1})");
}

TEST_CASE("JsonWriter writes numbers exactly", "[io][json]") {
  CHECK(json([](JsonWriter& w) {
          w.begin_array();
          w.value(std::numeric_limits<std::int64_t>::min());
          w.value(std::numeric_limits<std::uint64_t>::max());
          w.value(std::int8_t{-5}).value(std::uint8_t{200}).value(short{-7});
          w.end_array();
        }) == "[-9223372036854775808,18446744073709551615,-5,200,-7]");
  CHECK(json([](JsonWriter& w) {
          w.begin_array();
          w.value(0.1).value(1.0).value(-2.5).value(1e300).value(0.0).value(1.0 / 3.0);
          w.value(0.1f).value(1e-7f);
          w.value(std::numeric_limits<double>::quiet_NaN()).value(std::numeric_limits<float>::infinity());
          w.end_array();
        }) == "[0.1,1.0,-2.5,1e+300,0.0,0.3333333333333333,0.1,1e-07,null,null]");
  // The shortest form reads back to the same double.
  const double x = 0.123456789012345678;
  std::istringstream in(json([&](JsonWriter& w) { w.value(x); }));
  double back = 0.0;
  in >> back;
  CHECK(back == x);
}

TEST_CASE("JsonWriter indents when asked", "[io][json]") {
  CHECK(json(
            [](JsonWriter& w) {
              w.begin_object();
              w.key("a").value(1);
              w.key("b").begin_array().value(true).value("x").end_array();
              w.key("c").begin_object().end_object();
              w.end_object();
            },
            2) == "{\n  \"a\": 1,\n  \"b\": [\n    true,\n    \"x\"\n  ],\n  \"c\": {}\n}");
}

TEST_CASE("JsonWriter rejects misuse", "[io][json]") {
  std::ostringstream out;
  {
    JsonWriter w(out);
    w.begin_object();
    CHECK_THROWS_AS(w.value(1), config_error);    // value without a key
    CHECK_THROWS_AS(w.end_array(), config_error); // wrong closer
    w.key("k");
    CHECK_THROWS_AS(w.key("again"), config_error); // key after key
    CHECK_THROWS_AS(w.end_object(), config_error); // dangling key
    w.value(1).end_object();
    CHECK(w.complete());
    CHECK_THROWS_AS(w.value(2), config_error);     // second root
    CHECK_THROWS_AS(w.end_object(), config_error); // nothing open
  }
  {
    JsonWriter w(out);
    CHECK_THROWS_WITH(w.key("k"), "JsonWriter: key(\"k\") outside an object");
    w.begin_array();
    CHECK_THROWS_AS(w.key("k"), config_error);
    CHECK_FALSE(w.complete());
    CHECK(w.depth() == 1);
  }
}

TEST_CASE("write_json_atomically writes a complete document or nothing", "[io][json]") {
  ScratchDir dir;
  const auto path = dir / "metrics.json";
  write_json_atomically(path, [](JsonWriter& w) {
    w.begin_object();
    w.key("test_accuracy").value(0.91);
    w.end_object();
  });
  CHECK(read_text(path) == "{\n  \"test_accuracy\": 0.91\n}\n");
  CHECK_THROWS_WITH(write_json_atomically(path, [](JsonWriter& w) { w.begin_object().key("x"); }),
                    Catch::Matchers::Contains("incomplete (1 unclosed container(s))"));
  CHECK_THROWS_WITH(write_json_atomically(path, [](JsonWriter&) {}),
                    Catch::Matchers::Contains("no value written"));
  CHECK(read_text(path) == "{\n  \"test_accuracy\": 0.91\n}\n");
  CHECK(dir.entries() == std::vector<std::string>{"metrics.json"});
}
