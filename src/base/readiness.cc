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

std::vector<Readiness::Failure> Readiness::failures_for(std::string_view target) const {
  std::vector<std::string_view> excluded;
  size_t q = target.find('?');
  std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    if (param.substr(0, 8) != "exclude=") continue;
    for (std::string_view list = param.substr(8); !list.empty();) {
      size_t comma = list.find(',');
      excluded.push_back(list.substr(0, comma));
      list = comma == std::string_view::npos ? "" : list.substr(comma + 1);
    }
  }
  std::vector<Failure> out = failures();
  std::erase_if(out, [&](const Failure& f) {
    return std::find(excluded.begin(), excluded.end(), f.name) != excluded.end();
  });
  return out;
}

}  // namespace rwd
