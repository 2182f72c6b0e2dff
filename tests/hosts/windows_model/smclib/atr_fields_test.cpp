// SmartcardUpdateCardCapabilities field by field, and how SET_PROTOCOL re-evaluates the ATR
// and calls RDF_ATR_PARSE (spec smclib.md §1.2 SET_PROTOCOL, §5 ATR parsing).
#include <doctest/doctest.h>

#include "harness.h"

using smc::with_tck;

TEST_CASE("smclib: ATR global bytes TB1 and TC1") {
  Harness h;
  h.set_state(SCARD_POWERED);
  const auto& cc = h.ext.CardCapabilities;
  SUBCASE("TB1 gives II and P, TC1 the extra guard time") {
    REQUIRE_EQ(h.update_atr({0x3B, 0x60, 0x6A, 0x02}), STATUS_SUCCESS);  // TB1 6A: II (bits 8-7) 1, PI1 10 V
    CHECK_EQ(cc.II, 1);
    CHECK_EQ(cc.P, 100);  // 0.1 V units
    CHECK_EQ(cc.N, 2);
    CHECK_EQ(cc.GT, 2u * 105u);  // GT = N etu
    CHECK_EQ(cc.PtsData.StopBits, 2);
    CHECK_EQ(h.state(), ULONG{SCARD_SPECIFIC});  // T=0 alone at default F/D
  }
  SUBCASE("N = 255 means no extra guard time and one stop bit") {
    REQUIRE_EQ(h.update_atr({0x3B, 0x40, 0xFF}), STATUS_SUCCESS);
    CHECK_EQ(cc.N, 255);
    CHECK_EQ(cc.GT, 0u);
    CHECK_EQ(cc.PtsData.StopBits, 1);
  }
}

TEST_CASE("smclib: TC2 is the T=0 work waiting integer") {
  Harness h;
  h.set_state(SCARD_POWERED);
  const auto& cc = h.ext.CardCapabilities;
  // TD1 40: TC2 follows, T=0; TC2 14 = WI 20
  REQUIRE_EQ(h.update_atr({0x3B, 0x80, 0x40, 0x14}), STATUS_SUCCESS);
  CHECK_EQ(cc.T0.WI, 20);
  CHECK_EQ(cc.T0.WT, 960u * 20u * 105u + 1u);
  // after a TD1 for T=1, TC2 is T=1's EDC; the card offers no T=0, so no WI (issue 10 rules 2, 6)
  REQUIRE_EQ(h.update_atr(with_tck({0x3B, 0x80, 0x41, 0x15})), STATUS_SUCCESS);
  CHECK_EQ(cc.T0.WI, 0);
  CHECK_EQ(cc.T0.WT, 0u);
  CHECK_EQ(cc.T1.EDC, 1);
}

TEST_CASE("smclib: the first T=1 group gives IFSC, CWI, BWI and the EDC") {
  Harness h;
  h.set_state(SCARD_POWERED);
  const auto& cc = h.ext.CardCapabilities;
  SUBCASE("TA3 TB3 TC3") {
    // TD1 81: TD2, T=1; TD2 71: TA3 TB3 TC3, T=1; IFSC 80, BWI 3 CWI 5, CRC
    REQUIRE_EQ(h.update_atr(with_tck({0x3B, 0x80, 0x81, 0x71, 0x80, 0x35, 0x01})), STATUS_SUCCESS);
    CHECK_EQ(cc.T1.IFSC, 128);
    CHECK_EQ(h.ext.T1.IFSC, 0);  // the engine's own IFSC is not the card's (issue 10 rule 3)
    CHECK_EQ(cc.T1.CWI, 5);
    CHECK_EQ(cc.T1.BWI, 3);
    CHECK_EQ(cc.T1.EDC, 1);
    CHECK_EQ(cc.T1.CWT, (32u + 11u) * 105u + 1u);  // (2^CWI + 11) etu + 1
    CHECK_EQ(cc.Protocol.Supported, SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_RAW);
    CHECK_EQ(cc.Protocol.Selected, SCARD_PROTOCOL_T1);
    CHECK_EQ(h.state(), ULONG{SCARD_SPECIFIC});
  }
  SUBCASE("IFSC FF is taken as 255 (Windows, issue 10 rule 7), 00 keeps the default 32") {
    // TD2 11: TA3, T=1; TA3 FF
    REQUIRE_EQ(h.update_atr(with_tck({0x3B, 0x80, 0x81, 0x11, 0xFF})), STATUS_SUCCESS);
    CHECK_EQ(cc.T1.IFSC, 255);
    REQUIRE_EQ(h.update_atr(with_tck({0x3B, 0x80, 0x81, 0x11, 0x00})), STATUS_SUCCESS);
    CHECK_EQ(cc.T1.IFSC, 32);
    CHECK_EQ(cc.T1.EDC, 0);  // no TC3: LRC
  }
  SUBCASE("only the first T=1 group counts") {
    // TD2 91: TA3 TD3, T=1; TA3 40; TD3 11: TA4, T=1; TA4 10
    REQUIRE_EQ(h.update_atr(with_tck({0x3B, 0x80, 0x81, 0x91, 0x40, 0x11, 0x10})), STATUS_SUCCESS);
    CHECK_EQ(cc.T1.IFSC, 64);
  }
}

TEST_CASE("smclib: TA2 selects the specific mode and whether TA1 is in force") {
  Harness h;
  h.set_state(SCARD_POWERED);
  const auto& cc = h.ext.CardCapabilities;
  SUBCASE("T=15 in TA2 is selected as is") {
    REQUIRE_EQ(h.update_atr({0x3B, 0x80, 0x10, 0x0F}), STATUS_SUCCESS);  // TD1 10: TA2; TA2 0F
    CHECK_EQ(h.state(), ULONG{SCARD_SPECIFIC});
    CHECK_EQ(cc.Protocol.Selected, 0x8000u);
  }
  SUBCASE("TA2 b5 = 0: TA1's F and D are kept, the timing stays at F 372 / D 1 (issue 10 rule 10)") {
    // TA1 94 (F 512, D 8); TD1 10: TA2, T=0; TA2 01: specific T=1
    REQUIRE_EQ(h.update_atr({0x3B, 0x90, 0x94, 0x10, 0x01}), STATUS_SUCCESS);
    CHECK_EQ(h.state(), ULONG{SCARD_SPECIFIC});
    CHECK_EQ(cc.Protocol.Selected, SCARD_PROTOCOL_T1);
    CHECK_EQ(cc.Fl, 9);
    CHECK_EQ(cc.Dl, 4);
    CHECK_EQ(cc.etu, 105u);
  }
  SUBCASE("TA2 b5 = 1: implicit values, default F and D") {
    REQUIRE_EQ(h.update_atr({0x3B, 0x90, 0x94, 0x10, 0x11}), STATUS_SUCCESS);
    CHECK_EQ(cc.Protocol.Selected, SCARD_PROTOCOL_T1);
    CHECK_EQ(cc.etu, 105u);
  }
}

TEST_CASE("smclib: historical bytes are kept, and an ATR past its buffer is refused") {
  Harness h;
  h.set_state(SCARD_POWERED);
  const auto& cc = h.ext.CardCapabilities;
  REQUIRE_EQ(h.update_atr({0x3B, 0x03, 0x41, 0x42, 0x43}), STATUS_SUCCESS);
  CHECK_EQ(cc.HistoricalChars.Length, 3);
  CHECK(std::memcmp(cc.HistoricalChars.Buffer, "ABC", 3) == 0);
  REQUIRE_EQ(h.update_atr({0x3B, 0x01, 0x5A}), STATUS_SUCCESS);
  CHECK_EQ(cc.HistoricalChars.Length, 1);
  CHECK_EQ(cc.HistoricalChars.Buffer[1], 0);  // nothing left of the longer set

  h.set_state(SCARD_POWERED);
  h.ext.CardCapabilities.ATR.Length = sizeof h.ext.CardCapabilities.ATR.Buffer + 1;
  CHECK_EQ(SmartcardUpdateCardCapabilities(&h.ext), STATUS_UNRECOGNIZED_MEDIA);
  CHECK_EQ(h.state(), ULONG{SCARD_POWERED});
}

TEST_CASE("smclib: SmartcardInitializeCardCapabilities resets the card data and keeps the state") {
  Harness h;
  h.set_state(SCARD_SPECIFIC);
  REQUIRE_EQ(h.update_atr(with_tck({0x3B, 0x80, 0x81, 0x71, 0x80, 0x35, 0x01})), STATUS_SUCCESS);
  h.ext.T1.NAD = 0x21;
  for (ULONG max_ifsd : {0u, 100u, 254u, 255u}) {
    h.ext.ReaderCapabilities.MaxIFSD = max_ifsd;
    SmartcardInitializeCardCapabilities(&h.ext);
    const auto& cc = h.ext.CardCapabilities;
    CHECK_EQ(cc.ATR.Length, 0);
    CHECK_EQ(cc.Protocol.Supported, SCARD_PROTOCOL_RAW);
    CHECK_EQ(cc.Protocol.Selected, 0u);
    CHECK_EQ(cc.T1.IFSC, 0);
    CHECK(cc.ClockRateConversion != nullptr);
    CHECK_EQ(cc.BitRateAdjustment[4].DNumerator, 8u);  // D by Dl, ISO table
    CHECK_EQ(h.ext.T1.IFSD, (max_ifsd >= 1 && max_ifsd <= 254) ? max_ifsd : 32u);
    CHECK_EQ(h.ext.T1.State, ULONG{T1_INIT});  // the next T=1 exchange asks for the IFS again
    CHECK_EQ(h.ext.T1.NAD, 0x21);              // the one field a driver may set [PV]
    CHECK_EQ(h.state(), ULONG{SCARD_SPECIFIC});
  }
}

// Windows presets nothing for DEFAULT: the card stays NEGOTIABLE and its timing as the ATR gave
// it (issue 10 rule 24, [R] ioctl 111).
TEST_CASE("smclib: SET_PROTOCOL DEFAULT leaves a negotiable single-protocol card NEGOTIABLE") {
  Harness h;
  static ULONG seen_state, seen_selected;
  static PTS_DATA seen_pts;
  h.ext.ReaderFunction[RDF_SET_PROTOCOL] = [](PSMARTCARD_EXTENSION e) -> NTSTATUS {
    seen_state = e->ReaderCapabilities.CurrentState;
    seen_selected = e->CardCapabilities.Protocol.Selected;
    seen_pts = e->CardCapabilities.PtsData;
    return Harness::set_protocol(e);
  };
  h.atr = with_tck({0x3B, 0x90, 0x94, 0x01});  // TA1 94, T=1 only
  h.set_state(SCARD_PRESENT);
  REQUIRE_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_SUCCESS);
  REQUIRE_EQ(h.state(), ULONG{SCARD_NEGOTIABLE});
  auto r = h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_DEFAULT), 4);
  CHECK_EQ(r.status(), STATUS_SUCCESS);
  CHECK_EQ(r.out_ulong(), SCARD_PROTOCOL_T1);
  CHECK_EQ(seen_state, ULONG{SCARD_NEGOTIABLE});
  CHECK_EQ(seen_selected, 0u);
  CHECK_EQ(seen_pts.Type, PTS_TYPE_DEFAULT);
  CHECK_EQ(seen_pts.Fl, 1);
  CHECK_EQ(seen_pts.Dl, 1);
  CHECK_EQ(seen_pts.DataRate, 9600u);
  CHECK_EQ(h.ext.CardCapabilities.etu, 105u);  // the timing SmartcardUpdateCardCapabilities gave
}

// The protocols in common come from the TD bytes; the TA2 protocol is what the driver is handed
// (issue 10 rule 24, [R] ioctl 202, 208).
TEST_CASE("smclib: a specific-mode card goes to RDF_SET_PROTOCOL as SPECIFIC with its TA2 protocol") {
  Harness h;
  // TD1 90: TA2 TD2, T=0; TA2 00: specific T=0; TD2 01: T=1 offered too; TCK
  h.atr = with_tck({0x3B, 0x80, 0x90, 0x00, 0x01});
  h.set_state(SCARD_PRESENT);
  REQUIRE_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_SUCCESS);
  REQUIRE_EQ(h.state(), ULONG{SCARD_SPECIFIC});
  REQUIRE_EQ(h.ext.CardCapabilities.Protocol.Selected, SCARD_PROTOCOL_T0);
  static ULONG seen_state, seen_selected;
  h.ext.ReaderFunction[RDF_SET_PROTOCOL] = [](PSMARTCARD_EXTENSION e) -> NTSTATUS {
    seen_state = e->ReaderCapabilities.CurrentState;
    seen_selected = e->CardCapabilities.Protocol.Selected;
    return STATUS_SUCCESS;
  };
  h.set_state(SCARD_NEGOTIABLE);
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(SCARD_PROTOCOL_T1), 4).status(), STATUS_SUCCESS);
  CHECK_EQ(seen_state, ULONG{SCARD_SPECIFIC});
  CHECK_EQ(seen_selected, SCARD_PROTOCOL_T0);
}

TEST_CASE("smclib: SET_PROTOCOL calls RDF_ATR_PARSE for an unknown ATR or a mask without T=0/T=1") {
  Harness h;
  static int parses;
  static ULONG parse_major;
  static NTSTATUS parse_result;
  parses = 0;
  h.ext.ReaderFunction[RDF_ATR_PARSE] = [](PSMARTCARD_EXTENSION e) -> NTSTATUS {
    ++parses;
    parse_major = e->MajorIoControlCode;
    if (parse_result == STATUS_SUCCESS) e->CardCapabilities.Protocol.Supported |= SCARD_PROTOCOL_T1;
    return parse_result;
  };
  h.set_state(SCARD_NEGOTIABLE);
  const std::vector<UCHAR> unknown = {0x3B, 0x10, 0x70};  // Fl 7 is RFU
  std::memcpy(h.ext.CardCapabilities.ATR.Buffer, unknown.data(), unknown.size());
  h.ext.CardCapabilities.ATR.Length = 3;
  h.ext.CardCapabilities.Protocol.Supported = SCARD_PROTOCOL_RAW;

  SUBCASE("its failure is the answer, and the driver's SET_PROTOCOL is not called") {
    parse_result = STATUS_UNRECOGNIZED_MEDIA;
    auto r = h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(SCARD_PROTOCOL_Tx), 4);
    CHECK_EQ(r.status(), STATUS_UNRECOGNIZED_MEDIA);
    CHECK_EQ(parses, 1);
    CHECK_EQ(parse_major, ULONG{IOCTL_SMARTCARD_SET_PROTOCOL});
    CHECK(h.calls.empty());
    CHECK_EQ(h.state(), ULONG{SCARD_NEGOTIABLE});
  }
  SUBCASE("what it found is offered to the driver") {
    parse_result = STATUS_SUCCESS;
    auto r = h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(SCARD_PROTOCOL_T1), 4);
    CHECK_EQ(r.status(), STATUS_SUCCESS);
    CHECK_EQ(parses, 1);
    CHECK_EQ(h.calls, std::vector<int>{RDF_SET_PROTOCOL});
    CHECK_EQ(r.out_ulong(), SCARD_PROTOCOL_T1);
  }
  SUBCASE("a RAW mask on a recognised ATR asks the driver's parser too") {
    parse_result = STATUS_SUCCESS;
    REQUIRE_EQ(h.update_atr({0x3B, 0x10, 0x94}), STATUS_SUCCESS);
    h.calls.clear();
    auto r = h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(SCARD_PROTOCOL_RAW), 4);
    CHECK_EQ(r.status(), STATUS_SUCCESS);
    CHECK_EQ(parses, 1);
    CHECK_EQ(h.calls, std::vector<int>{RDF_SET_PROTOCOL});
  }
}

TEST_CASE("smclib: a SET_PROTOCOL the driver leaves pending makes the library busy") {
  Harness h;
  h.ext.ReaderFunction[RDF_SET_PROTOCOL] = [](PSMARTCARD_EXTENSION) -> NTSTATUS { return STATUS_PENDING; };
  h.set_state(SCARD_NEGOTIABLE);
  REQUIRE_EQ(h.update_atr(with_tck({0x3B, 0x80, 0x80, 0x01})), STATUS_SUCCESS);  // T=0 and T=1
  auto r = h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(SCARD_PROTOCOL_T1), 4);
  CHECK_EQ(r.returned, STATUS_PENDING);
  CHECK_FALSE(r.completed());
  CHECK(h.ext.OsData->CurrentIrp == r.irp.get());
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_GET_ATTRIBUTE, Harness::u32(SCARD_ATTR_VENDOR_NAME), 64).status(),
           STATUS_DEVICE_BUSY);
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_GET_STATE, {}, 4).status(), STATUS_SUCCESS);  // never busy
  h.ext.OsData->CurrentIrp = nullptr;
  IoCompleteRequest(r.irp.get(), IO_NO_INCREMENT);
  CHECK(r.irp->PendingReturned);
}
