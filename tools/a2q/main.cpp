// a2q: train, evaluate, verify, report and export accumulator-aware quantized models from the shell.
//
//   a2q train --quant a2q+ --acc-bits 16 --epochs 5 -o model.a2q
//   a2q verify model.a2q
//   a2q report model.a2q [--json]
//   a2q eval model.a2q
//   a2q export model.a2q --format header -o model.h
//   a2q inspect model.a2q [--arch]
//   a2q quantize float.a2q --method axe-gpfq --acc-bits 16 -o model.a2q   (post-training, no retraining)
//   a2q sweep --model mlp --acc-bits 10:16 --methods float,baseline,a2q,a2q+ -o sweep   (Pareto fronts)
//   a2q train --arch net.json --quant a2q+ --acc-bits 14 -o model.a2q
//   a2q import model.onnx -o model.a2q            (built with a2q::onnx)
//   a2q export model.a2q --format qonnx -o model.onnx
//   a2q audit model.onnx --acc-bits 16             (any quantized ONNX model)

#include "model_commands.hpp"
#include "quantize_command.hpp"
#include "sweep_command.hpp"
#include "train_command.hpp"
#ifdef A2Q_HAS_ONNX
#include "audit_command.hpp"
#include "import_command.hpp"
#endif

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  CLI::App app{"a2q: quantization-aware training with a guarantee that integer inference never overflows a "
               "P-bit accumulator"};
  app.require_subcommand(1);
  a2q_cli::TrainCommand train;
  a2q_cli::EvalCommand eval;
  a2q_cli::VerifyCommand verify;
  a2q_cli::ReportCommand report;
  a2q_cli::ExportCommand export_;
  a2q_cli::InspectCommand inspect;
  a2q_cli::QuantizeCommand quantize;
  a2q_cli::SweepCommand sweep;
  train.add_to(app);
  eval.add_to(app);
  verify.add_to(app);
  report.add_to(app);
  export_.add_to(app);
  inspect.add_to(app);
  quantize.add_to(app);
  sweep.add_to(app);
#ifdef A2Q_HAS_ONNX
  a2q_cli::ImportCommand import;
  import.add_to(app);
  a2q_cli::AuditCommand audit;
  audit.add_to(app);
#endif
  CLI11_PARSE(app, argc, argv);

  std::string command_line = "a2q";
  for (int i = 1; i < argc; ++i)
    command_line += std::string(" ") + argv[i];
  return examples::guarded_main([&] {
    if (train.selected)
      return train.run(command_line);
    if (eval.selected)
      return eval.run();
    if (verify.selected)
      return verify.run();
    if (report.selected)
      return report.run();
    if (inspect.selected)
      return inspect.run();
    if (quantize.selected)
      return quantize.run(command_line);
    if (sweep.selected)
      return sweep.run();
#ifdef A2Q_HAS_ONNX
    if (import.selected)
      return import.run(command_line);
    if (audit.selected)
      return audit.run();
#endif
    return export_.run();
  });
}
