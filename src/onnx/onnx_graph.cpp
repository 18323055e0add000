// The checked view of an ONNX model (see onnx_graph.hpp).

#include "onnx_graph.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>

namespace a2q::io::detail {

namespace {

constexpr std::int64_t max_constant_elements = std::int64_t{1} << 28;

/// Little-endian element i of a raw_data payload, as T.
template <class T>
T raw_element(const std::string& raw, std::size_t i) {
  T v;
  std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
  return v;
}

template <class T>
void decode_raw(const std::string& raw, std::size_t n, std::vector<double>& out, const std::string& what) {
  if (raw.size() != n * sizeof(T))
    throw io_error(what + " holds " + std::to_string(raw.size()) + " bytes of data, expected " +
                   std::to_string(n * sizeof(T)) + " for its dimensions");
  out.resize(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = static_cast<double>(raw_element<T>(raw, i));
}

template <class Field>
void decode_field(const Field& field, std::size_t n, std::vector<double>& out, const std::string& what) {
  if (static_cast<std::size_t>(field.size()) != n)
    throw io_error(what + " holds " + std::to_string(field.size()) + " values, expected " +
                   std::to_string(n) + " for its dimensions");
  out.assign(field.begin(), field.end());
}

} // namespace

std::int64_t checked_numel(const std::vector<std::int64_t>& dims, const std::string& what) {
  std::int64_t n = 1;
  for (const std::int64_t d : dims) {
    if (d < 0)
      throw io_error(what + " has a negative dimension (" + std::to_string(d) + ")");
    if (d != 0 && n > max_constant_elements / d)
      throw io_error(what + " has more than 2^28 elements");
    n *= d;
  }
  return n;
}

void check_tensor(const onnx::TensorProto& t, const std::string& who) {
  const std::string what = who + ": tensor '" + t.name() + "'";
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    throw io_error(what + " keeps its data in an external file, which the importer does not read");
  std::vector<std::int64_t> dims(t.dims().begin(), t.dims().end());
  if (dims.size() > 8)
    throw io_error(what + " has rank " + std::to_string(dims.size()) + " (at most 8 supported)");
  const auto n = static_cast<std::size_t>(checked_numel(dims, what));
  using T = onnx::TensorProto;
  std::size_t element = 0, stored = 0;
  switch (t.data_type()) {
  case T::FLOAT:
    element = 4, stored = static_cast<std::size_t>(t.float_data_size());
    break;
  case T::DOUBLE:
    element = 8, stored = static_cast<std::size_t>(t.double_data_size());
    break;
  case T::INT64:
    element = 8, stored = static_cast<std::size_t>(t.int64_data_size());
    break;
  case T::INT32:
    element = 4, stored = static_cast<std::size_t>(t.int32_data_size());
    break;
  case T::INT16:
  case T::UINT16:
    element = 2, stored = static_cast<std::size_t>(t.int32_data_size());
    break;
  case T::INT8:
  case T::UINT8:
  case T::BOOL:
    element = 1, stored = static_cast<std::size_t>(t.int32_data_size());
    break;
  default:
    throw io_error(what + " has element type " + std::to_string(t.data_type()) +
                   " (supported: float, double, int64, int32, int16, uint16, int8, uint8, bool)");
  }
  if (t.has_raw_data() && t.raw_data().size() != n * element)
    throw io_error(what + " holds " + std::to_string(t.raw_data().size()) + " bytes of data, expected " +
                   std::to_string(n * element) + " for its dimensions");
  if (!t.has_raw_data() && stored != n)
    throw io_error(what + " holds " + std::to_string(stored) + " values, expected " + std::to_string(n) +
                   " for its dimensions");
}

std::optional<ByteTensor> byte_tensor(const onnx::TensorProto* t) {
  if (t == nullptr || !t->has_raw_data() ||
      (t->data_type() != onnx::TensorProto::INT8 && t->data_type() != onnx::TensorProto::UINT8))
    return std::nullopt;
  return ByteTensor{t->raw_data().data(), t->data_type() == onnx::TensorProto::INT8};
}

OnnxConstant decode_tensor(const onnx::TensorProto& t, const std::string& who) {
  const std::string what = who + ": tensor '" + t.name() + "'";
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    throw io_error(what + " keeps its data in an external file, which the importer does not read");
  OnnxConstant c;
  c.data_type = t.data_type();
  c.dims.assign(t.dims().begin(), t.dims().end());
  if (c.dims.size() > 8)
    throw io_error(what + " has rank " + std::to_string(c.dims.size()) + " (at most 8 supported)");
  const auto n = static_cast<std::size_t>(checked_numel(c.dims, what));
  const bool raw = t.has_raw_data();
  using T = onnx::TensorProto;
  switch (t.data_type()) {
  case T::FLOAT:
    raw ? decode_raw<float>(t.raw_data(), n, c.values, what)
        : decode_field(t.float_data(), n, c.values, what);
    break;
  case T::DOUBLE:
    raw ? decode_raw<double>(t.raw_data(), n, c.values, what)
        : decode_field(t.double_data(), n, c.values, what);
    break;
  case T::INT64:
    c.integer = true;
    raw ? decode_raw<std::int64_t>(t.raw_data(), n, c.values, what)
        : decode_field(t.int64_data(), n, c.values, what);
    break;
  case T::INT32:
    c.integer = true;
    raw ? decode_raw<std::int32_t>(t.raw_data(), n, c.values, what)
        : decode_field(t.int32_data(), n, c.values, what);
    break;
  case T::INT8:
    c.integer = true;
    raw ? decode_raw<std::int8_t>(t.raw_data(), n, c.values, what)
        : decode_field(t.int32_data(), n, c.values, what);
    break;
  case T::INT16:
    c.integer = true;
    raw ? decode_raw<std::int16_t>(t.raw_data(), n, c.values, what)
        : decode_field(t.int32_data(), n, c.values, what);
    break;
  case T::UINT16:
    c.integer = true;
    raw ? decode_raw<std::uint16_t>(t.raw_data(), n, c.values, what)
        : decode_field(t.int32_data(), n, c.values, what);
    break;
  case T::UINT8:
  case T::BOOL:
    c.integer = true;
    raw ? decode_raw<std::uint8_t>(t.raw_data(), n, c.values, what)
        : decode_field(t.int32_data(), n, c.values, what);
    break;
  default:
    throw io_error(what + " has element type " + std::to_string(t.data_type()) +
                   " (supported: float, double, int64, int32, int16, uint16, int8, uint8, bool)");
  }
  for (const double v : c.values)
    if (!std::isfinite(v))
      throw io_error(what + " holds a value that is not finite");
  // small integer types kept in int32_data may hold values their type cannot
  const auto [lo, hi] = [&]() -> std::pair<double, double> {
    switch (t.data_type()) {
    case T::INT8:
      return {-128, 127};
    case T::UINT8:
      return {0, 255};
    case T::BOOL:
      return {0, 1};
    case T::INT16:
      return {-32768, 32767};
    case T::UINT16:
      return {0, 65535};
    default:
      return {-1e300, 1e300};
    }
  }();
  for (const double v : c.values)
    if (v < lo || v > hi)
      throw io_error(what + " holds " + std::to_string(static_cast<long long>(v)) +
                     ", outside the range of its element type");
  return c;
}

OnnxGraph::OnnxGraph(std::string_view bytes, std::string who) : who_(std::move(who)) {
  if (bytes.size() > static_cast<std::size_t>(INT_MAX))
    throw io_error(who_ + ": larger than 2 GiB, which a protobuf message cannot be");
  if (!model_.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw io_error(who_ + ": not an ONNX model (the protobuf does not parse: the file is truncated, corrupt "
                          "or of another format)");
  if (!model_.has_graph() || model_.graph().node_size() == 0)
    throw io_error(who_ + ": the ONNX model has no graph nodes");
  check_opsets();
  decode_constants();
  sort_nodes();
}

const OnnxConstant* OnnxGraph::constant(const std::string& name) const {
  if (const auto it = constants_.find(name); it != constants_.end())
    return &it->second;
  const auto init = initializers_.find(name);
  if (init == initializers_.end())
    return nullptr;
  return &constants_.emplace(name, decode_tensor(*init->second, who_)).first->second;
}

const std::map<std::string, OnnxConstant>& OnnxGraph::constants() const {
  for (const auto& [name, t] : initializers_)
    (void)constant(name);
  return constants_;
}

const onnx::TensorProto* OnnxGraph::initializer(const std::string& name) const {
  const auto it = initializers_.find(name);
  return it == initializers_.end() ? nullptr : it->second;
}

bool OnnxGraph::is_constant(const std::string& name) const {
  return initializers_.count(name) > 0 || constants_.count(name) > 0;
}

int OnnxGraph::readers(const std::string& name) const {
  const auto it = readers_.find(name);
  return it == readers_.end() ? 0 : it->second;
}

std::string OnnxGraph::describe(const onnx::NodeProto& n) {
  return "node '" + (n.name().empty() ? (n.output_size() > 0 ? n.output(0) : std::string("?")) : n.name()) +
         "' (" + (n.domain().empty() || n.domain() == "ai.onnx" ? "" : n.domain() + "::") + n.op_type() + ")";
}

void OnnxGraph::check_opsets() {
  for (const auto& o : model_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx")
      opset_ = o.version();
  if (opset_ == 0)
    opset_ = 13; // only custom domains imported; the defaults of today's opsets apply
  if (opset_ < 9 || opset_ > 18)
    throw io_error(who_ + ": ONNX opset " + std::to_string(opset_) + " (the importer reads opsets 9 to 18)");
}

void OnnxGraph::decode_constants() {
  const auto& g = graph();
  for (const auto& t : g.initializer()) {
    if (t.name().empty())
      throw io_error(who_ + ": an initializer has no name");
    check_tensor(t, who_);
    if (!initializers_.emplace(t.name(), &t).second)
      throw io_error(who_ + ": two initializers are named '" + t.name() + "'");
  }
  for (const auto& n : g.node()) {
    if (n.op_type() != "Constant" || !(n.domain().empty() || n.domain() == "ai.onnx"))
      continue;
    if (n.output_size() != 1 || n.attribute_size() != 1)
      throw io_error(who_ + ": " + describe(n) + " must have one output and one value attribute");
    const auto& a = n.attribute(0);
    OnnxConstant c;
    if (a.name() == "value" && a.has_t()) {
      c = decode_tensor(a.t(), who_);
    } else if (a.name() == "value_float") {
      c.values = {a.f()};
    } else if (a.name() == "value_floats") {
      c.values.assign(a.floats().begin(), a.floats().end());
      c.dims = {static_cast<std::int64_t>(c.values.size())};
    } else if (a.name() == "value_int") {
      c.values = {static_cast<double>(a.i())};
      c.integer = true;
    } else if (a.name() == "value_ints") {
      c.values.assign(a.ints().begin(), a.ints().end());
      c.dims = {static_cast<std::int64_t>(c.values.size())};
      c.integer = true;
    } else {
      throw io_error(who_ + ": " + describe(n) + " has attribute '" + a.name() +
                     "' (supported: value, value_float(s), value_int(s))");
    }
    if (initializers_.count(n.output(0)) || !constants_.emplace(n.output(0), std::move(c)).second)
      throw io_error(who_ + ": tensor '" + n.output(0) + "' is defined twice");
  }
}

void OnnxGraph::sort_nodes() {
  const auto& g = graph();
  std::set<std::string> available{""}; // "" marks an omitted optional input
  for (const auto& [name, t] : initializers_)
    available.insert(name);
  for (const auto& [name, c] : constants_)
    available.insert(name);
  for (const auto& in : g.input())
    if (!is_constant(in.name())) {
      data_inputs_.push_back(&in);
      available.insert(in.name());
    }
  std::map<std::string, const onnx::NodeProto*> producer;
  for (const auto& n : g.node())
    for (const auto& o : n.output()) {
      if (o.empty())
        continue;
      if (available.count(o) &&
          !(n.op_type() == "Constant" && constants_.count(o) && !initializers_.count(o)))
        throw io_error(who_ + ": " + describe(n) + " writes '" + o +
                       "', which is also a graph input or "
                       "initializer");
      if (!producer.emplace(o, &n).second)
        throw io_error(who_ + ": tensor '" + o + "' is written by two nodes");
    }
  for (const auto& n : g.node())
    for (const auto& i : n.input()) {
      ++readers_[i];
      if (!available.count(i) && !producer.count(i))
        throw io_error(who_ + ": " + describe(n) + " reads '" + i +
                       "', which no node, initializer or graph input provides");
    }
  for (const auto& o : g.output())
    ++readers_[o.name()];

  // Kahn's algorithm over tensors: a node is ready once every input is available.
  std::deque<const onnx::NodeProto*> pending;
  for (const auto& n : g.node())
    pending.push_back(&n);
  std::size_t stalled = 0;
  while (!pending.empty()) {
    const onnx::NodeProto* n = pending.front();
    pending.pop_front();
    const bool ready = std::all_of(n->input().begin(), n->input().end(),
                                   [&](const std::string& i) { return available.count(i) > 0; });
    if (!ready) {
      pending.push_back(n);
      if (++stalled > pending.size())
        throw io_error(who_ + ": the graph has a cycle through " + describe(*pending.front()));
      continue;
    }
    stalled = 0;
    order_.push_back(n);
    for (const auto& o : n->output())
      available.insert(o);
  }
  for (const auto& o : g.output())
    if (!available.count(o.name()))
      throw io_error(who_ + ": graph output '" + o.name() + "' is produced by no node");
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in)
    throw io_error(path.string() + ": cannot be opened");
  const auto size = static_cast<std::streamsize>(in.tellg());
  std::string bytes(static_cast<std::size_t>(std::max<std::streamsize>(size, 0)), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), size))
    throw io_error(path.string() + ": cannot be read");
  return bytes;
}

const onnx::AttributeProto* find_attribute(const onnx::NodeProto& n, std::string_view name) {
  for (const auto& a : n.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

namespace {

const onnx::AttributeProto* typed_attribute(const onnx::NodeProto& n, std::string_view name,
                                            onnx::AttributeProto::AttributeType type, const char* type_name,
                                            const std::string& who) {
  const auto* a = find_attribute(n, name);
  if (a != nullptr && a->type() != type && a->type() != onnx::AttributeProto::UNDEFINED)
    throw io_error(who + ": " + OnnxGraph::describe(n) + ": attribute '" + std::string(name) + "' must be " +
                   type_name);
  return a;
}

[[noreturn]] void missing(const onnx::NodeProto& n, std::string_view name, const std::string& who) {
  throw io_error(who + ": " + OnnxGraph::describe(n) + " has no attribute '" + std::string(name) + "'");
}

} // namespace

std::int64_t int_attribute(const onnx::NodeProto& n, std::string_view name,
                           std::optional<std::int64_t> fallback, const std::string& who) {
  const auto* a = typed_attribute(n, name, onnx::AttributeProto::INT, "an integer", who);
  if (a == nullptr) {
    if (!fallback)
      missing(n, name, who);
    return *fallback;
  }
  return a->i();
}

double float_attribute(const onnx::NodeProto& n, std::string_view name, std::optional<double> fallback,
                       const std::string& who) {
  const auto* a = typed_attribute(n, name, onnx::AttributeProto::FLOAT, "a float", who);
  if (a == nullptr) {
    if (!fallback)
      missing(n, name, who);
    return *fallback;
  }
  if (!std::isfinite(a->f()))
    throw io_error(who + ": " + OnnxGraph::describe(n) + ": attribute '" + std::string(name) +
                   "' is not finite");
  return a->f();
}

std::string string_attribute(const onnx::NodeProto& n, std::string_view name,
                             std::optional<std::string> fallback, const std::string& who) {
  const auto* a = typed_attribute(n, name, onnx::AttributeProto::STRING, "a string", who);
  if (a == nullptr) {
    if (!fallback)
      missing(n, name, who);
    return *fallback;
  }
  return a->s();
}

std::vector<std::int64_t> ints_attribute(const onnx::NodeProto& n, std::string_view name,
                                         const std::string& who) {
  const auto* a = typed_attribute(n, name, onnx::AttributeProto::INTS, "a list of integers", who);
  if (a == nullptr)
    return {};
  return {a->ints().begin(), a->ints().end()};
}

} // namespace a2q::io::detail
