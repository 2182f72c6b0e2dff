#include <doctest/doctest.h>

#include "harness.h"

using smc::t1_block;
using smc::UserBuffer;
using smc::with_tck;

TEST_CASE("smclib: ATR parsing") {
  Harness h;
  h.set_state(SCARD_POWERED);
  SUBCASE("defaults and SPECIFIC for a single protocol at default F/D") {
    REQUIRE_EQ(h.update_atr({0x3B, 0x00}), STATUS_SUCCESS);
    const auto& cc = h.ext.CardCapabilities;
    CHECK_EQ(h.state(), ULONG{SCARD_SPECIFIC});
    CHECK_EQ(cc.Protocol.Selected, SCARD_PROTOCOL_T0);
    CHECK_EQ(cc.Protocol.Supported, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_RAW);
    CHECK_EQ(cc.Fl, 1);
    CHECK_EQ(cc.Dl, 1);
    CHECK_EQ(cc.P, 50);
    CHECK_EQ(cc.T0.WI, 10);
    CHECK_EQ(cc.etu, 105u);
    CHECK_EQ(cc.T0.WT, 960u * 10u * 105u + 1u);
    // A T=0 card gets no T=1 parameters (issue 10 rule 2).
    CHECK_EQ(cc.T1.IFSC, 0);
    CHECK_EQ(cc.T1.CWI, 0);
    CHECK_EQ(cc.T1.BWI, 0);
    CHECK_EQ(cc.T1.CWT, 0u);
    CHECK_EQ(cc.T1.BWT, 0u);
  }
  SUBCASE("two protocols: NEGOTIABLE with nothing selected; BWI 2") {
    REQUIRE_EQ(h.update_atr(with_tck({0x3B, 0x80, 0x80, 0x21, 0x25})), STATUS_SUCCESS);  // TD1 T0, TD2 T1, TB3 25
    CHECK_EQ(h.state(), ULONG{SCARD_NEGOTIABLE});
    CHECK_EQ(h.ext.CardCapabilities.Protocol.Selected, 0u);
    CHECK_EQ(h.ext.CardCapabilities.Protocol.Supported, SCARD_PROTOCOL_Tx | SCARD_PROTOCOL_RAW);
    CHECK_EQ(h.ext.CardCapabilities.T1.BWI, 2);
    CHECK_EQ(h.ext.CardCapabilities.T1.CWI, 5);
    CHECK_EQ(h.ext.CardCapabilities.T1.BWT, 1555001u);
  }
  SUBCASE("TA2 gives SPECIFIC with its protocol") {
    REQUIRE_EQ(h.update_atr({0x3B, 0x80, 0x10, 0x01}), STATUS_SUCCESS);  // TD1 T0 -> TA2 = 01; T=0 only: no TCK
    CHECK_EQ(h.state(), ULONG{SCARD_SPECIFIC});
    CHECK_EQ(h.ext.CardCapabilities.Protocol.Selected, SCARD_PROTOCOL_T1);
  }
  SUBCASE("TA1 other than default gives NEGOTIABLE") {
    REQUIRE_EQ(h.update_atr({0x3B, 0x10, 0x94}), STATUS_SUCCESS);
    CHECK_EQ(h.state(), ULONG{SCARD_NEGOTIABLE});
  }
  SUBCASE("TS 03 is inverse convention") {
    std::vector<UCHAR> atr = {0x3F, 0x00};
    SmartcardInvertData(atr.data(), 2);
    CHECK_EQ(atr[0], 0x03);
    REQUIRE_EQ(h.update_atr(atr), STATUS_SUCCESS);
    CHECK(h.ext.CardCapabilities.InversConvention);
    CHECK_EQ(h.ext.CardCapabilities.ATR.Buffer[0], 0x3F);
  }
  SUBCASE("unrecognised ATRs leave the state alone") {
    const std::vector<std::vector<UCHAR>> bad = {
        {0x3C, 0x00},              // bad TS
        {0x3B, 0x12, 0x11},        // truncated (TB1 missing)
        {0x3B, 0x02, 0x41},        // truncated historical bytes
        {0x3B, 0x10, 0x70},        // Fl 7 RFU
        {0x3B, 0x10, 0x10},        // Dl 0 RFU
        {0x3B, 0x10, 0x1A},        // Dl A RFU
        {0x3B, 0x80, 0x01},        // T=1 without TCK
        {0x3B, 0x80, 0x01, 0x00},  // wrong TCK
        {0x3B},                    // too short
    };
    for (const auto& atr : bad) {
      h.set_state(SCARD_POWERED);
      CHECK_EQ(h.update_atr(atr), STATUS_UNRECOGNIZED_MEDIA);
      CHECK_EQ(h.state(), ULONG{SCARD_POWERED});
    }
  }
}

TEST_CASE("smclib: attributes by state") {
  Harness h;
  auto get = [&](ULONG tag, ULONG out = 64) { return h.ioctl(IOCTL_SMARTCARD_GET_ATTRIBUTE, Harness::u32(tag), out); };
  h.set_state(SCARD_UNKNOWN);
  CHECK_EQ(get(SCARD_ATTR_ICC_PRESENCE).status(), STATUS_INVALID_DEVICE_STATE);
  CHECK_EQ(get(SCARD_ATTR_ICC_INTERFACE_STATUS).buffer[0], 0);
  h.set_state(SCARD_ABSENT);
  auto r = get(SCARD_ATTR_VENDOR_NAME);
  CHECK_EQ(r.info(), 9u);
  CHECK(std::memcmp(r.buffer.get(), "readerlab", 9) == 0);
  CHECK_EQ(get(SCARD_ATTR_VENDOR_NAME, 1).status(), STATUS_BUFFER_TOO_SMALL);
  CHECK_EQ(get(SCARD_ATTR_VENDOR_IFD_VERSION).out_ulong(), 0x04030102u);
  CHECK_EQ(get(SCARD_ATTR_CHANNEL_ID).out_ulong(), 0x00200003u);
  CHECK_EQ(get(SCARD_ATTR_MAX_IFSD, 1).status(), STATUS_BUFFER_TOO_SMALL);
  CHECK_EQ(get(SCARD_ATTR_DEVICE_UNIT).out_ulong(), 1u);
  CHECK_EQ(get(SCARD_ATTR_ICC_PRESENCE, 1).buffer[0], 0);
  for (ULONG tag : {SCARD_ATTR_ATR_STRING, SCARD_ATTR_CURRENT_PROTOCOL_TYPE, SCARD_ATTR_ICC_TYPE_PER_ATR,
                    SCARD_ATTR_CURRENT_IFSC, SCARD_ATTR_CURRENT_BWT}) {
    CHECK_EQ(get(tag).status(), STATUS_INVALID_DEVICE_STATE);
  }
  for (ULONG tag : {SCARD_ATTR_SYNC_PROTOCOL_TYPES, SCARD_ATTR_EXTENDED_BWT, SCARD_ATTR_CURRENT_IO_STATE,
                    SCARD_ATTR_ESC_RESET, SCARD_ATTR_DEVICE_IN_USE, SCARD_PERF_NUM_TRANSMISSIONS, 0x12345678u}) {
    CHECK_EQ(get(tag).status(), STATUS_NOT_SUPPORTED);
  }
  h.set_state(SCARD_PRESENT);
  CHECK_EQ(get(SCARD_ATTR_ICC_PRESENCE).buffer[0], 1);
  CHECK_EQ(get(SCARD_ATTR_ICC_INTERFACE_STATUS).buffer[0], 0);
  h.atr = {0x3B, 0x10, 0x94};
  REQUIRE_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_SUCCESS);  // NEGOTIABLE
  CHECK_EQ(get(SCARD_ATTR_ICC_PRESENCE).buffer[0], 2);
  CHECK_EQ(get(SCARD_ATTR_ICC_INTERFACE_STATUS).buffer[0], 0xFF);
  r = get(SCARD_ATTR_ATR_STRING);
  CHECK_EQ(r.info(), 3u);
  CHECK_EQ(get(SCARD_ATTR_ICC_TYPE_PER_ATR, 1).buffer[0], 0);
  CHECK_EQ(get(SCARD_ATTR_CURRENT_F).out_ulong(), 512u);
  CHECK_EQ(get(SCARD_ATTR_CURRENT_D).out_ulong(), 8u);
  CHECK_EQ(get(SCARD_ATTR_CURRENT_BWT).out_ulong(), 0u);  // a T=0 card: no T=1 parameters (issue 10 rule 2)
  CHECK_EQ(get(SCARD_ATTR_CURRENT_CWT).out_ulong(), 0u);
  CHECK_EQ(get(SCARD_ATTR_CURRENT_IFSD).out_ulong(), 254u);
  CHECK_EQ(get(SCARD_ATTR_CURRENT_CLK).out_ulong(), 3571u);
}

TEST_CASE("smclib: T=0 request and reply") {
  Harness h;
  auto req = [&](std::vector<UCHAR> apdu, ULONG prefix = 0) {
    UserBuffer io(h, apdu, 64);
    h.ext.SmartcardRequest.BufferLength = prefix;
    const NTSTATUS status = SmartcardT0Request(&h.ext);
    return std::make_pair(status, h.t1_sent());
  };
  auto [s1, b1] = req({0x00, 0xA4, 0x00, 0x00});
  CHECK_EQ(s1, STATUS_SUCCESS);
  CHECK_EQ(b1, std::vector<UCHAR>{0x00, 0xA4, 0x00, 0x00, 0x00});
  auto [s2, b2] = req({0x00, 0xB0, 0x00, 0x00, 0x00});
  CHECK_EQ(s2, STATUS_SUCCESS);
  CHECK_EQ(h.ext.T0.Le, 256u);
  auto [s3, b3] = req({0x00, 0xD6, 0x00, 0x00, 0x02, 0xAA, 0xBB}, 2);
  CHECK_EQ(s3, STATUS_SUCCESS);
  CHECK_EQ(b3.size(), 9u);  // after the driver's 2-byte prefix
  CHECK_EQ(h.ext.T0.Lc, 2u);
  CHECK_EQ(req({0x00, 0xD6, 0x00, 0x00, 0x02, 0xAA, 0xBB, 0x00}).first, STATUS_INVALID_PARAMETER);  // case 4
  CHECK_EQ(req({0x00, 0xD6, 0x00, 0x00, 0x03, 0xAA}).first, STATUS_INVALID_PARAMETER);
  CHECK_EQ(req({0x00, 0xD6, 0x00}).first, STATUS_INVALID_PARAMETER);
  CHECK_EQ(req({0x00, 0xD6, 0x00, 0x00, 0x02, 0xAA, 0xBB}, MIN_BUFFER_SIZE - 3).first, STATUS_BUFFER_OVERFLOW);

  UserBuffer io(h, {}, 12);
  h.ext.SmartcardReply.Buffer[0] = 0x6A;
  h.ext.SmartcardReply.BufferLength = 1;
  CHECK_EQ(SmartcardT0Reply(&h.ext), STATUS_DEVICE_PROTOCOL_ERROR);
  h.ext.SmartcardReply.Buffer[1] = 0x82;
  h.ext.SmartcardReply.BufferLength = 2;
  CHECK_EQ(SmartcardT0Reply(&h.ext), STATUS_SUCCESS);
  CHECK_EQ(io.information, 10u);
  CHECK_EQ(io.bytes[0], 1);
  CHECK_EQ(io.bytes[4], 8);
  CHECK_EQ(io.bytes[9], 0x82);
  h.ext.SmartcardReply.BufferLength = 5;
  CHECK_EQ(SmartcardT0Reply(&h.ext), STATUS_BUFFER_TOO_SMALL);
}

TEST_CASE("smclib: raw request and reply") {
  Harness h;
  UserBuffer io(h, {0xAA, 0xBB}, 4);
  h.ext.SmartcardRequest.BufferLength = 1;
  CHECK_EQ(SmartcardRawRequest(&h.ext), STATUS_SUCCESS);
  CHECK_EQ(h.ext.SmartcardRequest.BufferLength, 11u);  // the whole input, header included
  h.ext.SmartcardRequest.BufferLength = MIN_BUFFER_SIZE - 2;
  CHECK_EQ(SmartcardRawRequest(&h.ext), STATUS_BUFFER_TOO_SMALL);
  h.ext.IoRequest.ReplyBufferLength = 2;
  h.ext.SmartcardReply.BufferLength = 3;
  CHECK_EQ(SmartcardRawReply(&h.ext), STATUS_BUFFER_TOO_SMALL);
  h.ext.SmartcardReply.BufferLength = 2;
  CHECK_EQ(SmartcardRawReply(&h.ext), STATUS_SUCCESS);
  CHECK_EQ(io.information, 2u);
}

TEST_CASE("smclib: T=1 IFS request, chaining both ways, WTX") {
  Harness h;
  h.ext.CardCapabilities.T1.IFSC = 4;
  UserBuffer io(h, {1, 2, 3, 4, 5, 6}, 64);
  // S(IFS request) with IFSD 254 first
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0xC1, {0xFE}));
  CHECK_EQ(h.card_says(t1_block(0xE1, {0xFE})), STATUS_MORE_PROCESSING_REQUIRED);
  // out chain: 4 + 2 bytes
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x20, {1, 2, 3, 4}));
  CHECK_EQ(h.card_says(t1_block(0x90)), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x40, {5, 6}));
  // the card asks for more time
  CHECK_EQ(h.card_says(t1_block(0xC3, {0x05})), STATUS_MORE_PROCESSING_REQUIRED);
  CHECK_EQ(h.ext.T1.Wtx, 5);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0xE3, {0x05}));
  // in chain
  CHECK_EQ(h.card_says(t1_block(0x20, {0xA1, 0xA2})), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x90));
  CHECK_EQ(h.card_says(t1_block(0x40, {0x90, 0x00})), STATUS_SUCCESS);
  CHECK_EQ(io.information, 12u);
  CHECK_EQ(io.bytes[0], 2);
  CHECK_EQ(io.bytes[8], 0xA1);
  CHECK_EQ(io.bytes[11], 0x00);
  CHECK_EQ(SmartcardT1Reply(&h.ext), STATUS_INTERNAL_ERROR);  // nothing outstanding
  // next APDU: no IFS request again, N(S) continues at 0 (two I-blocks sent)
  UserBuffer io2(h, {0x00, 0xB0, 0x00, 0x00, 0x00}, 64);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent()[1], 0x20);
}

TEST_CASE("smclib: T=1 errors, resynch and failures") {
  Harness h;
  UserBuffer io(h, {0x00, 0xA4}, 64);
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_SET_ATTRIBUTE, Harness::u32(SCARD_ATTR_SUPRESS_T1_IFS_REQUEST), 0).status(),
           STATUS_SUCCESS);
  UserBuffer io1(h, {0x00, 0xA4}, 64);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x00, {0x00, 0xA4}));  // no IFS request
  auto bad = t1_block(0x00, {0x90, 0x00});
  bad.back() ^= 1;
  CHECK_EQ(h.card_says(bad), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x81));                                 // R(0) with EDC error
  CHECK_EQ(h.card_says({0x00, 0x00}), STATUS_MORE_PROCESSING_REQUIRED);  // too short
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x82));
  CHECK_EQ(h.card_says(bad), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0xC0));  // third failure: RESYNCH
  CHECK_EQ(h.card_says(t1_block(0xE0)), STATUS_MORE_PROCESSING_REQUIRED);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), t1_block(0x00, {0x00, 0xA4}));  // restart from N(S) 0
  CHECK_EQ(h.card_says(t1_block(0x00, {0x90, 0x00})), STATUS_SUCCESS);

  SUBCASE("VPP error") {
    UserBuffer io2(h, {0x00}, 64);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.card_says(t1_block(0xE4)), STATUS_DEVICE_POWER_FAILURE);
  }
  SUBCASE("unsolicited S response") {
    UserBuffer io2(h, {0x00}, 64);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.card_says(t1_block(0xE1, {0x20})), STATUS_DEVICE_PROTOCOL_ERROR);
  }
  SUBCASE("reply too large for the user buffer") {
    UserBuffer io2(h, {0x00}, 9);
    REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
    CHECK_EQ(h.card_says(t1_block(0x40, {0x90, 0x00})), STATUS_BUFFER_TOO_SMALL);
  }
  SUBCASE("resynch that never answers") {
    UserBuffer io2(h, {0x00}, 64);
    NTSTATUS s = STATUS_MORE_PROCESSING_REQUIRED;
    int rounds = 0;
    while (s == STATUS_MORE_PROCESSING_REQUIRED && rounds++ < 20) {
      REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
      s = h.card_says({});
    }
    CHECK_EQ(s, STATUS_DEVICE_PROTOCOL_ERROR);
  }
}
