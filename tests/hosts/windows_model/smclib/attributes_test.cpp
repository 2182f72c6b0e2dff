// GET_ATTRIBUTE answered by the library alone (spec smclib.md §4): every tag of the table,
// the output-size rule and the state rule.
#include <doctest/doctest.h>

#include <string>

#include "harness.h"

namespace {

Issued get(Harness& h, ULONG tag, ULONG out = 64) {
  return h.ioctl(IOCTL_SMARTCARD_GET_ATTRIBUTE, Harness::u32(tag), out);
}

std::string text(const Issued& r) { return {reinterpret_cast<const char*>(r.buffer.get()), r.info()}; }

// IFD_PROTOCOL-class tags, ATR_STRING and ICC_TYPE_PER_ATR: a reset card only (§4 state rules).
const ULONG kProtocolTags[] = {SCARD_ATTR_CURRENT_PROTOCOL_TYPE,
                               SCARD_ATTR_CURRENT_CLK,
                               SCARD_ATTR_CURRENT_F,
                               SCARD_ATTR_CURRENT_D,
                               SCARD_ATTR_CURRENT_N,
                               SCARD_ATTR_CURRENT_W,
                               SCARD_ATTR_CURRENT_IFSC,
                               SCARD_ATTR_CURRENT_IFSD,
                               SCARD_ATTR_CURRENT_BWT,
                               SCARD_ATTR_CURRENT_CWT,
                               SCARD_ATTR_CURRENT_EBC_ENCODING,
                               SCARD_ATTR_ATR_STRING,
                               SCARD_ATTR_ICC_TYPE_PER_ATR};

}  // namespace

TEST_CASE("smclib: reader attributes are VendorAttr and ReaderCapabilities, the driver never called") {
  Harness h;
  std::memcpy(h.ext.VendorAttr.IfdSerialNo.Buffer, "RL-0042", 7);
  h.ext.VendorAttr.IfdSerialNo.Length = 7;
  h.ext.ReaderCapabilities.CLKFrequency.Max = 8000;
  h.ext.ReaderCapabilities.PowerMgmtSupport = 1;
  h.ext.ReaderCapabilities.MechProperties = SCARD_READER_EJECTS | SCARD_READER_SWALLOWS;

  auto type = get(h, SCARD_ATTR_VENDOR_IFD_TYPE);
  CHECK_EQ(type.status(), STATUS_SUCCESS);
  CHECK_EQ(text(type), "model");
  auto serial = get(h, SCARD_ATTR_VENDOR_IFD_SERIAL_NO);
  CHECK_EQ(serial.status(), STATUS_SUCCESS);
  CHECK_EQ(text(serial), "RL-0042");

  const struct {
    ULONG tag;
    ULONG value;
  } ulongs[] = {
      {SCARD_ATTR_PROTOCOL_TYPES, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1},
      {SCARD_ATTR_DEFAULT_CLK, 3571},
      {SCARD_ATTR_MAX_CLK, 8000},
      {SCARD_ATTR_DEFAULT_DATA_RATE, 9600},
      {SCARD_ATTR_MAX_DATA_RATE, 115200},
      {SCARD_ATTR_MAX_IFSD, 254},
      {SCARD_ATTR_POWER_MGMT_SUPPORT, 1},
      {SCARD_ATTR_CHARACTERISTICS, SCARD_READER_EJECTS | SCARD_READER_SWALLOWS},
      {SCARD_ATTR_DEVICE_UNIT, 1},
      {SCARD_ATTR_CHANNEL_ID, (SCARD_READER_TYPE_USB << 16) | 3u},  // 0xDDDDCCCC [X]
      {SCARD_ATTR_VENDOR_IFD_VERSION, 0x04030102u},                 // Major<<24 | Minor<<16 | Build
  };
  for (const auto& u : ulongs) {
    auto r = get(h, u.tag);
    CHECK_MESSAGE(r.status() == STATUS_SUCCESS, "tag ", u.tag);
    CHECK_MESSAGE(r.info() == 4u, "tag ", u.tag);
    CHECK_MESSAGE(r.out_ulong() == u.value, "tag ", u.tag);
    // a ULONG never fits 1 byte, and no output at all fails as ifdtest part B expects
    CHECK_MESSAGE(get(h, u.tag, 1).status() == STATUS_BUFFER_TOO_SMALL, "tag ", u.tag);
    CHECK_MESSAGE(get(h, u.tag, 0).status() == STATUS_BUFFER_TOO_SMALL, "tag ", u.tag);
  }
  CHECK(h.calls.empty());
}

TEST_CASE("smclib: a vendor string longer than its 32-byte buffer is cut at the buffer") {
  Harness h;
  std::memset(h.ext.VendorAttr.VendorName.Buffer, 'v', sizeof h.ext.VendorAttr.VendorName.Buffer);
  h.ext.VendorAttr.VendorName.Length = 200;
  auto r = get(h, SCARD_ATTR_VENDOR_NAME, 300);
  CHECK_EQ(r.status(), STATUS_SUCCESS);
  CHECK_EQ(r.info(), 32u);
  CHECK_EQ(text(r), std::string(32, 'v'));
  // an empty string with no room at all is still too small for a string tag
  h.ext.VendorAttr.IfdSerialNo.Length = 0;
  CHECK_EQ(get(h, SCARD_ATTR_VENDOR_IFD_SERIAL_NO, 0).status(), STATUS_BUFFER_TOO_SMALL);
}

TEST_CASE("smclib: tags the Win11 library refused stay NOT_SUPPORTED in every state") {
  Harness h;
  for (ULONG state = SCARD_ABSENT; state <= SCARD_SPECIFIC; ++state) {
    h.set_state(state);
    for (ULONG tag :
         {SCARD_ATTR_SYNC_PROTOCOL_TYPES, SCARD_ATTR_USER_TO_CARD_AUTH_DEVICE, SCARD_ATTR_USER_AUTH_INPUT_DEVICE,
          SCARD_ATTR_EXTENDED_BWT, SCARD_ATTR_CURRENT_IO_STATE, SCARD_ATTR_ESC_RESET, SCARD_ATTR_ESC_CANCEL,
          SCARD_ATTR_ESC_AUTHREQUEST, SCARD_ATTR_MAXINPUT, SCARD_ATTR_VENDOR_SPECIFIC_INFO, SCARD_ATTR_DEVICE_IN_USE,
          SCARD_ATTR_DEVICE_FRIENDLY_NAME_A, SCARD_ATTR_DEVICE_SYSTEM_NAME_A, SCARD_ATTR_DEVICE_FRIENDLY_NAME_W,
          SCARD_ATTR_DEVICE_SYSTEM_NAME_W, SCARD_ATTR_SUPRESS_T1_IFS_REQUEST, SCARD_PERF_NUM_TRANSMISSIONS,
          SCARD_PERF_BYTES_TRANSMITTED, SCARD_PERF_TRANSMISSION_TIME}) {
      auto r = get(h, tag);
      CHECK_MESSAGE(r.status() == STATUS_NOT_SUPPORTED, "tag ", tag, " state ", state);
      CHECK_EQ(r.info(), 0u);
    }
  }
}

TEST_CASE("smclib: ICC_PRESENCE and ICC_INTERFACE_STATUS by state, one byte each") {
  Harness h;
  // states ABSENT..SPECIFIC: presence 0, 1, then 2 from SWALLOWED; interface 0 up to PRESENT
  const UCHAR presence[] = {0, 0, 1, 2, 2, 2, 2};
  const UCHAR interface_status[] = {0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF};
  for (ULONG state = SCARD_ABSENT; state <= SCARD_SPECIFIC; ++state) {
    h.set_state(state);
    auto p = get(h, SCARD_ATTR_ICC_PRESENCE, 1);
    CHECK_EQ(p.status(), STATUS_SUCCESS);
    CHECK_EQ(p.info(), 1u);
    CHECK_MESSAGE(p.buffer[0] == presence[state], "state ", state);
    auto i = get(h, SCARD_ATTR_ICC_INTERFACE_STATUS, 1);
    CHECK_EQ(i.info(), 1u);
    CHECK_MESSAGE(i.buffer[0] == interface_status[state], "state ", state);
    CHECK_EQ(get(h, SCARD_ATTR_ICC_PRESENCE, 0).status(), STATUS_BUFFER_TOO_SMALL);
  }
}

TEST_CASE("smclib: protocol attributes need a reset card") {
  Harness h;
  h.ext.CardCapabilities.ATR.Length = 2;
  for (ULONG state = SCARD_UNKNOWN; state <= SCARD_SPECIFIC; ++state) {
    h.set_state(state);
    for (ULONG tag : kProtocolTags) {
      const NTSTATUS s = get(h, tag).status();
      if (state <= SCARD_POWERED) {
        CHECK_MESSAGE(s == STATUS_INVALID_DEVICE_STATE, "tag ", tag, " state ", state);
      } else {
        CHECK_MESSAGE(s == STATUS_SUCCESS, "tag ", tag, " state ", state);
      }
    }
  }
}

TEST_CASE("smclib: after SET_PROTOCOL the protocol attributes describe the card and its T=1 parameters") {
  Harness h;
  // TS 3B; T0 D0: TA1 TC1 TD1; TA1 13 (Fl 1, Dl 3); TC1 02 (N); TD1 81: TD2, T=1;
  // TD2 71: TA3 TB3 TC3, T=1; TA3 80 (IFSC 128); TB3 35 (BWI 3, CWI 5); TC3 01 (CRC); TCK
  h.atr = smc::with_tck({0x3B, 0xD0, 0x13, 0x02, 0x81, 0x71, 0x80, 0x35, 0x01});
  h.set_state(SCARD_PRESENT);
  REQUIRE_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_SUCCESS);
  CHECK_EQ(h.state(), ULONG{SCARD_NEGOTIABLE});  // TA1 is not the default 11
  CHECK_EQ(get(h, SCARD_ATTR_CURRENT_PROTOCOL_TYPE).out_ulong(), 0u);
  CHECK_EQ(get(h, SCARD_ATTR_ICC_TYPE_PER_ATR).buffer[0], 0);
  REQUIRE_EQ(h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(SCARD_PROTOCOL_T1), 4).status(), STATUS_SUCCESS);
  REQUIRE_EQ(h.state(), ULONG{SCARD_SPECIFIC});

  const struct {
    ULONG tag;
    ULONG value;
  } expected[] = {
      {SCARD_ATTR_CURRENT_PROTOCOL_TYPE, SCARD_PROTOCOL_T1},
      {SCARD_ATTR_CURRENT_CLK, 3571},
      {SCARD_ATTR_CURRENT_F, 372},  // Fl 1
      {SCARD_ATTR_CURRENT_D, 4},    // Dl 3
      {SCARD_ATTR_CURRENT_N, 2},
      {SCARD_ATTR_CURRENT_W, 0},  // a T=1-only card has no T=0 WI (issue 10 rule 2)
      {SCARD_ATTR_CURRENT_IFSC, 128},
      {SCARD_ATTR_CURRENT_IFSD, 254},
      {SCARD_ATTR_CURRENT_BWT, 3},  // BWI and CWI integers, not times [R]
      {SCARD_ATTR_CURRENT_CWT, 5},
      {SCARD_ATTR_CURRENT_EBC_ENCODING, 1},  // CRC
  };
  for (const auto& e : expected) {
    auto r = get(h, e.tag);
    CHECK_MESSAGE(r.status() == STATUS_SUCCESS, "tag ", e.tag);
    CHECK_MESSAGE(r.out_ulong() == e.value, "tag ", e.tag);
    CHECK_MESSAGE(get(h, e.tag, 3).status() == STATUS_BUFFER_TOO_SMALL, "tag ", e.tag);
  }
  auto type = get(h, SCARD_ATTR_ICC_TYPE_PER_ATR, 1);
  CHECK_EQ(type.status(), STATUS_SUCCESS);
  CHECK_EQ(type.buffer[0], 1);  // ISO 7816 asynchronous
  auto atr = get(h, SCARD_ATTR_ATR_STRING);
  CHECK_EQ(atr.status(), STATUS_SUCCESS);
  CHECK_EQ(std::vector<UCHAR>(atr.buffer.get(), atr.buffer.get() + atr.info()), h.atr);
  CHECK_EQ(get(h, SCARD_ATTR_ATR_STRING, 1).status(), STATUS_BUFFER_TOO_SMALL);  // a string tag
}
