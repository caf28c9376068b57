// Attribute parsing shared by all ops. MXNet hands attributes over as the
// strings Python formatted ("(3, 3)", "True", "0.0625"); every parse failure
// becomes an MXNetError that names the op, the attribute and what was expected.
#pragma once
#include <cerrno>
#include <cmath>
#include <ostream>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "mxnet/lib_api.h"

namespace dcnops {

using Attrs = std::unordered_map<std::string, std::string>;
using mxnet::ext::MXReturnValue;
using mxnet::ext::MX_FAIL;
using mxnet::ext::MX_SUCCESS;

// lib_api keeps every error message ever added (MXerrorMsgs has no clear), and MXNet prints all of them
// with each new failure: the second mistake's message began with the first one's. The vector is private;
// the explicit-instantiation rule (access is not checked there) lets us reach it without patching lib_api.
namespace detail {
using ErrorVec = std::vector<std::stringstream*> mxnet::ext::MXerrorMsgs::*;
struct ErrorMsgsTag { friend ErrorVec error_vec(ErrorMsgsTag); };
template <ErrorVec M>
struct ErrorMsgsAccess { friend ErrorVec error_vec(ErrorMsgsTag) { return M; } };
template struct ErrorMsgsAccess<&mxnet::ext::MXerrorMsgs::messages>;
ErrorVec error_vec(ErrorMsgsTag);

// A new failure starts a new message list: MXNet read the previous failure's messages right after it.
inline std::stringstream& fresh_error(const char* file, int line) {
  auto* msgs = mxnet::ext::MXerrorMsgs::get();
  auto& vec = msgs->*error_vec(ErrorMsgsTag{});
  for (auto* m : vec) delete m;
  vec.clear();
  return msgs->add(file, line);
}
}  // namespace detail

#define DCN_ERROR(op) ::dcnops::detail::fresh_error(__FILE__, __LINE__) << op << ": "

// Reads typed attributes of one op; remembers the first error.
class AttrReader {
 public:
  AttrReader(const char* op, const Attrs& attrs) : op_(op), attrs_(attrs) {}

  // Fails on keys the op does not know (misspellings must not pass silently).
  // Hidden attributes (MXNet's "__lr_mult__" etc.) are ignored.
  bool check_known(const std::set<std::string>& known) {
    for (const auto& kv : attrs_) {
      if (kv.first.size() >= 2 && kv.first.compare(0, 2, "__") == 0) continue;
      if (!known.count(kv.first)) {
        std::string names;
        for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
        fail() << "unknown attribute '" << kv.first << "' (known: " << names << ")";
        return false;
      }
    }
    return true;
  }

  bool has(const char* key) const { return attrs_.count(key) > 0; }

  // Integer tuple such as "(3, 3)", "[2,2]", "3" or "()" (empty).
  std::vector<int64_t> tuple(const char* key, const std::vector<int64_t>& dflt, bool required = false) {
    auto it = attrs_.find(key);
    if (it == attrs_.end()) {
      if (required) fail() << "attribute '" << key << "' is required";
      return dflt;
    }
    std::vector<int64_t> out;
    const std::string& s = it->second;
    size_t i = 0;
    while (i < s.size()) {
      char ch = s[i];
      if (ch == '(' || ch == ')' || ch == '[' || ch == ']' || ch == ',' || ch == ' ' || ch == 'L') {
        ++i;
        continue;
      }
      char* end = nullptr;
      errno = 0;
      long long v = std::strtoll(s.c_str() + i, &end, 10);
      if (end == s.c_str() + i) {
        fail() << "attribute '" << key << "' must be a tuple of integers, got '" << s << "'";
        return dflt;
      }
      if (!in_range(key, s, v)) return dflt;
      out.push_back(v);
      i = end - s.c_str();
    }
    return out;
  }

  int64_t integer(const char* key, int64_t dflt, bool required = false) {
    auto it = attrs_.find(key);
    if (it == attrs_.end()) {
      if (required) fail() << "attribute '" << key << "' is required";
      return dflt;
    }
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (end == it->second.c_str() || !rest_blank(end)) {
      fail() << "attribute '" << key << "' must be an integer, got '" << it->second << "'";
      return dflt;
    }
    if (!in_range(key, it->second, v)) return dflt;
    return v;
  }

  double real(const char* key, double dflt, bool required = false) {
    auto it = attrs_.find(key);
    if (it == attrs_.end()) {
      if (required) fail() << "attribute '" << key << "' is required";
      return dflt;
    }
    char* end = nullptr;
    double v = std::strtod(it->second.c_str(), &end);
    if (end == it->second.c_str() || !rest_blank(end) || !std::isfinite(v)) {
      fail() << "attribute '" << key << "' must be a finite number, got '" << it->second << "'";
      return dflt;
    }
    return v;
  }

  bool boolean(const char* key, bool dflt) {
    auto it = attrs_.find(key);
    if (it == attrs_.end()) return dflt;
    const std::string& s = it->second;
    if (s == "True" || s == "true" || s == "1") return true;
    if (s == "False" || s == "false" || s == "0") return false;
    fail() << "attribute '" << key << "' must be True or False, got '" << s << "'";
    return dflt;
  }

  std::string str(const char* key, const std::string& dflt) {
    auto it = attrs_.find(key);
    return it == attrs_.end() ? dflt : it->second;
  }

  // Starts an error message; the caller streams the details.
  std::ostream& fail() {
    ok_ = false;
    return DCN_ERROR(op_);
  }
  bool ok() const { return ok_; }
  const char* op() const { return op_; }

 private:
  // Every integer attribute (sizes, strides, pads, counts) must fit a 32-bit int: larger values wrap in
  // shape arithmetic (a pad of 2^31 gave a wrong output shape). Call right after strtoll (errno).
  bool in_range(const char* key, const std::string& text, long long v) {
    if (errno == ERANGE || v > kMaxAttr || v < -kMaxAttr) {
      fail() << "attribute '" << key << "' = '" << text << "' is out of range (each value must be within +-"
             << kMaxAttr << ")";
      return false;
    }
    return true;
  }
  static constexpr long long kMaxAttr = 2147483647LL;
  static bool rest_blank(const char* p) {
    while (*p == ' ') ++p;
    return *p == '\0';
  }
  const char* op_;
  const Attrs& attrs_;
  bool ok_ = true;
};

// Shape helpers for inferShape: MXNet marks unknown dims as (unsigned)-1.
constexpr unsigned kUnknownDim = 0xFFFFFFFFu;
using Shape = std::vector<unsigned int>;

inline bool shape_known(const Shape& s) {
  if (s.empty()) return false;
  for (unsigned d : s)
    if (d == kUnknownDim || d == 0) return false;
  return true;
}

inline std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    out += (i ? ", " : "") + (s[i] == kUnknownDim ? std::string("?") : std::to_string(s[i]));
  }
  return out + (s.size() == 1 ? ",)" : ")");
}

inline std::string shape_str(const std::vector<int64_t>& s) {
  Shape u(s.begin(), s.end());
  return shape_str(u);
}

// Fills unknown entries of `have` from `want`, or reports a mismatch.
// Returns false (with an error message) when the known parts disagree.
inline bool unify_shape(const char* op, const char* arg, Shape* have, const Shape& want,
                        const char* meaning) {
  if (have->empty()) {
    *have = want;
    return true;
  }
  bool match = have->size() == want.size();
  for (size_t i = 0; match && i < want.size(); ++i) {
    if ((*have)[i] != kUnknownDim && (*have)[i] != 0 && (*have)[i] != want[i]) match = false;
  }
  if (!match) {
    DCN_ERROR(op) << "input '" << arg << "' has shape " << shape_str(*have) << ", expected "
                  << shape_str(want) << " (" << meaning << ")";
    return false;
  }
  *have = want;
  return true;
}

inline const char* dtype_name(int t) {
  switch (t) {
    case 0: return "float32";
    case 1: return "float64";
    case 2: return "float16";
    case 3: return "uint8";
    case 4: return "int32";
    case 5: return "int8";
    case 6: return "int64";
    default: return "unknown";
  }
}

// All inputs share one floating dtype (float32, float64, or float16, which
// only the GPU kernels run: the CPU forward rejects it); outputs follow it.
inline MXReturnValue infer_float_types(const char* op, const std::vector<const char*>& names,
                                       std::vector<int>* in, std::vector<int>* out) {
  int t = -1;
  for (size_t i = 0; i < in->size(); ++i) {
    int ti = (*in)[i];
    if (ti < 0) continue;
    if (ti != 0 && ti != 1 && ti != 2) {
      DCN_ERROR(op) << "input '" << names[i] << "' has dtype " << dtype_name(ti)
                    << ", expected float32 or float64 (or float16 on gpu)";
      return MX_FAIL;
    }
    if (t < 0) t = ti;
    if (ti != t) {
      DCN_ERROR(op) << "input '" << names[i] << "' has dtype " << dtype_name(ti)
                    << " but earlier inputs are " << dtype_name(t) << "; all inputs must share one dtype";
      return MX_FAIL;
    }
  }
  for (int& o : *out) {
    if (o >= 0 && t >= 0 && o != t) {
      DCN_ERROR(op) << "output dtype " << dtype_name(o) << " differs from input dtype " << dtype_name(t);
      return MX_FAIL;
    }
    if (t < 0) t = o;
  }
  if (t < 0) return MX_SUCCESS;  // nothing known yet
  for (int& i : *in) i = t;
  for (int& o : *out) o = t;
  return MX_SUCCESS;
}

}  // namespace dcnops
