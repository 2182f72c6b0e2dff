#pragma once

#include <string>
#include <vector>

namespace readerlab::app {

int run_command(const std::vector<std::string>& args);
int serve_command(const std::vector<std::string>& args);
int guest_command(const std::vector<std::string>& args);
int atr_command(const std::vector<std::string>& args);
int cards_command(const std::vector<std::string>& args);
int cases_command(const std::vector<std::string>& args);

}  // namespace readerlab::app
