// a2q::compiled: thread control, compiled once (see a2q/core/config.hpp).

#include "a2q/core/parallel.ipp"
