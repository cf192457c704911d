// rewind-server: reads the settings, sets up the log, and runs the Application
// (application.h), which builds every part and wires the implementations together.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/application.h"
#include "app/backup_command.h"
#include "base/clock.h"
#include "config/config.h"

int main(int argc, char** argv) {
  using namespace rwd;
  ConfigOutcome parsed = parse_config(argc, argv);
  if (!parsed.config) return parsed.exit_code;
  const Config& config = *parsed.config;
  if (config.command == Command::kBackup) return app::run_backup(config);

  auto logger = spdlog::stderr_color_mt("rewind");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");

  SystemClock clock;
  SteadyClock steady;
  {
    auto created = app::Application::create(config, clock, steady);
    if (!created.ok()) {
      spdlog::critical("{}", created.error().detail);
      return 1;
    }
    app::Application& application = *created.value();
    application.start();
    application.run();
    application.shutdown();
  }
  spdlog::info("stopped cleanly");
  return 0;
}
