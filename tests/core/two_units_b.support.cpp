#include "a2q/a2q.hpp"
#include "a2q/core/eigen_view.hpp"
#include "a2q/data/cifar10.hpp"
#include "a2q/data/dataset.hpp"
#include "a2q/data/idx.hpp"
#include "a2q/data/loader.hpp"
#include "a2q/train/train.hpp"

int a2q_second_unit_value() {
  return a2q::datatype_bound_bits(576, 8, 8, false);
}
