// Two translation units include every header, header-only: a definition that is not inline would make
// this program fail to link (multiple definitions), and every definition compiles in both units.
#include "a2q/a2q.hpp"
#include "a2q/core/eigen_view.hpp"
#include "a2q/data/cifar10.hpp"
#include "a2q/data/dataset.hpp"
#include "a2q/data/idx.hpp"
#include "a2q/data/loader.hpp"
#include "a2q/train/train.hpp"

#include <catch2/catch.hpp>

static_assert(A2Q_HEADER_ONLY == 1, "the core tests build a2q header-only");

int a2q_second_unit_value();

TEST_CASE("every header links into two translation units", "[core][odr]") {
  CHECK(a2q_second_unit_value() == a2q::datatype_bound_bits(576, 8, 8, false));
  CHECK(a2q::version == A2Q_VERSION_MAJOR * 10000 + A2Q_VERSION_MINOR * 100 + A2Q_VERSION_PATCH);
}
