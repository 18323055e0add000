// Two translation units include the umbrella header: a non-inline definition in any header would
// make this program fail to link (multiple definitions).
#include "a2q/a2q.hpp"

#include <catch2/catch.hpp>

int a2q_second_unit_value();

TEST_CASE("the umbrella header links into two translation units", "[core][odr]") {
  CHECK(a2q_second_unit_value() == a2q::datatype_bound_bits(576, 8, 8, false));
  CHECK(a2q::version == A2Q_VERSION_MAJOR * 10000 + A2Q_VERSION_MINOR * 100 + A2Q_VERSION_PATCH);
}
