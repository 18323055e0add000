// Chains of imported modules and how they are written (see onnx_chain.hpp).

#include "onnx_chain.hpp"

#include <a2q/core/error.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace a2q::io::detail {

StepPtr extend(const Value& v, Step step) {
  step.parent = v.end;
  step.depth = v.end ? v.end->depth + 1 : 1;
  return std::make_shared<const Step>(std::move(step));
}

std::vector<StepPtr> chain_between(const Step* from, const StepPtr& end) {
  std::vector<StepPtr> out;
  for (StepPtr s = end; s && s.get() != from; s = s->parent)
    out.push_back(s);
  std::reverse(out.begin(), out.end());
  return out;
}

StepPtr fork_point(const StepPtr& a, const StepPtr& b) {
  std::set<const Step*> ancestors;
  for (const Step* s = a.get(); s != nullptr; s = s->parent.get())
    ancestors.insert(s);
  for (StepPtr s = b; s; s = s->parent)
    if (ancestors.count(s.get()))
      return s;
  return nullptr;
}

std::string module_name(const std::string& onnx_name) {
  std::string out;
  for (const char c : onnx_name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    if (ok)
      out += c;
    else if (!out.empty() && out.back() != '_')
      out += '_';
  }
  while (!out.empty() && out.back() == '_')
    out.pop_back();
  return out;
}

namespace {

class Writer {
public:
  explicit Writer(std::string who) : who_(std::move(who)) {}

  nlohmann::ordered_json sequential(const std::vector<StepPtr>& steps, const std::string& prefix) {
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    std::set<std::string> used;
    for (const StepPtr& s : steps) {
      if (s->pad > 0)
        throw io_error(who_ + ": " + s->onnx +
                       ": a Pad is supported only right before a Conv or an AveragePool (it becomes their "
                       "padding)");
      std::string name = s->name.empty() ? "layer" : s->name;
      if (std::isdigit(static_cast<unsigned char>(name.front())))
        name = "l" + name;
      for (int i = 2; used.count(name); ++i)
        name = (s->name.empty() ? "layer" : s->name) + "_" + std::to_string(i);
      used.insert(name);
      const std::string path = prefix.empty() ? name : prefix + "." + name;
      paths_[s.get()] = path;
      nlohmann::ordered_json node = {{"name", name}};
      node.update(s->node);
      if (s->input_quant != nullptr) {
        const auto it = paths_.find(s->input_quant);
        if (it == paths_.end())
          throw io_error(who_ + ": " + s->onnx + ": its input quantizer lies in another branch of the graph");
        node["input"] = it->second;
      }
      if (s->type() == "ResidualAdd") {
        node["body"] = sequential(s->body, path + ".body");
        if (!s->shortcut.empty())
          node["shortcut"] = sequential(s->shortcut, path + ".shortcut");
      }
      for (const auto& [param, value] : s->params)
        params_.emplace_back(path + "." + param, value);
      if (!s->integers.empty())
        integers_.emplace_back(path, s->integers);
      layers.push_back(std::move(node));
    }
    return {{"type", "Sequential"}, {"layers", std::move(layers)}};
  }

  std::vector<std::pair<std::string, Tensor<float>>> take_params() { return std::move(params_); }
  std::vector<std::pair<std::string, std::vector<std::int32_t>>> take_integers() {
    return std::move(integers_);
  }

private:
  std::string who_;
  std::map<const Step*, std::string> paths_;
  std::vector<std::pair<std::string, Tensor<float>>> params_;
  std::vector<std::pair<std::string, std::vector<std::int32_t>>> integers_;
};

} // namespace

WrittenNetwork write_network(const StepPtr& end, const std::string& who) {
  Writer w(who);
  WrittenNetwork out;
  out.network = w.sequential(chain_between(nullptr, end), "");
  out.params = w.take_params();
  out.integers = w.take_integers();
  return out;
}

} // namespace a2q::io::detail
