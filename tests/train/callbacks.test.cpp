#include "a2q/train/csv_logger.hpp"
#include "a2q/train/early_stopping.hpp"
#include "a2q/train/progress_bar.hpp"
#include "a2q/train/trainer.hpp"

#include "a2q/optim/sgd.hpp"

#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <charconv>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using a2q::config_error;
using a2q::SGD;
using a2q::data::DataLoader;
using a2q::train::BatchProgress;
using a2q::train::CsvLogger;
using a2q::train::EarlyStopping;
using a2q::train::EpochStats;
using a2q::train::EvalResult;
using a2q::train::FitResult;
using a2q::train::ProgressBar;
using a2q::train::Trainer;
using a2q::train::TrainInfo;
using a2q_test::quadrant_dataset;
using a2q_test::read_text;
using a2q_test::ScratchDir;
using a2q_test::TinyNet;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator))
    parts.push_back(part);
  if (!text.empty() && text.back() == separator)
    parts.emplace_back();
  return parts;
}

double parse(const std::string& s) {
  double v = 0.0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  REQUIRE(ec == std::errc());
  REQUIRE(end == s.data() + s.size());
  return v;
}

BatchProgress progress(std::int64_t batch, std::int64_t batches) {
  BatchProgress p;
  p.epoch = 1;
  p.epochs = 3;
  p.batch = batch;
  p.batches = batches;
  p.loss = 0.43215;
  p.accuracy = 0.875;
  p.samples_per_second = 1234.4;
  p.eta_seconds = 72.4;
  return p;
}

EpochStats stats() {
  EpochStats s;
  s.epoch = 1;
  s.loss = 0.4321;
  s.accuracy = 0.875;
  s.samples = 256;
  s.seconds = 1.25;
  s.samples_per_second = 204.8;
  s.lr = 0.1;
  return s;
}

EvalResult eval(double loss, double accuracy) {
  EvalResult v;
  v.loss = loss;
  v.accuracy = accuracy;
  v.samples = 100;
  v.correct = static_cast<std::int64_t>(accuracy * 100);
  return v;
}

TrainInfo info(int epochs, std::int64_t validation_samples = 100) {
  TrainInfo i;
  i.epochs = epochs;
  i.validation_samples = validation_samples;
  return i;
}

} // namespace

TEST_CASE("ProgressBar prints one plain line per epoch when not interactive", "[train][progress]") {
  std::ostringstream out;
  ProgressBar bar(out, false);
  bar.on_train_begin(info(3));
  bar.on_epoch_begin(1);
  for (int b = 1; b <= 4; ++b)
    bar.on_batch_end(progress(b, 4));
  CHECK(out.str().empty());
  bar.on_epoch_end(stats(), eval(0.5, 0.85));
  bar.on_epoch_end(stats(), std::nullopt);
  CHECK(out.str() ==
        "epoch 2/3: loss 0.4321, acc 87.50%, val loss 0.5000, val acc 85.00%, 1.2 s, 205 samples/s\n"
        "epoch 2/3: loss 0.4321, acc 87.50%, 1.2 s, 205 samples/s\n");
}

TEST_CASE("ProgressBar redraws one line in interactive mode", "[train][progress]") {
  std::ostringstream out;
  ProgressBar bar(out, true, 0.0, 10);
  bar.on_train_begin(info(3));
  bar.on_epoch_begin(1);
  bar.on_batch_end(progress(1, 4));
  CHECK(out.str() == "\repoch 2/3 [==>       ] 1/4 loss 0.4321 acc 87.50% 1234 samples/s ETA 1:12");
  bar.on_batch_end(progress(4, 4));
  bar.on_epoch_end(stats(), eval(0.5, 0.85));
  const std::string text = out.str();
  CHECK(std::count(text.begin(), text.end(), '\r') == 3);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  CHECK_THAT(text, Contains("\repoch 2/3 [==========] 4/4 loss 0.4321"));
  CHECK_THAT(text, Contains("\repoch 2/3 [==========] loss 0.4321 acc 87.50% val loss 0.5000 val acc 85.00% "
                            "1.2 s 205 samples/s"));
  CHECK(text.back() == '\n');
}

TEST_CASE("ProgressBar limits its redraw rate but always draws the first and last batch",
          "[train][progress]") {
  std::ostringstream out;
  ProgressBar bar(out, true, 1e9);
  bar.on_train_begin(info(3));
  for (int epoch = 0; epoch < 2; ++epoch) {
    bar.on_epoch_begin(epoch);
    for (int b = 1; b <= 50; ++b)
      bar.on_batch_end(progress(b, 50));
    bar.on_epoch_end(stats(), std::nullopt);
  }
  const std::string text = out.str();
  CHECK(std::count(text.begin(), text.end(), '\r') == 6); // first, last and the epoch summary, twice
  CHECK(std::count(text.begin(), text.end(), '\n') == 2);
}

TEST_CASE("ProgressBar pads a shorter line to wipe the previous one", "[train][progress]") {
  std::ostringstream out;
  ProgressBar bar(out, true, 0.0, 5);
  bar.on_train_begin(info(3));
  bar.on_epoch_begin(0);
  BatchProgress slow = progress(1, 4);
  slow.eta_seconds = 4000.0; // "1:06:40", longer than what follows
  bar.on_batch_end(slow);
  const std::size_t first = out.str().size();
  bar.on_batch_end(progress(2, 4));
  CHECK(out.str().size() - first == first); // same length after the '\r', padded
  CHECK(out.str().back() == ' ');
}

TEST_CASE("ProgressBar formats durations", "[train][progress]") {
  CHECK(ProgressBar::format_duration(0.0) == "0:00");
  CHECK(ProgressBar::format_duration(75.2) == "1:15");
  CHECK(ProgressBar::format_duration(3725.0) == "1:02:05");
  CHECK(ProgressBar::format_duration(-1.0) == "?");
  CHECK(ProgressBar::format_duration(std::numeric_limits<double>::infinity()) == "?");
}

TEST_CASE("ProgressBar during a real fit", "[train][progress]") {
  const auto ds = quadrant_dataset(64, 2, 1);
  DataLoader loader(ds, {.batch_size = 16});
  TinyNet model(2, 1);
  SGD sgd(model.parameters(), {.lr = 0.5});
  Trainer trainer(model, sgd, {.epochs = 2});
  std::ostringstream plain, live;
  trainer.add_callback(std::make_shared<ProgressBar>(plain, false));
  trainer.add_callback(std::make_shared<ProgressBar>(live, true, 0.0));
  trainer.fit(loader, &loader);
  const auto lines = split(plain.str(), '\n');
  REQUIRE(lines.size() == 3);
  CHECK_THAT(lines[0], StartsWith("epoch 1/2: loss "));
  CHECK_THAT(lines[1], StartsWith("epoch 2/2: loss ") && Contains(", val acc "));
  CHECK(lines[2].empty());
  const std::string text = live.str();
  CHECK(std::count(text.begin(), text.end(), '\r') == 2 * (4 + 1));
  CHECK(std::count(text.begin(), text.end(), '\n') == 2);
  (void)a2q::train::stdout_is_terminal(); // whatever the test runner's stdout is
}

TEST_CASE("CsvLogger writes one row per epoch", "[train][csv]") {
  ScratchDir dir;
  const auto ds = quadrant_dataset(64, 2, 1);
  DataLoader loader(ds, {.batch_size = 16});
  TinyNet model(2, 1);
  SGD sgd(model.parameters(), {.lr = 0.5});
  Trainer trainer(model, sgd, {.epochs = 3});
  auto csv = std::make_shared<CsvLogger>(dir / "log.csv");
  trainer.add_callback(csv);
  const FitResult result = trainer.fit(loader, &loader);

  const auto lines = split(read_text(dir / "log.csv"), '\n');
  REQUIRE(lines.size() == 5);
  CHECK(lines[0] == "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds,samples_per_second,"
                    "train_psnr_db,val_psnr_db");
  CHECK(lines[4].empty());
  for (int e = 0; e < 3; ++e) {
    const auto fields = split(lines[static_cast<std::size_t>(e) + 1], ',');
    REQUIRE(fields.size() == 10);
    CHECK(fields[0] == std::to_string(e + 1));
    CHECK(parse(fields[1]) == 0.5);
    CHECK(parse(fields[2]) == result.history[static_cast<std::size_t>(e)].loss);
    CHECK(parse(fields[3]) == result.history[static_cast<std::size_t>(e)].accuracy);
    CHECK(parse(fields[4]) == result.validation_history[static_cast<std::size_t>(e)]->loss);
    CHECK(parse(fields[5]) == result.validation_history[static_cast<std::size_t>(e)]->accuracy);
    CHECK(parse(fields[6]) >= 0.0);
    CHECK(parse(fields[7]) >= 0.0);
  }
  CHECK(csv->rows().size() == 3);
  CHECK(dir.entries() == std::vector<std::string>{"log.csv"});
}

TEST_CASE("CsvLogger leaves validation columns empty and keeps earlier rows on resume", "[train][csv]") {
  ScratchDir dir;
  CsvLogger csv(dir / "log.csv");
  csv.on_train_begin(info(3, 0));
  EpochStats s = stats();
  s.epoch = 0;
  s.lr = 0.25;
  s.loss = 1.5;
  s.accuracy = 0.5;
  s.seconds = 2.0;
  s.samples_per_second = 128.0;
  csv.on_epoch_end(s, std::nullopt);
  s.epoch = 1;
  csv.on_epoch_end(s, std::nullopt);
  CHECK(read_text(dir / "log.csv") ==
        std::string(CsvLogger::header) + "\n1,0.25,1.5,0.5,,,2,128,,\n2,0.25,1.5,0.5,,,2,128,,\n");

  // Resuming at epoch 1 (one epoch completed) keeps row 1, drops row 2, appends the new epochs.
  CsvLogger resumed(dir / "log.csv");
  TrainInfo from_one = info(3, 0);
  from_one.start_epoch = 1;
  resumed.on_train_begin(from_one);
  s.epoch = 1;
  s.loss = 0.75;
  resumed.on_epoch_end(s, eval(0.5, 0.75));
  CHECK(read_text(dir / "log.csv") ==
        std::string(CsvLogger::header) + "\n1,0.25,1.5,0.5,,,2,128,,\n2,0.25,0.75,0.5,0.5,0.75,2,128,,\n");
  CHECK(CsvLogger::format(std::numeric_limits<double>::quiet_NaN()) == "nan");
  CHECK(CsvLogger::format(-std::numeric_limits<double>::infinity()) == "-inf");
}

TEST_CASE("EarlyStopping stops when validation accuracy stops improving", "[train][early_stopping]") {
  EarlyStopping stop(2, 0.01);
  stop.on_train_begin(info(10));
  auto epoch = [&](int e, double accuracy) {
    EpochStats s = stats();
    s.epoch = e;
    stop.on_epoch_end(s, eval(1.0, accuracy));
    return stop.stop_requested();
  };
  CHECK_FALSE(epoch(0, 0.50));
  CHECK_FALSE(epoch(1, 0.60));
  CHECK_FALSE(epoch(2, 0.605)); // within min_delta: no improvement (1)
  CHECK_FALSE(epoch(3, 0.62));  // improvement resets the wait
  CHECK_FALSE(epoch(4, 0.55));  // 1
  CHECK(epoch(5, 0.62));        // 2: stop
  CHECK(stop.best() == 0.62);
  CHECK(stop.best_epoch() == 3);

  EarlyStopping by_loss(1, 0.0, EarlyStopping::Metric::validation_loss);
  by_loss.on_train_begin(info(10));
  by_loss.on_epoch_end(stats(), eval(1.0, 0.5));
  by_loss.on_epoch_end(stats(), eval(0.9, 0.5));
  CHECK_FALSE(by_loss.stop_requested());
  by_loss.on_epoch_end(stats(), eval(0.95, 0.9));
  CHECK(by_loss.stop_requested());

  CHECK_THROWS_AS(EarlyStopping(0), config_error);
  CHECK_THROWS_AS(EarlyStopping(1, -0.1), config_error);
  CHECK_THROWS_WITH(EarlyStopping(1).on_train_begin(info(3, 0)), Contains("no validation loader"));
}

TEST_CASE("EarlyStopping ends a fit early", "[train][early_stopping]") {
  const auto ds = quadrant_dataset(64, 2, 1);
  DataLoader loader(ds, {.batch_size = 16});
  TinyNet model(2, 1);
  SGD sgd(model.parameters(), {.lr = 0.0}); // never improves
  Trainer trainer(model, sgd, {.epochs = 10});
  auto stopper = std::make_shared<EarlyStopping>(2);
  trainer.add_callback(stopper);
  const FitResult result = trainer.fit(loader, &loader);
  CHECK(result.stopped_early);
  CHECK(result.history.size() == 3);
  CHECK(result.epochs_completed == 3);
  CHECK(stopper->best_epoch() == 0);
  Trainer no_validation(model, sgd, {.epochs = 10});
  no_validation.add_callback(stopper);
  CHECK_THROWS_AS(no_validation.fit(loader), config_error);
}
