// Issue 10, rules 11, 12, 21-24 and 26: what Windows 11 (build 26100) smclib.sys does when it
// builds T=0 and raw requests, dispatches IOCTLs, powers a card, sets a protocol and releases the
// remove lock. The values are those recorded by the kernel test of spec smclib.md source [R].
#include <doctest/doctest.h>

#include "harness.h"

using smc::UserBuffer;
using smc::with_tck;

namespace {

constexpr ULONG kUntouched = 0x55;  // IoStatus.Information before the call, as [R] presets it
constexpr UCHAR kFill = 0xDD;       // SmartcardRequest.Buffer before the call

// An IOCTL through a real IRP whose IoStatus.Information already holds kUntouched.
Issued issue(Harness& h, ULONG code, const std::vector<UCHAR>& in, ULONG out_length) {
  Issued r;
  r.size = static_cast<ULONG>(in.size() > out_length ? in.size() : out_length);
  if (r.size != 0) {
    r.buffer = std::make_unique<UCHAR[]>(r.size);
    if (!in.empty()) std::memcpy(r.buffer.get(), in.data(), in.size());
  }
  ReaderlabBuildDeviceControlIrp(r.irp.get(), &h.device, code, r.buffer.get(), static_cast<ULONG>(in.size()),
                                 out_length);
  r.irp->IoStatus.Information = kUntouched;
  r.returned = SmartcardDeviceControl(&h.ext, r.irp.get());
  return r;
}

std::vector<UCHAR> request_bytes(const Harness& h, ULONG from, ULONG n) {
  return {h.ext.SmartcardRequest.Buffer + from, h.ext.SmartcardRequest.Buffer + from + n};
}

// SmartcardT0Request / SmartcardRawRequest as a driver's RDF_TRANSMIT calls them: {T=0, 8} + APDU
// in the user's buffer, `prefix` bytes of the driver's own already in SmartcardRequest, T0.Lc and
// T0.Le holding marks that show whether the call wrote them.
struct RequestBuilt {
  NTSTATUS status;
  ULONG length;
};
RequestBuilt build(Harness& h, NTSTATUS (*routine)(PSMARTCARD_EXTENSION), const std::vector<UCHAR>& apdu,
                   ULONG prefix) {
  UserBuffer io(h, apdu, 300, SCARD_PROTOCOL_T0);
  std::memset(h.ext.SmartcardRequest.Buffer, kFill, h.ext.SmartcardRequest.BufferSize);
  h.ext.SmartcardRequest.BufferLength = prefix;
  h.ext.T0.Lc = 0x1111;
  h.ext.T0.Le = 0x2222;
  const NTSTATUS status = routine(&h.ext);
  return {status, h.ext.SmartcardRequest.BufferLength};
}

// What RDF_SET_PROTOCOL saw when the library called it.
struct SeenBySetProtocol {
  int calls = 0;
  ULONG state = 0;
  ULONG selected = 0;
  PTS_DATA pts{};
};
SeenBySetProtocol g_seen;

NTSTATUS record_set_protocol(PSMARTCARD_EXTENSION e) {
  ++g_seen.calls;
  g_seen.state = e->ReaderCapabilities.CurrentState;
  g_seen.selected = e->CardCapabilities.Protocol.Selected;
  g_seen.pts = e->CardCapabilities.PtsData;
  return STATUS_SUCCESS;  // a driver that leaves state, Selected and the reply alone
}

NTSTATUS refuse_atr_parse(PSMARTCARD_EXTENSION) { return STATUS_UNSUCCESSFUL; }

// A harness whose card has been reset (RDF_CARD_POWER + SmartcardUpdateCardCapabilities) with
// `atr`, and whose RDF_SET_PROTOCOL only records what it saw.
void reset_card(Harness& h, std::vector<UCHAR> atr) {
  h.atr = std::move(atr);
  h.set_state(SCARD_PRESENT);
  REQUIRE_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_SUCCESS);
  h.ext.ReaderFunction[RDF_SET_PROTOCOL] = record_set_protocol;
  g_seen = {};
}

Issued set_protocol(Harness& h, ULONG mask) { return issue(h, IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(mask), 4); }

}  // namespace

TEST_CASE("Windows 11 rule 11: T0Request copies the APDU and sets Lc/Le before it refuses a malformed one") {
  Harness h;
  struct Case {
    std::vector<UCHAR> apdu;
    ULONG lc, le;
  };
  // Case 4, Lc longer and shorter than the data, P3 = 0 with data: [R] T0 4-7, 13.
  for (const Case& c : {Case{{0x00, 0xA4, 0x04, 0x00, 0x02, 0x3F, 0x00, 0x05}, 2, 0},
                        Case{{0x00, 0xD6, 0x00, 0x00, 0x05, 0xAA, 0xBB}, 5, 0},
                        Case{{0x00, 0xD6, 0x00, 0x00, 0x01, 0xAA, 0xBB, 0xCC, 0xDD}, 1, 0},
                        Case{{0x00, 0xD6, 0x00, 0x00, 0x00, 0xAA}, 0, 0}}) {
    const ULONG n = static_cast<ULONG>(c.apdu.size());
    const RequestBuilt r = build(h, SmartcardT0Request, c.apdu, 0);
    CHECK_EQ(r.status, STATUS_INVALID_PARAMETER);
    CHECK_EQ(r.length, n);
    CHECK_EQ(request_bytes(h, 0, n), c.apdu);
    CHECK_EQ(h.ext.T0.Lc, c.lc);
    CHECK_EQ(h.ext.T0.Le, c.le);
  }
  // Shorter than a header: copied, but Lc and Le are not touched ([R] T0 10, 11).
  RequestBuilt r = build(h, SmartcardT0Request, {0x00, 0xA4, 0x00}, 0);
  CHECK_EQ(r.status, STATUS_INVALID_PARAMETER);
  CHECK_EQ(r.length, 3u);
  CHECK_EQ(request_bytes(h, 0, 4), (std::vector<UCHAR>{0x00, 0xA4, 0x00, kFill}));
  CHECK_EQ(h.ext.T0.Lc, 0x1111u);
  CHECK_EQ(h.ext.T0.Le, 0x2222u);
  r = build(h, SmartcardT0Request, {}, 0);
  CHECK_EQ(r.status, STATUS_INVALID_PARAMETER);
  CHECK_EQ(r.length, 0u);
  CHECK_EQ(h.ext.T0.Le, 0x2222u);
  // Well-formed requests after a driver prefix ([R] T0 0, 8, 12).
  r = build(h, SmartcardT0Request, {0x00, 0xD6, 0x00, 0x00, 0x00}, 3);
  CHECK_EQ(r.status, STATUS_SUCCESS);
  CHECK_EQ(r.length, 8u);
  CHECK_EQ(h.ext.T0.Lc, 0u);
  CHECK_EQ(h.ext.T0.Le, 0x100u);
  r = build(h, SmartcardT0Request, {0x00, 0xA4, 0x00, 0x00}, 0);
  CHECK_EQ(r.status, STATUS_SUCCESS);
  CHECK_EQ(request_bytes(h, 0, 6), (std::vector<UCHAR>{0x00, 0xA4, 0x00, 0x00, 0x00, kFill}));
  CHECK_EQ(h.ext.T0.Le, 0u);
}

TEST_CASE("Windows 11 rule 12: the room T0Request and RawRequest leave in a 288-byte request buffer") {
  Harness h;
  REQUIRE_EQ(h.ext.SmartcardRequest.BufferSize, ULONG{MIN_BUFFER_SIZE});
  const std::vector<UCHAR> case3 = {0x00, 0xD6, 0x00, 0x00, 0x03, 0xAA, 0xBB, 0xCC};
  // T=0: prefix + command up to 279 bytes fits ([R] T0 14, 15) ...
  for (ULONG prefix : {270u, 271u}) {
    const RequestBuilt r = build(h, SmartcardT0Request, case3, prefix);
    CHECK_EQ(r.status, STATUS_SUCCESS);
    CHECK_EQ(r.length, prefix + 8u);
    CHECK_EQ(request_bytes(h, prefix, 8), case3);
  }
  // ... one byte more is BUFFER_OVERFLOW with nothing written ([R] T0 16-27, 28-35).
  for (ULONG prefix : {272u, 276u, 279u, 288u, 300u}) {
    const RequestBuilt r = build(h, SmartcardT0Request, case3, prefix);
    CHECK_EQ(r.status, STATUS_BUFFER_OVERFLOW);
    CHECK_EQ(r.length, prefix);
    CHECK_EQ(h.ext.T0.Lc, 0x1111u);
    CHECK_EQ(h.ext.T0.Le, 0x2222u);
    CHECK_EQ(request_bytes(h, 270, 10), std::vector<UCHAR>(10, kFill));
  }
  for (ULONG prefix : {278u, 281u, 285u}) {
    CHECK_EQ(build(h, SmartcardT0Request, {0x00, 0xA4, 0x00, 0x00}, prefix).status, STATUS_BUFFER_OVERFLOW);
  }
  // Raw: the 13-byte input (header + 5-byte APDU) fits after 274 bytes, not after 275 ([R] raw
  // request fits / full).
  const std::vector<UCHAR> case2 = {0x00, 0xB0, 0x00, 0x00, 0x02};
  RequestBuilt r = build(h, SmartcardRawRequest, case2, 274);
  CHECK_EQ(r.status, STATUS_SUCCESS);
  CHECK_EQ(r.length, 287u);
  r = build(h, SmartcardRawRequest, case2, 275);
  CHECK_EQ(r.status, STATUS_BUFFER_TOO_SMALL);
  CHECK_EQ(r.length, 275u);
  CHECK_EQ(request_bytes(h, 275, 13), std::vector<UCHAR>(13, kFill));
  r = build(h, SmartcardRawRequest, case2, 0);
  CHECK_EQ(r.status, STATUS_SUCCESS);
  CHECK_EQ(request_bytes(h, 0, 13),
           (std::vector<UCHAR>{1, 0, 0, 0, 8, 0, 0, 0, 0x00, 0xB0, 0x00, 0x00, 0x02}));  // [R] raw request
}

TEST_CASE("Windows 11 rule 21: MinorIoControlCode is the first input ULONG of every IOCTL") {
  Harness h;
  h.set_state(SCARD_PRESENT);
  auto r = issue(h, IOCTL_SMARTCARD_SET_ATTRIBUTE, Harness::u32(SCARD_ATTR_SUPRESS_T1_IFS_REQUEST), 0);
  REQUIRE_EQ(r.status(), STATUS_SUCCESS);
  REQUIRE_EQ(h.ext.MinorIoControlCode, ULONG{SCARD_ATTR_SUPRESS_T1_IFS_REQUEST});
  // GET_STATE with 4 input bytes ([R] ioctl 3).
  r = issue(h, IOCTL_SMARTCARD_GET_STATE, Harness::u32(0), 4);
  CHECK_EQ(r.status(), STATUS_SUCCESS);
  CHECK_EQ(r.info(), 4u);
  CHECK_EQ(r.out_ulong(), ULONG{SCARD_PRESENT});
  CHECK_EQ(h.ext.MinorIoControlCode, 0u);
  // Codes the library refuses still record it: READ, WRITE, unassigned ([R] ioctl 65, 66, 180-184).
  for (ULONG code : {IOCTL_SMARTCARD_READ, IOCTL_SMARTCARD_WRITE, SCARD_CTL_CODE(13), SCARD_CTL_CODE(17),
                     SCARD_CTL_CODE(100), SCARD_CTL_CODE(2047)}) {
    h.ext.MinorIoControlCode = 7;
    r = issue(h, code, Harness::u32(0x11223344), 8);
    CHECK_EQ(r.status(), STATUS_INVALID_DEVICE_REQUEST);
    CHECK_EQ(r.info(), 0u);
    CHECK_EQ(h.ext.MinorIoControlCode, 0x11223344u);
  }
  // TRANSMIT: dwProtocol of the SCARD_IO_REQUEST ([R] ioctl 46, 48).
  h.set_state(SCARD_SPECIFIC);
  h.ext.CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_T0;
  r = issue(h, IOCTL_SMARTCARD_TRANSMIT, {1, 0, 0, 0, 8, 0, 0, 0, 0x00, 0xA4, 0x00, 0x00}, 64);
  CHECK_EQ(r.status(), STATUS_SUCCESS);
  CHECK_EQ(h.ext.MinorIoControlCode, ULONG{SCARD_PROTOCOL_T0});
  // Fewer than 4 bytes keep the stale value.
  issue(h, IOCTL_SMARTCARD_GET_STATE, {9, 9, 9}, 4);
  CHECK_EQ(h.ext.MinorIoControlCode, ULONG{SCARD_PROTOCOL_T0});
}

TEST_CASE("Windows 11 rule 22: tracking IOCTLs completed at once and METHOD_NEITHER leave Information alone") {
  Harness h;
  h.set_state(SCARD_PRESENT);
  auto r = issue(h, IOCTL_SMARTCARD_IS_PRESENT, {}, 0);  // [R] ioctl 5
  CHECK(r.completed());
  CHECK_EQ(r.status(), STATUS_SUCCESS);
  CHECK_EQ(r.info(), kUntouched);
  h.set_state(SCARD_ABSENT);
  r = issue(h, IOCTL_SMARTCARD_IS_ABSENT, {}, 0);  // [R] ioctl 11
  CHECK_EQ(r.status(), STATUS_SUCCESS);
  CHECK_EQ(r.info(), kUntouched);
  h.set_state(SCARD_UNKNOWN);
  r = issue(h, IOCTL_SMARTCARD_IS_PRESENT, {}, 0);  // [R] ioctl 9, 191
  CHECK_EQ(r.status(), STATUS_INVALID_DEVICE_STATE);
  CHECK_EQ(r.info(), kUntouched);
  // The driver answers at once ([R] ioctl 8, 13).
  h.set_state(SCARD_ABSENT);
  h.tracking_status = STATUS_UNSUCCESSFUL;
  r = issue(h, IOCTL_SMARTCARD_IS_PRESENT, {}, 0);
  CHECK(r.completed());
  CHECK_EQ(r.status(), STATUS_UNSUCCESSFUL);
  CHECK_EQ(r.info(), kUntouched);
  h.ext.OsData->NotificationIrp = nullptr;  // as the driver would
  // A second tracking request while one is pending ([R] tracking second).
  h.tracking_status = STATUS_PENDING;
  auto pending = issue(h, IOCTL_SMARTCARD_IS_PRESENT, {}, 0);
  REQUIRE_EQ(pending.returned, STATUS_PENDING);
  r = issue(h, IOCTL_SMARTCARD_IS_ABSENT, {}, 0);
  CHECK_EQ(r.status(), STATUS_DEVICE_BUSY);
  CHECK_EQ(r.info(), kUntouched);
  SmartcardCompleteCardTracking(&h.ext);
  CHECK_EQ(pending.status(), STATUS_SUCCESS);
  // METHOD_NEITHER ([R] ioctl 188).
  r = issue(h, CTL_CODE(FILE_DEVICE_SMARTCARD, 2100, METHOD_NEITHER, FILE_ANY_ACCESS), Harness::u32(0x11223344), 8);
  CHECK(r.completed());
  CHECK_EQ(r.status(), STATUS_INVALID_PARAMETER);
  CHECK_EQ(r.info(), kUntouched);
  // No tracking callback ([R] ioctl 10).
  Harness bare(false);
  r = issue(bare, IOCTL_SMARTCARD_IS_PRESENT, {}, 0);
  CHECK_EQ(r.status(), STATUS_NOT_SUPPORTED);
  CHECK_EQ(r.info(), kUntouched);
  // Every other IOCTL reports what the request produced: nothing here ([R] ioctl 1).
  r = issue(h, IOCTL_SMARTCARD_GET_STATE, {}, 3);
  CHECK_EQ(r.status(), STATUS_BUFFER_TOO_SMALL);
  CHECK_EQ(r.info(), 0u);
}

TEST_CASE("Windows 11 rule 23: POWER forgets the protocol and the ATR before it checks minor code and room") {
  Harness h;
  const auto evaluated = [&](ULONG state) {
    h.set_state(SCARD_POWERED);
    REQUIRE_EQ(h.update_atr({0x3B, 0x02, 0x14, 0x50}), STATUS_SUCCESS);  // T=0 card, [R] default ATR
    REQUIRE_EQ(h.ext.CardCapabilities.Protocol.Selected, ULONG{SCARD_PROTOCOL_T0});
    h.set_state(state);
    h.calls.clear();
  };
  struct Case {
    ULONG minor, out;
    NTSTATUS status;
  };
  // [R] ioctl 18, 20, 22.
  for (const Case& c : {Case{3, 64, STATUS_INVALID_DEVICE_REQUEST}, Case{SCARD_COLD_RESET, 32, STATUS_BUFFER_TOO_SMALL},
                        Case{SCARD_WARM_RESET, 0, STATUS_BUFFER_TOO_SMALL}}) {
    evaluated(SCARD_PRESENT);
    auto r = issue(h, IOCTL_SMARTCARD_POWER, Harness::u32(c.minor), c.out);
    CHECK_EQ(r.status(), c.status);
    CHECK_EQ(r.info(), 0u);
    CHECK_EQ(h.ext.CardCapabilities.Protocol.Selected, 0u);
    CHECK_EQ(h.ext.CardCapabilities.ATR.Length, 0);
    CHECK(h.calls.empty());
    CHECK_EQ(h.state(), ULONG{SCARD_PRESENT});
  }
  // The state is checked first: without a card nothing is forgotten ([R] ioctl 23, 24).
  for (ULONG state : {ULONG{SCARD_ABSENT}, ULONG{SCARD_UNKNOWN}}) {
    evaluated(state);
    CHECK_EQ(issue(h, IOCTL_SMARTCARD_POWER, Harness::u32(3), 64).status(), STATUS_INVALID_DEVICE_STATE);
    CHECK_EQ(h.ext.CardCapabilities.Protocol.Selected, ULONG{SCARD_PROTOCOL_T0});
    CHECK_EQ(h.ext.CardCapabilities.ATR.Length, 4);
  }
  // So is a missing RDF_CARD_POWER ([R] ioctl 26).
  h.ext.ReaderFunction[RDF_CARD_POWER] = nullptr;
  evaluated(SCARD_PRESENT);
  CHECK_EQ(issue(h, IOCTL_SMARTCARD_POWER, Harness::u32(3), 64).status(), STATUS_NOT_SUPPORTED);
  CHECK_EQ(h.ext.CardCapabilities.ATR.Length, 4);
}

TEST_CASE("Windows 11 rule 24: SET_PROTOCOL works on the evaluated card without re-parsing its ATR") {
  Harness h;
  SUBCASE("a card already SPECIFIC with a matching protocol: SUCCESS, Information 0, buffer as sent") {
    reset_card(h, {0x3B, 0x00});  // T=0 only at default F/D: SPECIFIC, T=0
    REQUIRE_EQ(h.state(), ULONG{SCARD_SPECIFIC});
    auto r = set_protocol(h, SCARD_PROTOCOL_Tx);  // [R] ioctl 43, 178
    CHECK_EQ(r.status(), STATUS_SUCCESS);
    CHECK_EQ(r.info(), 0u);
    CHECK_EQ(r.out_ulong(), ULONG{SCARD_PROTOCOL_Tx});
    CHECK_EQ(g_seen.calls, 0);
  }
  SUBCASE("the card's timing stays as the ATR evaluation left it") {
    static ULONG rates[] = {9600, 19200, 38400, 57600, 115200};
    h.ext.ReaderCapabilities.DataRatesSupported.List = rates;
    h.ext.ReaderCapabilities.DataRatesSupported.Entries = 5;
    reset_card(h, {0x3B, 0x10, 0x94});  // T=0, TA1 = 94: NEGOTIABLE
    REQUIRE_EQ(h.state(), ULONG{SCARD_NEGOTIABLE});
    const SCARD_CARD_CAPABILITIES before = h.ext.CardCapabilities;
    h.ext.T1.IFSC = 99;                           // a value no evaluation of this ATR gives
    auto r = set_protocol(h, SCARD_PROTOCOL_T0);  // [R] ioctl 97
    CHECK_EQ(r.status(), STATUS_SUCCESS);
    REQUIRE_EQ(g_seen.calls, 1);
    CHECK_EQ(g_seen.state, ULONG{SCARD_NEGOTIABLE});
    CHECK_EQ(g_seen.pts.Type, PTS_TYPE_OPTIMAL);
    CHECK_NE(g_seen.pts.Dl, 1);  // the PTS asks for more than the card's initial rate
    const SCARD_CARD_CAPABILITIES& after = h.ext.CardCapabilities;
    CHECK_EQ(after.etu, before.etu);
    CHECK_EQ(after.GT, before.GT);
    CHECK_EQ(after.T0.WT, before.T0.WT);
    CHECK_EQ(after.Fl, before.Fl);
    CHECK_EQ(after.Dl, before.Dl);
    CHECK_EQ(h.ext.T1.IFSC, 99);
  }
  SUBCASE("refused by RDF_ATR_PARSE: state and Selected stay as they were") {
    reset_card(h, {0x3B, 0x00});
    h.set_state(SCARD_NEGOTIABLE);  // e.g. after a failed PTS
    h.ext.CardCapabilities.Protocol.Selected = 0;
    h.ext.ReaderFunction[RDF_ATR_PARSE] = refuse_atr_parse;
    CHECK_EQ(set_protocol(h, SCARD_PROTOCOL_RAW).status(), STATUS_UNSUCCESSFUL);  // [R] ioctl 189
    CHECK_EQ(h.state(), ULONG{SCARD_NEGOTIABLE});
    CHECK_EQ(h.ext.CardCapabilities.Protocol.Selected, 0u);
    CHECK_EQ(g_seen.calls, 0);
  }
  SUBCASE("no T=0/T=1 bit: PtsData stays; RAW goes to the driver with Selected kept") {
    reset_card(h, {0x3B, 0x80, 0x01, 0x81});  // T=1 only at default F/D: SPECIFIC, T=1
    h.set_state(SCARD_NEGOTIABLE);
    PTS_DATA& pts = h.ext.CardCapabilities.PtsData;
    pts.Type = PTS_TYPE_USER;
    pts.Fl = 9;
    pts.Dl = 4;
    pts.DataRate = 55800;
    for (ULONG mask : {0u, 0x8u, SCARD_PROTOCOL_DEFAULT}) {  // [R] ioctl 124, 125
      CHECK_EQ(set_protocol(h, mask).status(), STATUS_NOT_SUPPORTED);
      CHECK_EQ(pts.Type, PTS_TYPE_USER);
      CHECK_EQ(pts.Dl, 4);
      h.ext.CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_T1;
    }
    CHECK_EQ(g_seen.calls, 0);
    h.set_state(SCARD_NEGOTIABLE);
    auto r = set_protocol(h, SCARD_PROTOCOL_RAW);  // [R] ioctl 123
    CHECK_EQ(r.status(), STATUS_SUCCESS);
    CHECK_EQ(r.info(), 0u);
    REQUIRE_EQ(g_seen.calls, 1);
    CHECK_EQ(g_seen.state, ULONG{SCARD_NEGOTIABLE});
    CHECK_EQ(g_seen.selected, ULONG{SCARD_PROTOCOL_T1});
    CHECK_EQ(g_seen.pts.Type, PTS_TYPE_USER);
    CHECK_EQ(g_seen.pts.DataRate, 55800u);
  }
  SUBCASE("T0|RAW on a T=1-only SPECIFIC card goes to the driver as SPECIFIC T=1") {
    reset_card(h, {0x3B, 0x80, 0x01, 0x81});
    h.set_state(SCARD_NEGOTIABLE);
    CHECK_EQ(set_protocol(h, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_RAW).status(), STATUS_SUCCESS);  // [R] ioctl 126
    REQUIRE_EQ(g_seen.calls, 1);
    CHECK_EQ(g_seen.state, ULONG{SCARD_SPECIFIC});
    CHECK_EQ(g_seen.selected, ULONG{SCARD_PROTOCOL_T1});
    CHECK_EQ(g_seen.pts.Type, PTS_TYPE_OPTIMAL);
  }
  SUBCASE("T0 on a specific-mode card (TA2 = T=1) goes to the driver with Selected T=1") {
    reset_card(h, {0x3B, 0x90, 0x11, 0x10, 0x01});  // TA1 11, TD1 T=0, TA2 01: specific T=1
    REQUIRE_EQ(h.state(), ULONG{SCARD_SPECIFIC});
    REQUIRE_EQ(h.ext.CardCapabilities.Protocol.Selected, ULONG{SCARD_PROTOCOL_T1});
    h.set_state(SCARD_NEGOTIABLE);
    CHECK_EQ(set_protocol(h, SCARD_PROTOCOL_T0).status(), STATUS_SUCCESS);  // [R] ioctl 202
    REQUIRE_EQ(g_seen.calls, 1);
    CHECK_EQ(g_seen.state, ULONG{SCARD_SPECIFIC});
    CHECK_EQ(g_seen.selected, ULONG{SCARD_PROTOCOL_T1});
    // T1 is not among the protocols its TD bytes list ([R] ioctl 203).
    h.set_state(SCARD_NEGOTIABLE);
    CHECK_EQ(set_protocol(h, SCARD_PROTOCOL_T1).status(), STATUS_NOT_SUPPORTED);
    CHECK_EQ(g_seen.calls, 1);
  }
  SUBCASE("a negotiable card left SPECIFIC goes back to NEGOTIABLE with Selected kept") {
    reset_card(h, with_tck({0x3B, 0x80, 0x80, 0x01}));  // T=0 and T=1: NEGOTIABLE
    h.set_state(SCARD_SPECIFIC);
    h.ext.CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_T0;
    CHECK_EQ(set_protocol(h, SCARD_PROTOCOL_T1).status(), STATUS_SUCCESS);  // [R] ioctl 177
    REQUIRE_EQ(g_seen.calls, 1);
    CHECK_EQ(g_seen.state, ULONG{SCARD_NEGOTIABLE});
    CHECK_EQ(g_seen.selected, ULONG{SCARD_PROTOCOL_T0});
  }
  SUBCASE("no protocol in common: NOT_SUPPORTED, NEGOTIABLE, nothing selected") {
    reset_card(h, {0x3B, 0x00});
    REQUIRE_EQ(h.state(), ULONG{SCARD_SPECIFIC});
    auto r = set_protocol(h, SCARD_PROTOCOL_T1);  // [R] ioctl 42
    CHECK_EQ(r.status(), STATUS_NOT_SUPPORTED);
    CHECK_EQ(r.info(), 0u);
    CHECK_EQ(h.state(), ULONG{SCARD_NEGOTIABLE});
    CHECK_EQ(h.ext.CardCapabilities.Protocol.Selected, 0u);
    CHECK_EQ(g_seen.calls, 0);
  }
  SUBCASE("PRESENT and POWERED are accepted; a single-protocol card is preset SPECIFIC") {
    for (ULONG state : {ULONG{SCARD_PRESENT}, ULONG{SCARD_POWERED}}) {
      reset_card(h, {0x3B, 0x00});
      h.set_state(state);
      h.ext.CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_T1;
      CHECK_EQ(set_protocol(h, SCARD_PROTOCOL_T0).status(), STATUS_SUCCESS);  // [R] ioctl 39, 40, 205
      REQUIRE_EQ(g_seen.calls, 1);
      CHECK_EQ(g_seen.state, ULONG{SCARD_SPECIFIC});
      CHECK_EQ(g_seen.selected, ULONG{SCARD_PROTOCOL_T0});
    }
  }
}

TEST_CASE("Windows 11 rule 26: the remove lock count, its tag list and ReleaseRemoveLockAndWait") {
  Harness h;
  POS_DEP_DATA os = h.ext.OsData;
  // [R] osdata: one reference, not removed, an empty list.
  CHECK_EQ(os->RemoveLock.RefCount, 1);
  CHECK_FALSE(os->RemoveLock.Removed);
  CHECK(IsListEmpty(&os->RemoveLock.TagList));
  CHECK(os->RemoveLock.TagList.Blink == &os->RemoveLock.TagList);
  // [R] acquire, acquire tag, release: the free build keeps no entries for tags.
  CHECK_EQ(SmartcardAcquireRemoveLock(&h.ext), STATUS_SUCCESS);
  CHECK_EQ(os->RemoveLock.RefCount, 2);
  CHECK_EQ(SmartcardAcquireRemoveLockWithTag(&h.ext, 0x74736554u), STATUS_SUCCESS);
  CHECK_EQ(os->RemoveLock.RefCount, 3);
  CHECK(IsListEmpty(&os->RemoveLock.TagList));
  SmartcardReleaseRemoveLockWithTag(&h.ext, 0x74736554u);
  SmartcardReleaseRemoveLock(&h.ext);
  CHECK_EQ(os->RemoveLock.RefCount, 1);
  CHECK(IsListEmpty(&os->RemoveLock.TagList));
  // [R] wait, after: the caller's reference and the initial one are dropped; the call returns.
  CHECK_EQ(SmartcardAcquireRemoveLock(&h.ext), STATUS_SUCCESS);
  SmartcardReleaseRemoveLockAndWait(&h.ext);
  CHECK_EQ(os->RemoveLock.RefCount, 0);
  CHECK(os->RemoveLock.Removed);
  CHECK_EQ(SmartcardAcquireRemoveLock(&h.ext), STATUS_DELETE_PENDING);
  CHECK_EQ(os->RemoveLock.RefCount, 0);
}
