// rewind-server: reads the settings, sets up the log, and runs the Application
// (application.h), which builds every part and wires the implementations together.

#include <spdlog/spdlog.h>

#include "app/application.h"
#include "app/backup_command.h"
#include "base/clock.h"
#include "config/config.h"
#include "log/logging.h"

int main(int argc, char** argv) {
  using namespace rwd;
  ConfigOutcome parsed = parse_config(argc, argv);
  if (!parsed.config) return parsed.exit_code;
  const Config& config = *parsed.config;
  if (config.command == Command::kBackup) return app::run_backup(config);

  log::LogSettings log_settings;
  log::parse_log_format(config.log_format, log_settings.format);  // the config checked it
  log_settings.level = config.log_level;
  log_settings.access_log = config.access_log;
  // Writes the queued records at every return below.
  log::LoggingScope logging(log_settings);

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
