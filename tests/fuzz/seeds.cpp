// Writes the seed corpus of every fuzz harness into OUTDIR/<harness>/: files that a2q's own writers
// produce from small networks of every kind the formats hold, plus the fixtures other tools wrote
// (tests/data). The fuzzers start mutating from these; CTest replays them through the harnesses.
//
//   a2q_fuzz_seeds OUTDIR      (replaces OUTDIR/<harness>/ for each harness)

#include "fuzz_models.hpp"
#include "fuzz_target.hpp"

#include <a2q/autograd/elementwise.hpp>
#include <a2q/io/architecture.hpp>
#include <a2q/io/model_io.hpp>
#include <a2q/io/tensor_archive.hpp>
#include <a2q/sweep/plan.hpp>
#include <a2q/train/checkpoint.hpp>
#ifdef A2Q_HAS_ONNX
#include <a2q/onnx/qonnx_export.hpp>
#endif

#include <iostream>
#include <iterator>

namespace {

namespace fs = std::filesystem;

void write_bytes(const fs::path& path, std::span<const std::uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out)
    throw std::runtime_error("cannot write " + path.string());
}

void write_text(const fs::path& path, std::string_view text) {
  write_bytes(path, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

a2q_fuzz::Bytes read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void copy_if_present(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (fs::exists(from, ec))
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

a2q::models::ModelRecipe recipe(const std::string& architecture, a2q::quant::QuantMethod method) {
  a2q::models::ModelRecipe r;
  r.architecture = architecture;
  r.mlp_width = 8;
  r.resnet_width = 4;
  r.policy.method = method;
  if (architecture == "resnet")
    r.input = a2q::Shape{3, 32, 32};
  return r;
}

/// IDX bytes: the magic for unsigned bytes and the dimensions, then the values i mod 251.
a2q_fuzz::Bytes idx_file(const std::vector<std::uint32_t>& dims) {
  a2q_fuzz::Bytes out = {0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  std::size_t n = 1;
  for (const std::uint32_t d : dims) {
    n *= d;
    for (int shift = 24; shift >= 0; shift -= 8)
      out.push_back(static_cast<std::uint8_t>(d >> shift));
  }
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(static_cast<std::uint8_t>(i % 251));
  return out;
}

a2q_fuzz::Bytes with_mode(std::uint8_t mode, const a2q_fuzz::Bytes& bytes) {
  a2q_fuzz::Bytes out{mode};
  out.insert(out.end(), bytes.begin(), bytes.end());
  return out;
}

void model_seeds(const fs::path& out, const fs::path& data_dir) {
  using a2q::quant::QuantMethod;
  const fs::path models = out / "model_file", arch = out / "architecture", onnx = out / "onnx";
  const std::pair<const char*, a2q::models::ModelRecipe> recipes[] = {
      {"mlp_a2q+", recipe("mlp", QuantMethod::a2q_plus)},
      {"mlp_a2q", recipe("mlp", QuantMethod::a2q)},
      {"mlp_baseline", recipe("mlp", QuantMethod::baseline)},
      {"mlp_float", recipe("mlp", QuantMethod::none)},
      {"cnn_a2q", recipe("cnn", QuantMethod::a2q)},
      {"resnet_a2q+", recipe("resnet", QuantMethod::a2q_plus)}};
  std::uint64_t seed = 1;
  for (const auto& [name, r] : recipes) {
    const auto model = a2q_fuzz::small_network(r, seed++);
    const fs::path file = models / (std::string(name) + ".a2q");
    a2q::io::save_model(file, r, *model);
    write_text(arch / (std::string(name) + ".json"), a2q::io::describe_architecture(*model, r.input));
#ifdef A2Q_HAS_ONNX
    if (std::string_view(name) != "resnet_a2q+" && std::string_view(name) != "mlp_float")
      write_text(onnx / (std::string(name) + ".onnx"), a2q::io::qonnx_bytes(a2q::io::load_model(file)));
#endif
  }
  for (const char* v1 : {"v1_mlp_a2q+.a2q", "v1_cnn_a2q.a2q"})
    copy_if_present(data_dir / "models" / v1, models / v1);
  copy_if_present(data_dir / "onnx" / "brevitas" / "brevitas_a2q_cnn.onnx", onnx / "brevitas_a2q_cnn.onnx");

  // A hand-written description with every module type the zoo recipes do not use.
  write_text(arch / "every_type.json", R"({"a2q_architecture": 1, "input": [2, 8, 8], "network": {
    "type": "Sequential", "layers": [
      {"name": "conv", "type": "Conv2d", "in": 2, "out": 4, "kernel": [3, 1], "stride": 1, "padding": 1},
      {"name": "bn", "type": "BatchNorm2d", "channels": 4, "momentum": 0.2, "eps": 0.001},
      {"name": "relu", "type": "ReLU"},
      {"name": "res", "type": "ResidualAdd",
       "body": {"type": "Sequential", "layers": [{"name": "c", "type": "Conv2d", "in": 4, "out": 4, "kernel": 3,
                                                  "padding": 1, "groups": 2}]}},
      {"name": "avg", "type": "AvgPool2d", "kernel": 2},
      {"name": "drop", "type": "Dropout", "p": 0.25, "seed": 3},
      {"name": "block", "type": "ResidualBlock", "in": 4, "out": 6, "stride": 2},
      {"name": "gap", "type": "GlobalAvgPool2d"},
      {"name": "act", "type": "ActQuant", "bits": 4, "signed": true, "narrow": true, "rounding": "toward_zero"},
      {"name": "fc", "type": "QuantLinear", "in": 6, "out": 3, "input": "act", "input_bits": 4,
       "input_signed": true, "quant": {"method": "a2q", "weight_bits": 4, "acc_bits": 12,
                                       "bias_mode": "in_accumulator"}}]}})");
}

void archive_seeds(const fs::path& out) {
  const fs::path dir = out / "tensor_archive";
  a2q::io::TensorArchive archive;
  archive.metadata = {{"kind", "seed"}, {"note", "tensors of rank 0 to 3"}};
  a2q::Tensor<float> scalar{a2q::Shape{}};
  scalar[0] = 1.5f;
  a2q::Tensor<float> cube{a2q::Shape{2, 3, 2}};
  for (std::int64_t i = 0; i < cube.numel(); ++i)
    cube[i] = static_cast<float>(i) - 4.0f;
  archive.tensors = {{"scalar", scalar}, {"vector", a2q::Tensor<float>{a2q::Shape{3}}}, {"cube", cube}};
  a2q::io::save_archive(dir / "archive.a2qt", archive);

  a2q_fuzz::CheckpointTarget target;
  a2q::train::save_checkpoint(dir / "fresh.ckpt", *target.model, target.optimizer.get(), 0);
  // One optimizer step, so that the checkpoint holds Adam's moments too.
  a2q::Tensor<float> images{a2q::Shape{2, 1, 28, 28}};
  target.model->train(true);
  target.optimizer->zero_grad();
  a2q::sum(target.model->forward(a2q::Var(images))).backward();
  target.optimizer->step();
  a2q::train::save_checkpoint(dir / "stepped.ckpt", *target.model, target.optimizer.get(), 1,
                              {{"data_seed", "7"}});
  a2q::train::save_checkpoint(dir / "model_only.ckpt", *target.model, nullptr, 2);
}

void data_seeds(const fs::path& out) {
  const fs::path idx = out / "idx", cifar = out / "cifar10";
  write_bytes(idx / "raw_images", with_mode(0, idx_file({3, 4, 4})));
  write_bytes(idx / "gzip_images", with_mode(1, idx_file({3, 4, 4})));
  write_bytes(idx / "raw_labels", with_mode(0, idx_file({5})));
  write_bytes(idx / "gzip_rank5", with_mode(1, idx_file({1, 2, 1, 2, 3})));
  const fs::path labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  std::error_code ec;
  if (fs::exists(labels, ec))
    write_bytes(idx / "fashion_mnist_labels_gz", with_mode(2, read_bytes(labels)));

  a2q_fuzz::Bytes batch;
  for (int r = 0; r < 2; ++r) {
    batch.push_back(static_cast<std::uint8_t>(3 * r + 1));
    for (int i = 0; i < 3072; ++i)
      batch.push_back(static_cast<std::uint8_t>((i * 7 + r) % 256));
  }
  write_bytes(cifar / "two_records.bin", batch);
}

/// Plans as a2q sweep writes them: a classifier's and a super-resolution net's.
void sweep_plan_seeds(const fs::path& out) {
  for (const char* model : {"mlp", "espcn"}) {
    a2q::sweep::Spec spec;
    spec.model = model;
    spec.acc_bits = {10, 12, 16};
    spec.methods = {a2q::sweep::Method::none, a2q::sweep::Method::baseline, a2q::sweep::Method::a2q,
                    a2q::sweep::Method::a2q_plus};
    spec.bits = {4, 8};
    spec.train_args = {"--epochs", "2", "--data", "/data/fashion mnist"};
    spec.directory = fs::temp_directory_path() / ("a2q-seed-plan-" + std::string(model));
    spec.constrained = {{"conv2", 288, false}, {"fc2", 256, true}};
    spec.metric =
        std::string_view(model) == "espcn" ? a2q::sweep::Metric::psnr : a2q::sweep::Metric::accuracy;
    a2q::sweep::write_plan(spec, a2q::sweep::plan(spec));
    fs::copy_file(spec.directory / "plan.json", out / "sweep_plan" / (std::string(model) + ".json"),
                  fs::copy_options::overwrite_existing);
    fs::remove_all(spec.directory);
  }
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: a2q_fuzz_seeds OUTDIR\n";
    return 2;
  }
  const fs::path out = argv[1];
  try {
    for (const char* harness :
         {"model_file", "tensor_archive", "idx", "cifar10", "architecture", "sweep_plan", "onnx"}) {
      fs::remove_all(out / harness); // the seeds of an earlier run, which may have had other files
      fs::create_directories(out / harness);
    }
    model_seeds(out, A2Q_TEST_DATA_DIR);
    archive_seeds(out);
    data_seeds(out);
    sweep_plan_seeds(out);
  } catch (const std::exception& e) {
    std::cerr << "a2q_fuzz_seeds: " << e.what() << "\n";
    return 1;
  }
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(out))
    files += entry.is_regular_file();
  std::cout << "wrote " << files << " seed files under " << out.string() << "\n";
  return 0;
}
