// Tests for a2q/sweep/: the plan (baseline bits, skipped points, job lines, plan file), the Pareto front,
// and a point's proof and weight summary on real integer models.

#include "a2q/engine/model_conversion.hpp"
#include "a2q/models/quant_zoo.hpp"
#include "a2q/quant/bounds.hpp"
#include "a2q/sweep/plan.hpp"
#include "a2q/sweep/results.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using a2q::sweep::ConstrainedLayer;
using a2q::sweep::Method;
using a2q::sweep::Point;
using a2q::sweep::PointResult;

namespace {

std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("a2q-sweep-test-" + name);
  std::filesystem::remove_all(dir);
  return dir;
}

a2q::sweep::Spec mlp_spec(const std::filesystem::path& dir) {
  a2q::sweep::Spec spec;
  spec.model = "mlp";
  spec.acc_bits = {9, 12, 16};
  spec.methods = {Method::none, Method::baseline, Method::a2q, Method::a2q_plus};
  spec.bits = {4, 8};
  spec.train_args = {"--epochs", "2", "--data", "/data/with space"};
  spec.program = "/opt/a2q";
  spec.directory = dir;
  spec.constrained = {{"fc2", 256, false}};
  return spec;
}

} // namespace

TEST_CASE("the baseline takes the largest M = N whose data-type bound fits P in every layer",
          "[sweep][plan]") {
  const std::vector<ConstrainedLayer> mlp = {{"fc2", 256, false}};
  for (int P = 8; P <= 32; ++P) {
    const auto b = a2q::sweep::baseline_bits(mlp, P);
    if (b) {
      CHECK(a2q::datatype_bound_bits(256, *b, *b, false) <= P);
      if (*b < 8) // one bit more no longer fits: the largest
        CHECK(a2q::datatype_bound_bits(256, *b + 1, *b + 1, false) > P);
    } else {
      CHECK(a2q::datatype_bound_bits(256, 2, 2, false) > P);
    }
  }
  CHECK(a2q::sweep::baseline_bits(mlp, 16) == 3);
  CHECK(a2q::sweep::baseline_bits(mlp, 25) == 8);
  CHECK(a2q::sweep::baseline_bits(mlp, 40) == 8); // never above 8
  CHECK_FALSE(a2q::sweep::baseline_bits(mlp, 12).has_value());
  // Every layer must fit: a long dot product decides.
  const std::vector<ConstrainedLayer> two = {{"dw", 9, false}, {"pw", 1152, false}};
  const auto b = a2q::sweep::baseline_bits(two, 16);
  REQUIRE(b.has_value());
  CHECK(a2q::datatype_bound_bits(1152, *b, *b, false) <= 16);
  CHECK(a2q::datatype_bound_bits(1152, *b + 1, *b + 1, false) > 16);
  CHECK(a2q::sweep::baseline_bits(std::vector<ConstrainedLayer>{{"dw", 9, false}}, 16) > *b);
}

TEST_CASE("the plan has float once, a baseline per P and A2Q points per bit width, with reasons for skips",
          "[sweep][plan]") {
  const auto spec = mlp_spec(fresh_dir("plan"));
  const std::vector<Point> points = a2q::sweep::plan(spec);
  REQUIRE(points.size() == 1 + 3 * (1 + 2 + 2));
  CHECK(points[0].id == "float");
  CHECK(points[0].command[0] == "/opt/a2q");
  for (const Point& p : points) {
    if (p.method == Method::baseline) {
      CHECK(p.trained() == (p.acc_bits == 16));
      if (!p.trained())
        CHECK(p.skipped.find("data-type bound") != std::string::npos);
    }
    // P = 9 with 8-bit inputs leaves A2Q an L1 budget below one (255/256): every weight would be zero.
    // A2Q+'s zero-centred budget is 2.
    if (p.method == Method::a2q_plus && p.acc_bits == 9)
      CHECK(p.trained());
    if (p.method == Method::a2q && p.acc_bits == 9 && p.act_bits == 8) {
      CHECK_FALSE(p.trained());
      CHECK(p.skipped.find("L1 budget") != std::string::npos);
    }
    if (p.trained() && p.method != Method::none) {
      const std::string line = a2q::sweep::shell_line(p.command);
      CHECK(line.find("--acc-bits " + std::to_string(p.acc_bits)) != std::string::npos);
      CHECK(line.find("--weight-bits " + std::to_string(p.weight_bits)) != std::string::npos);
      CHECK(line.find("--data '/data/with space'") != std::string::npos);
      CHECK(line.find(" -o ") != std::string::npos);
    }
  }
  // The paper's protocol: the float job writes a checkpoint that every other job starts from.
  auto from_float = spec;
  from_float.init_from_float = true;
  const std::vector<Point> chained = a2q::sweep::plan(from_float);
  const std::string checkpoint =
      a2q::sweep::float_checkpoint(std::filesystem::absolute(spec.directory)).string();
  REQUIRE(chained[0].method == Method::none);
  CHECK(a2q::sweep::shell_line(chained[0].command).find("--checkpoint " + checkpoint) != std::string::npos);
  for (std::size_t i = 1; i < chained.size(); ++i)
    if (chained[i].trained())
      CHECK(a2q::sweep::shell_line(chained[i].command).find("--init-from " + checkpoint) !=
            std::string::npos);
  from_float.methods = {Method::a2q};
  CHECK_THROWS_WITH(a2q::sweep::plan(from_float), Catch::Contains("add float to --methods"));
  CHECK(a2q::sweep::shell_quote("it's") == "'it'\\''s'");
  CHECK(a2q::sweep::shell_quote("a2q+") == "a2q+");
  CHECK(a2q::sweep::shell_quote("") == "''");
}

TEST_CASE("plan.json reads back, jobs.txt has one line per trained point, bad plans are refused",
          "[sweep][plan]") {
  const auto dir = fresh_dir("files");
  const auto spec = mlp_spec(dir);
  const auto points = a2q::sweep::plan(spec);
  a2q::sweep::write_plan(spec, points);
  const a2q::sweep::Plan back = a2q::sweep::read_plan(dir);
  REQUIRE(back.points.size() == points.size());
  for (std::size_t i = 0; i < points.size(); ++i) {
    CHECK(back.points[i].id == points[i].id);
    CHECK(back.points[i].command == points[i].command);
    CHECK(back.points[i].skipped == points[i].skipped);
  }
  CHECK(back.spec.constrained.size() == 1);
  CHECK(back.spec.constrained[0].fan_in == 256);
  std::ifstream jobs(dir / "jobs.txt");
  std::size_t lines = 0;
  for (std::string line; std::getline(jobs, line);)
    ++lines;
  std::size_t trained = 0;
  for (const Point& p : points)
    trained += p.trained();
  CHECK(lines == trained);

  std::ofstream(dir / "plan.json") << "{\"a2q_sweep_plan\": 1, \"model\": 3}";
  CHECK_THROWS_WITH(a2q::sweep::read_plan(dir),
                    Catch::Contains("plan.json") && Catch::Contains("'model' must be a string"));
  std::ofstream(dir / "plan.json") << "{\"a2q_sweep_plan\": 1, \"model\": \"mlp\", \"acc_bits\": [1e300]}";
  CHECK_THROWS_WITH(a2q::sweep::read_plan(dir), Catch::Contains("'acc_bits' must hold integers in [2, 64]"));
  std::ofstream(dir / "plan.json") << "{\"a2q_sweep_plan\": 1, \"model\"";
  CHECK_THROWS_WITH(a2q::sweep::read_plan(dir), Catch::Contains("not JSON"));
  CHECK_THROWS_WITH(a2q::sweep::parse_plan("[]", dir, "x.json"), Catch::Contains("x.json: not a sweep plan"));
  std::filesystem::remove(dir / "plan.json");
  CHECK_THROWS_WITH(a2q::sweep::read_plan(dir), Catch::Contains("cannot be read"));
  CHECK_THROWS_WITH(a2q::sweep::parse_int_list("16:10", "--acc-bits", 2, 32), Catch::Contains("backwards"));
  CHECK_THROWS_WITH(a2q::sweep::parse_int_list("1x", "--bits", 2, 8), Catch::Contains("not an integer"));
  CHECK_THROWS_WITH(a2q::sweep::parse_methods("a2q,a3q"), Catch::Contains("a3q"));
  CHECK(a2q::sweep::parse_int_list("10:12", "--acc-bits", 2, 32) == std::vector<int>{10, 11, 12});
  CHECK(a2q::sweep::parse_int_list("8,4,6,4", "--bits", 2, 8) == std::vector<int>{4, 6, 8});
}

TEST_CASE("a method's front at P is its best proven point at most P bits wide", "[sweep][front]") {
  const auto point = [](Method m, int P, int bits, double metric, bool proven) {
    PointResult r;
    r.point.method = m;
    r.point.acc_bits = P;
    r.point.weight_bits = r.point.act_bits = bits;
    r.point.id = std::to_string(P) + "-" + std::to_string(bits);
    r.metric = metric;
    r.proven = proven;
    return r;
  };
  const std::vector<PointResult> results = {
      point(Method::a2q, 12, 8, 0.50, true), point(Method::a2q, 12, 4, 0.80, true),
      point(Method::a2q, 13, 8, 0.70, true),  // dominated by the narrower W4A4 point
      point(Method::a2q, 14, 8, 0.95, false), // unproven: never on a front
      point(Method::a2q_plus, 14, 8, 0.99, true)};
  const std::vector<int> widths = {12, 13, 14};
  const auto front = a2q::sweep::pareto_front(results, Method::a2q, widths);
  REQUIRE(front.size() == 3);
  CHECK(front[0] == std::pair<int, std::size_t>{12, 1});
  CHECK(front[1] == std::pair<int, std::size_t>{13, 1});
  CHECK(front[2] == std::pair<int, std::size_t>{14, 1});
  const auto plus = a2q::sweep::pareto_front(results, Method::a2q_plus, widths);
  REQUIRE(plus.size() == 1);
  CHECK(plus[0].first == 14);
}

TEST_CASE("a point's proof and weight summary come from its integer layers", "[sweep][results]") {
  a2q::Rng rng(3);
  a2q::Tensor<float> x(a2q::Shape{16, 1, 28, 28});
  for (float& v : x)
    v = static_cast<float>(rng.uniform_int(0, 255)) / 255.0f;
  const auto convert = [&](a2q::quant::QuantMethod method, int P) {
    a2q::models::QuantPolicy policy;
    policy.method = method;
    policy.acc_bits = P;
    auto model = a2q::models::quant_mnist_mlp(policy, rng);
    const a2q::NoGradGuard no_grad;
    model->train();
    for (int i = 0; i < 4; ++i)
      (void)model->forward(a2q::Var(x));
    model->eval();
    return a2q::engine::convert_to_integer(*model, a2q::Shape{1, 28, 28});
  };
  const std::vector<ConstrainedLayer> hidden = {{"fc2", 256, false}};
  Point p;
  p.method = Method::a2q_plus;
  const PointResult safe =
      a2q::sweep::summarize_point(p, convert(a2q::quant::QuantMethod::a2q_plus, 13), hidden);
  CHECK(safe.proven);
  CHECK(safe.hidden.weights == 256 * 256);
  CHECK(safe.model.weights == 784 * 256 + 256 * 256 + 256 * 10);
  CHECK(safe.hidden.sparsity() > 0.5); // a 13-bit budget forces most weights to zero
  CHECK(safe.hidden.dense_bits == 256 * 256 * 8);
  CHECK(safe.hidden.compression() > 1.5);
  CHECK(safe.luts > 0);
  CHECK(safe.luts < safe.luts_p32);
  // Negative control: a W8A8 baseline claiming P = 13 is not proven.
  p.method = Method::baseline;
  const PointResult unsafe =
      a2q::sweep::summarize_point(p, convert(a2q::quant::QuantMethod::baseline, 13), hidden);
  CHECK_FALSE(unsafe.proven);
  CHECK(unsafe.hidden.sparsity() < 0.1);
}
