// a2q::compiled: the data set readers and the loader, compiled once (see a2q/core/config.hpp).

#include "a2q/data/cifar10.ipp"
#include "a2q/data/dataset.ipp"
#include "a2q/data/idx.ipp"
#include "a2q/data/loader.ipp"
