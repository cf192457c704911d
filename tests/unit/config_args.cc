#include "config_args.h"

namespace rwd::testing {

ConfigOutcome parse_args(std::vector<std::string> args) {
  args.insert(args.begin(), "rewind-server");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_config(static_cast<int>(argv.size()), argv.data());
}

}  // namespace rwd::testing
