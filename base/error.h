// The one error shape of the host side: a function that can fail for a reason a user must read
// returns Expected<T>, a value or an Error. An Error names where the bad input was (a file and
// line, an option, an address, a field) and what was wrong with it, so every front end prints it
// the same way: "where: what". Exceptions stay for broken invariants (bugs), never for input.
#pragma once

#include <cstdlib>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace readerlab {

struct Error {
  std::string where;  // "case.lua:12: lab.send", "--listen", "qemu", may be empty
  std::string what;   // what was wrong, in the user's words

  // "where: what", or "what" alone when nothing is known about the place.
  std::string message() const { return where.empty() ? what : where + ": " + what; }

  // The same error seen from an enclosing place: "outer: where: what".
  Error within(const std::string& outer) const { return Error{where.empty() ? outer : outer + ": " + where, what}; }
};

inline Error error(std::string where, std::string what) { return Error{std::move(where), std::move(what)}; }

template <class T>
class [[nodiscard]] Expected {
 public:
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Error>, "an Error is not a value");

  Expected(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Expected(Error failure) : state_(std::in_place_index<1>, std::move(failure)) {}

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  // Reading the value of a failure is a bug in the caller: it ends the process at once rather
  // than hand back a value that was never made.
  T& value() & { return has_value() ? std::get<0>(state_) : fail_read(); }
  const T& value() const& { return has_value() ? std::get<0>(state_) : fail_read(); }
  T&& value() && { return std::move(has_value() ? std::get<0>(state_) : fail_read()); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(state_) : static_cast<T>(std::forward<U>(fallback));
  }

  const Error& error() const& {
    if (has_value()) std::abort();
    return std::get<1>(state_);
  }

 private:
  [[noreturn]] static T& fail_read() { std::abort(); }
  std::variant<T, Error> state_;
};

// Success without a value, or an Error.
template <>
class [[nodiscard]] Expected<void> {
 public:
  Expected() = default;
  Expected(Error failure) : failure_(std::move(failure)), failed_(true) {}

  bool has_value() const { return !failed_; }
  explicit operator bool() const { return has_value(); }

  const Error& error() const& {
    if (!failed_) std::abort();
    return failure_;
  }

 private:
  Error failure_;
  bool failed_ = false;
};

using Status = Expected<void>;

}  // namespace readerlab
