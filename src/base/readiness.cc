#include "base/readiness.h"

#include <algorithm>

namespace rwd {

void Readiness::add(std::string name, Check check) {
  std::lock_guard lock(mu_);
  auto it =
      std::find_if(checks_.begin(), checks_.end(), [&](const auto& c) { return c.first == name; });
  if (it != checks_.end()) {
    it->second = std::move(check);
  } else {
    checks_.emplace_back(std::move(name), std::move(check));
  }
}

std::vector<Readiness::Failure> Readiness::failures() const {
  std::vector<Failure> out;
  std::lock_guard lock(mu_);
  for (const auto& [name, check] : checks_)
    if (auto reason = check()) out.push_back({name, std::move(*reason)});
  return out;
}

}  // namespace rwd
