#pragma once
// Option structs in the style of the LibTorch C++ frontend: a field with a default and a
// chainable setter, e.g. `KnnOptions().k(20).temperature(0.07)`.
#define PRETEXT_ARG(T, name)                         \
 public:                                             \
  inline auto name(const T& new_##name)->decltype(*this) { \
    this->name##_ = new_##name;                      \
    return *this;                                    \
  }                                                  \
  inline const T& name() const noexcept { return this->name##_; } \
  inline T& name() noexcept { return this->name##_; }             \
                                                     \
 private:                                            \
  T name##_
