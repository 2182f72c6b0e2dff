// Small helpers shared by the card tests.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "cards/card.h"
#include "../support/hex.h"

namespace readerlab::cards::test {

using readerlab::test::hex;
using readerlab::test::to_hex;

}  // namespace readerlab::cards::test
