//===- OptionParsers.h - attnc's option values, errors named -----*- C++
//-*-===//
//
// cl's own parsers report a bad value as "attnc: for the --threads option:
// 'x' value invalid for integer argument!", to errs() whatever stream the
// parse was given. These say it as every other message of attnc does.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TOOLS_ATTNC_OPTIONPARSERS_H
#define ATTNC_TOOLS_ATTNC_OPTIONPARSERS_H

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <type_traits>

namespace attnc {

/// Returns true (cl's "failed") after printing the error for `option`.
inline bool optionError(const llvm::cl::Option &option, llvm::StringRef what,
                        llvm::StringRef got) {
  llvm::errs() << "attnc: error: --" << option.ArgStr << " " << what
               << "; got '" << got << "'\n";
  return true;
}

/// An integer flag: decimal (or 0x hex) within the type's range; T is int,
/// long long or unsigned long long (cl's parser<long> is final).
template <typename T> class IntegerParser : public llvm::cl::parser<T> {
public:
  using llvm::cl::parser<T>::parser;
  bool parse(llvm::cl::Option &option, llvm::StringRef, llvm::StringRef arg,
             T &value) {
    if (!arg.trim().getAsInteger(0, value))
      return false;
    return optionError(option,
                       std::is_signed_v<T> ? "takes an integer"
                                           : "takes a non-negative integer",
                       arg);
  }
};

/// A flag with named values (--emit=...).
template <typename T> class NamedValueParser : public llvm::cl::parser<T> {
public:
  using llvm::cl::parser<T>::parser;
  bool parse(llvm::cl::Option &option, llvm::StringRef, llvm::StringRef arg,
             T &value) {
    std::string names;
    for (const auto &known : this->Values) {
      if (known.Name == arg) {
        value = known.V.getValue();
        return false;
      }
      names += (names.empty() ? "" : ", ") + known.Name.str();
    }
    return optionError(option, "must be one of " + names, arg);
  }
};

/// A switch, which takes no value or true/false/1/0.
class SwitchParser : public llvm::cl::parser<bool> {
public:
  using llvm::cl::parser<bool>::parser;
  bool parse(llvm::cl::Option &option, llvm::StringRef, llvm::StringRef arg,
             bool &value) {
    if (arg.empty() || arg == "true" || arg == "1")
      return value = true, false;
    if (arg == "false" || arg == "0")
      return value = false, false;
    return optionError(option, "is a switch: give it alone, or =true or =false",
                       arg);
  }
};

template <typename T>
using IntegerOpt = llvm::cl::opt<T, false, IntegerParser<T>>;
using SwitchOpt = llvm::cl::opt<bool, false, SwitchParser>;

} // namespace attnc

#endif // ATTNC_TOOLS_ATTNC_OPTIONPARSERS_H
