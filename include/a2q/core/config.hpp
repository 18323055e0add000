#pragma once
/// @file
/// How a2q is compiled. By default a2q is header-only: every header carries its definitions, and each
/// translation unit that includes it compiles the functions it uses. Defining A2Q_SEPARATE_COMPILATION
/// (linking the CMake target a2q::compiled does this) makes the headers declarations only: the
/// definitions, kept in the `.ipp` file beside each header, are compiled once into the a2q::compiled
/// library. The code is the same either way; only where it is compiled changes.
///
/// A header declares a function defined in its `.ipp` file with A2Q_DECL and includes the `.ipp` at its
/// end when A2Q_HEADER_ONLY is 1. A2Q_DECL is `inline` in header-only builds (so that several
/// translation units may hold the definition) and empty in separate compilation (one definition, in
/// the library).

#if defined(A2Q_SEPARATE_COMPILATION)
#define A2Q_HEADER_ONLY 0
#define A2Q_DECL
#else
#define A2Q_HEADER_ONLY 1
#define A2Q_DECL inline
#endif
