// Fuzz harness: sweep plans (DIR/plan.json, which `a2q sweep --collect` reads, possibly written on another
// machine). A plan that parses must survive being written and parsed again unchanged.

#include "fuzz_target.hpp"

#include <a2q/sweep/plan.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  a2q_fuzz::expect_clear_error([&] {
    const std::filesystem::path dir = a2q_fuzz::scratch_path("sweep_plan");
    const a2q::sweep::Plan plan = a2q::sweep::parse_plan(text, dir, "plan.json");
    a2q::sweep::write_plan(plan.spec, plan.points);
    std::ifstream file(dir / "plan.json", std::ios::binary);
    std::stringstream written;
    written << file.rdbuf();
    const a2q::sweep::Plan again = a2q::sweep::parse_plan(written.str(), dir, "plan.json");
    if (again.points.size() != plan.points.size() || again.spec.acc_bits != plan.spec.acc_bits ||
        again.spec.train_args != plan.spec.train_args ||
        again.spec.constrained.size() != plan.spec.constrained.size())
      std::abort(); // the plan does not survive a round trip
    for (std::size_t i = 0; i < plan.points.size(); ++i)
      if (again.points[i].id != plan.points[i].id || again.points[i].command != plan.points[i].command)
        std::abort();
  });
  return 0;
}
