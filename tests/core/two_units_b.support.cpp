#include "a2q/a2q.hpp"

int a2q_second_unit_value() {
  return a2q::datatype_bound_bits(576, 8, 8, false);
}
