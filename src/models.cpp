// a2q::compiled: the model zoo and recipes, compiled once (see a2q/core/config.hpp).

#include "a2q/models/quant_zoo.ipp"
#include "a2q/models/recipe.ipp"
#include "a2q/models/zoo.ipp"
