// The library's T=1 engine block by block (spec smclib.md §5 T=1 engine; ISO 7816-3 11): the
// card's S-requests, R-blocks asking for retransmission, invalid blocks, RESYNCH and the CRC.
// The step-by-step transcripts of Windows 11's rules 14-20 are in windows11_t1_test.cpp.
#include <doctest/doctest.h>

#include "harness.h"
#include "windows_t1_blocks.h"

using smc::t1_block;
using smc::UserBuffer;

namespace {

// Starts without the S(IFS) exchange, as after SET_ATTRIBUTE SUPRESS_T1_IFS_REQUEST.
void skip_ifs_request(Harness& h) {
  REQUIRE_EQ(h.ioctl(IOCTL_SMARTCARD_SET_ATTRIBUTE, Harness::u32(SCARD_ATTR_SUPRESS_T1_IFS_REQUEST), 0).status(),
             STATUS_SUCCESS);
}

std::vector<UCHAR> response(const UserBuffer& io) {
  return {io.bytes.begin() + 8, io.bytes.begin() + static_cast<std::ptrdiff_t>(io.information)};
}

}  // namespace

// The CRC is Windows' (CRC-16/ARC, high byte first; issue 10 rule 17), not ISO/IEC 13239's.
TEST_CASE("smclib: T=1 with the CRC of TC3 and the driver's NAD") {
  using smc_windows::block;
  Harness h;
  h.ext.CardCapabilities.T1.EDC = T1_CRC_CHECK;
  h.ext.T1.NAD = 0x21;
  UserBuffer io(h, {0x00, 0xB0, 0x00, 0x00, 0x02}, 64);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), block(0xC1, {0xFE}, true, 0x21));
  CHECK_EQ(h.card_says(block(0xE1, {0xFE}, true, 0x12)), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), block(0x00, {0x00, 0xB0, 0x00, 0x00, 0x02}, true, 0x21));
  auto corrupted = block(0x00, {0xAB, 0xCD, 0x90, 0x00}, true, 0x12);
  corrupted.back() ^= 0x01;
  CHECK_EQ(h.card_says(corrupted), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), block(0x81, {}, true, 0x21));  // R(0), EDC error
  // an LRC block where a CRC is due has the wrong length: R(0), other error
  CHECK_EQ(h.card_says(block(0x00, {0x90, 0x00}, false, 0x12)), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), block(0x82, {}, true, 0x21));
  CHECK_EQ(h.card_says(block(0x00, {0xAB, 0xCD, 0x90, 0x00}, true, 0x12)), STATUS_SUCCESS);
  CHECK_EQ(io.information, 12u);
  CHECK_EQ(response(io), (std::vector<UCHAR>{0xAB, 0xCD, 0x90, 0x00}));
}

// Windows re-reads the IFSC from the card capabilities at every APDU (issue 10 rule 20).
TEST_CASE("smclib: T=1 the card's S(IFS request) is answered and its IFSC used for the rest of that APDU") {
  Harness h;
  h.ext.CardCapabilities.T1.IFSC = 32;
  skip_ifs_request(h);
  {
    UserBuffer io(h, {1, 2, 3, 4, 5, 6}, 64);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.t1_sent(), t1_block(0x00, {1, 2, 3, 4, 5, 6}));
    CHECK_EQ(h.card_says(t1_block(0xC1, {0x04})), STATUS_MORE_PROCESSING_REQUIRED);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.t1_sent(), t1_block(0xE1, {0x04}));
    CHECK_EQ(h.card_says(t1_block(0x00, {0x90, 0x00})), STATUS_SUCCESS);
    CHECK_EQ(io.information, 10u);
  }
  UserBuffer io(h, {1, 2, 3, 4, 5, 6}, 64);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x40, {1, 2, 3, 4, 5, 6}));  // N(S) 1, IFSC 32 again: one block
}

TEST_CASE("smclib: T=1 S-blocks from the card in the middle of an exchange") {
  Harness h;
  skip_ifs_request(h);
  UserBuffer io(h, {0x80, 0xCA, 0x00, 0x00}, 64);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  SUBCASE("S(ABORT request) is answered S(ABORT response)") {
    CHECK_EQ(h.card_says(t1_block(0xC2)), STATUS_MORE_PROCESSING_REQUIRED);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.t1_sent(), t1_block(0xE2));
  }
  SUBCASE("S(IFS request) with IFS 00 is an invalid block: R-block, other error") {
    CHECK_EQ(h.card_says({0x00, 0xC1, 0x01, 0x00, 0xC0}), STATUS_MORE_PROCESSING_REQUIRED);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.t1_sent(), t1_block(0x82));
  }
  SUBCASE("a response we did not ask for ends the exchange") {
    for (UCHAR pcb : {UCHAR{0xE0}, UCHAR{0xE2}, UCHAR{0xE3}}) {
      CAPTURE(pcb);
      const std::vector<UCHAR> inf = pcb == 0xE3 ? std::vector<UCHAR>{0x01} : std::vector<UCHAR>{};
      CHECK_EQ(h.card_says(t1_block(pcb, inf)), STATUS_DEVICE_PROTOCOL_ERROR);
      CHECK_EQ(h.ext.T1.State, ULONG{T1_START});  // ready for the next APDU
      CHECK_EQ(io.information, 0u);
      REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    }
  }
  SUBCASE("the WTX multiplier holds for the wait after S(WTX response), not after") {
    CHECK_EQ(h.card_says(t1_block(0xC3, {0x03})), STATUS_MORE_PROCESSING_REQUIRED);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.t1_sent(), t1_block(0xE3, {0x03}));
    CHECK_EQ(h.ext.T1.Wtx, 3);
    auto bad = t1_block(0x00, {0x90, 0x00});
    bad.back() ^= 0xFF;
    CHECK_EQ(h.card_says(bad), STATUS_MORE_PROCESSING_REQUIRED);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.ext.T1.Wtx, 0);
  }
}

TEST_CASE("smclib: T=1 an R-block asking for our I-block again, then RESYNCH after two resends") {
  Harness h;
  skip_ifs_request(h);
  UserBuffer io(h, {0xA0}, 64);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  const auto first = h.t1_sent();
  CHECK_EQ(first, t1_block(0x00, {0xA0}));
  for (int resend = 0; resend < T1_MAX_RETRIES; ++resend) {
    CHECK_EQ(h.card_says(t1_block(0x80)), STATUS_MORE_PROCESSING_REQUIRED);  // R(0): N(R) is our N(S)
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.t1_sent(), first);
  }
  CHECK_EQ(h.card_says(t1_block(0x80)), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0xC0));
  CHECK_EQ(h.card_says(t1_block(0xE0)), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), first);  // the exchange starts over from N(S) 0
  CHECK_EQ(h.card_says(t1_block(0x00, {0x90, 0x00})), STATUS_SUCCESS);
  CHECK_EQ(response(io), (std::vector<UCHAR>{0x90, 0x00}));
}

TEST_CASE("smclib: T=1 chaining with an R-block error: the same chunk again") {
  Harness h;
  h.ext.CardCapabilities.T1.IFSC = 4;
  skip_ifs_request(h);
  UserBuffer io(h, {1, 2, 3, 4, 5, 6}, 64);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x20, {1, 2, 3, 4}));
  CHECK_EQ(h.card_says(t1_block(0x91)), STATUS_MORE_PROCESSING_REQUIRED);  // R(1) with EDC error
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x20, {1, 2, 3, 4}));
  CHECK_EQ(h.card_says(t1_block(0x90)), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x40, {5, 6}));
  CHECK_EQ(h.card_says(t1_block(0x00, {0x90, 0x00})), STATUS_SUCCESS);
}

TEST_CASE("smclib: T=1 receiving a chain: an R-block from the card repeats our R-block") {
  Harness h;
  skip_ifs_request(h);
  UserBuffer io(h, {0xA0}, 64);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.card_says(t1_block(0x20, {1, 2})), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x90));
  CHECK_EQ(h.card_says(t1_block(0x80)), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x90));
  CHECK_EQ(h.card_says(t1_block(0x40, {3, 4})), STATUS_SUCCESS);
  CHECK_EQ(response(io), (std::vector<UCHAR>{1, 2, 3, 4}));
}

TEST_CASE("smclib: T=1 an I-block with the wrong N(S) gets R-block, other error") {
  Harness h;
  skip_ifs_request(h);
  UserBuffer io(h, {0xA0}, 64);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.card_says(t1_block(0x40, {0x90, 0x00})), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x82));
  SUBCASE("an R-block acknowledging more than we sent makes us repeat our R-block") {
    CHECK_EQ(h.card_says(t1_block(0x90)), STATUS_MORE_PROCESSING_REQUIRED);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    // LastError was cleared when the first R-block was built (issue 10 rule 16)
    CHECK_EQ(h.t1_sent(), t1_block(0x80));
  }
  SUBCASE("the right block then completes the exchange") {
    CHECK_EQ(h.card_says(t1_block(0x00, {0x90, 0x00})), STATUS_SUCCESS);
  }
}

TEST_CASE("smclib: T=1 answers to our S(IFS request) other than S(IFS response)") {
  Harness h;
  UserBuffer io(h, {0xA0}, 64);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  const auto ifs_request = t1_block(0xC1, {0xFE});
  REQUIRE_EQ(h.t1_sent(), ifs_request);
  SUBCASE("an R-block: the request again") {
    CHECK_EQ(h.card_says(t1_block(0x80)), STATUS_MORE_PROCESSING_REQUIRED);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.t1_sent(), ifs_request);
    CHECK_EQ(h.card_says(t1_block(0xE1, {0xFE})), STATUS_MORE_PROCESSING_REQUIRED);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.t1_sent(), t1_block(0x00, {0xA0}));
  }
  SUBCASE("an I-block ends the exchange (issue 10 rule 20)") {
    CHECK_EQ(h.card_says(t1_block(0x00, {0x90, 0x00})), STATUS_DEVICE_PROTOCOL_ERROR);
  }
  SUBCASE("silence: R-blocks twice, then RESYNCH, then the I-block (issue 10 rule 18)") {
    for (int resend = 0; resend < T1_MAX_RETRIES; ++resend) {
      CHECK_EQ(h.card_says({}), STATUS_MORE_PROCESSING_REQUIRED);
      REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
      CHECK_EQ(h.t1_sent(), t1_block(0x82));
    }
    CHECK_EQ(h.card_says({}), STATUS_MORE_PROCESSING_REQUIRED);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.t1_sent(), t1_block(0xC0));
    CHECK_EQ(h.card_says(t1_block(0xE0)), STATUS_MORE_PROCESSING_REQUIRED);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.t1_sent(), t1_block(0x00, {0xA0}));
  }
}

TEST_CASE("smclib: T=1 request failures: no room after the prefix, no SCARD_IO_REQUEST, bad engine state") {
  Harness h;
  UserBuffer io(h, {0xA0}, 64);
  // S(IFS request) needs 5 bytes after the driver's prefix
  h.ext.SmartcardRequest.BufferLength = MIN_BUFFER_SIZE - 4;
  CHECK_EQ(SmartcardT1Request(&h.ext), STATUS_INSUFFICIENT_RESOURCES);
  h.ext.SmartcardRequest.BufferLength = MIN_BUFFER_SIZE - 5;
  CHECK_EQ(SmartcardT1Request(&h.ext), STATUS_SUCCESS);
  CHECK_EQ(h.ext.SmartcardRequest.BufferLength, ULONG{MIN_BUFFER_SIZE});

  h.ext.T1.State = T1_START;
  io.bytes[4] = 200;  // cbPciLength past the input
  CHECK_EQ(h.t1_next(), STATUS_INVALID_PARAMETER);
  h.ext.T1.State = 0x55;
  CHECK_EQ(h.t1_next(), STATUS_INTERNAL_ERROR);

  SMARTCARD_EXTENSION never_initialised{};
  CHECK_EQ(SmartcardT1Request(&never_initialised), STATUS_INTERNAL_ERROR);
  CHECK_EQ(SmartcardT1Reply(&never_initialised), STATUS_INTERNAL_ERROR);
}
