#include <doctest/doctest.h>

#include "harness.h"

TEST_CASE("smclib: SmartcardInitialize checks the version and Exit frees") {
  for (ULONG v : {0x0FFu, 0x151u}) {
    SMARTCARD_EXTENSION e{};
    e.Version = v;
    CHECK_EQ(SmartcardInitialize(&e), STATUS_UNSUCCESSFUL);
    CHECK(e.OsData == nullptr);
    CHECK(e.SmartcardRequest.Buffer == nullptr);
  }
  SMARTCARD_EXTENSION e{};
  e.Version = SMCLIB_VERSION_REQUIRED;
  e.SmartcardRequest.BufferSize = 1000;
  REQUIRE_EQ(SmartcardInitialize(&e), STATUS_SUCCESS);
  CHECK_EQ(e.SmartcardReply.BufferSize, ULONG{MIN_BUFFER_SIZE});
  CHECK_EQ(e.SmartcardRequest.BufferSize, 1000u);
  CHECK_EQ(e.OsData->RemoveLock.RefCount, 1);
  CHECK_EQ(e.CardCapabilities.ClockRateConversion[9].F, 512u);
  CHECK_EQ(e.CardCapabilities.Protocol.Supported, 0u);  // nothing offered before an ATR (issue 10 rule 1)
  SmartcardExit(&e);
  CHECK(e.OsData == nullptr);
  CHECK(e.SmartcardReply.Buffer == nullptr);
}

TEST_CASE("smclib: GET_STATE needs 4 bytes and never calls the driver") {
  Harness h;
  auto r = h.ioctl(IOCTL_SMARTCARD_GET_STATE, {}, 3);
  CHECK(r.completed());
  CHECK_EQ(r.status(), STATUS_BUFFER_TOO_SMALL);
  r = h.ioctl(IOCTL_SMARTCARD_GET_STATE, {}, 4);
  CHECK_EQ(r.status(), STATUS_SUCCESS);
  CHECK_EQ(r.info(), 4u);
  CHECK_EQ(r.out_ulong(), ULONG{SCARD_ABSENT});
  CHECK(h.calls.empty());
}

TEST_CASE("smclib: POWER rules, including the stale Minor of a short input") {
  Harness h;
  CHECK_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_INVALID_DEVICE_STATE);  // ABSENT
  h.set_state(SCARD_UNKNOWN);
  CHECK_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_INVALID_DEVICE_STATE);
  h.set_state(SCARD_PRESENT);
  CHECK_EQ(h.power(3).status(), STATUS_INVALID_DEVICE_REQUEST);
  CHECK_EQ(h.power(SCARD_COLD_RESET, 32).status(), STATUS_BUFFER_TOO_SMALL);
  CHECK(h.calls.empty());
  auto r = h.power(SCARD_WARM_RESET, 33);
  CHECK_EQ(r.status(), STATUS_SUCCESS);
  CHECK_EQ(r.info(), 2u);
  CHECK_EQ(h.last_minor, ULONG{SCARD_WARM_RESET});
  // 3 input bytes: Minor stays WARM_RESET even though the bytes say POWER_DOWN [R]
  r = h.ioctl(IOCTL_SMARTCARD_POWER, {0, 0, 0}, 64);
  CHECK_EQ(r.status(), STATUS_SUCCESS);
  CHECK_EQ(h.last_minor, ULONG{SCARD_WARM_RESET});
  // POWER_DOWN accepts no output
  r = h.power(SCARD_POWER_DOWN, 0);
  CHECK_EQ(r.status(), STATUS_SUCCESS);
  CHECK_EQ(h.state(), ULONG{SCARD_SWALLOWED});
  // a callback status passes through
  h.status = STATUS_IO_TIMEOUT;
  CHECK_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_IO_TIMEOUT);
}

TEST_CASE("smclib: POWER clears Selected, ATR and PtsData before the callback") {
  Harness h;
  h.set_state(SCARD_SPECIFIC);
  h.ext.CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_T1;
  h.ext.CardCapabilities.ATR.Length = 5;
  h.ext.CardCapabilities.PtsData.Type = PTS_TYPE_USER;
  h.ext.ReaderFunction[RDF_CARD_POWER] = [](PSMARTCARD_EXTENSION e) -> NTSTATUS {
    CHECK_EQ(e->CardCapabilities.Protocol.Selected, 0u);
    CHECK_EQ(e->CardCapabilities.ATR.Length, 0);
    CHECK_EQ(e->CardCapabilities.PtsData.Type, 0);
    return STATUS_NO_MEDIA;
  };
  CHECK_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_NO_MEDIA);
  CHECK_EQ(h.state(), ULONG{SCARD_SPECIFIC});  // the library does not change the state
}

TEST_CASE("smclib: a callback table with holes") {
  Harness h(false);
  h.set_state(SCARD_SPECIFIC);
  for (ULONG code : {IOCTL_SMARTCARD_POWER, IOCTL_SMARTCARD_TRANSMIT, IOCTL_SMARTCARD_EJECT, IOCTL_SMARTCARD_SWALLOW,
                     IOCTL_SMARTCARD_CONFISCATE, IOCTL_SMARTCARD_SET_PROTOCOL, IOCTL_SMARTCARD_IS_PRESENT,
                     IOCTL_SMARTCARD_IS_ABSENT}) {
    auto r = h.ioctl(code, Harness::u32(1), 64);
    CHECK_MESSAGE(r.status() == STATUS_NOT_SUPPORTED, "code ", code);
    CHECK(r.completed());
  }
  for (ULONG code : {SCARD_CTL_CODE(2048), IOCTL_SMARTCARD_GET_FEATURE_REQUEST, 0x222400u}) {
    CHECK_EQ(h.ioctl(code, {}, 16).status(), STATUS_INVALID_DEVICE_REQUEST);
  }
}

TEST_CASE("smclib: vendor range and unhandled codes") {
  Harness h;
  for (ULONG code : {SCARD_CTL_CODE(2048), SCARD_CTL_CODE(3400), SCARD_CTL_CODE(4095), 0x222400u}) {
    h.calls.clear();
    auto r = h.ioctl(code, {0x78, 0x56, 0x34, 0x12, 0xAA}, 8);
    CHECK_EQ(r.status(), STATUS_SUCCESS);
    REQUIRE_EQ(h.calls.size(), 1u);
    CHECK_EQ(h.calls[0], RDF_IOCTL_VENDOR);
    CHECK_EQ(h.last_major, code);
    CHECK_EQ(h.last_minor, 0x12345678u);
  }
  h.calls.clear();
  for (ULONG code :
       {IOCTL_SMARTCARD_GET_LAST_ERROR, IOCTL_SMARTCARD_GET_PERF_CNTR, IOCTL_SMARTCARD_READ, IOCTL_SMARTCARD_WRITE,
        SCARD_CTL_CODE(13), SCARD_CTL_CODE(17), SCARD_CTL_CODE(18), SCARD_CTL_CODE(100), SCARD_CTL_CODE(2047)}) {
    CHECK_EQ(h.ioctl(code, {}, 64).status(), STATUS_INVALID_DEVICE_REQUEST);
  }
  CHECK_EQ(h.ioctl(CTL_CODE(FILE_DEVICE_SMARTCARD, 2, METHOD_NEITHER, FILE_ANY_ACCESS), {}, 64).status(),
           STATUS_INVALID_PARAMETER);
  CHECK(h.calls.empty());
}

TEST_CASE("smclib: a pending driver request makes the library busy") {
  Harness h;
  h.status = STATUS_PENDING;
  auto r = h.ioctl(IOCTL_SMARTCARD_EJECT, {}, 0);
  CHECK_EQ(r.returned, STATUS_PENDING);
  CHECK_FALSE(r.completed());
  CHECK(h.ext.OsData->CurrentIrp == r.irp.get());
  h.status = STATUS_SUCCESS;
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_SWALLOW, {}, 0).status(), STATUS_DEVICE_BUSY);
  // the driver finishes its request
  h.ext.OsData->CurrentIrp = nullptr;
  r.irp->IoStatus.Status = STATUS_SUCCESS;
  IoCompleteRequest(r.irp.get(), IO_NO_INCREMENT);
  CHECK(r.irp->PendingReturned);
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_SWALLOW, {}, 0).status(), STATUS_SUCCESS);
}

TEST_CASE("smclib: card tracking pending, busy, complete and cancel") {
  Harness h;
  h.set_state(SCARD_UNKNOWN);
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_IS_PRESENT, {}, 0).status(), STATUS_INVALID_DEVICE_STATE);
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_IS_ABSENT, {}, 0).status(), STATUS_INVALID_DEVICE_STATE);
  h.set_state(SCARD_ABSENT);
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_IS_ABSENT, {}, 0).status(), STATUS_SUCCESS);
  auto pending = h.ioctl(IOCTL_SMARTCARD_IS_PRESENT, {}, 0);
  CHECK_EQ(pending.returned, STATUS_PENDING);
  CHECK_FALSE(pending.completed());
  CHECK(h.ext.OsData->NotificationIrp == pending.irp.get());
  // a second tracking request is refused whatever the state
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_IS_ABSENT, {}, 0).status(), STATUS_DEVICE_BUSY);
  h.set_state(SCARD_PRESENT);
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_IS_PRESENT, {}, 0).status(), STATUS_DEVICE_BUSY);
  // GET_STATE still works
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_GET_STATE, {}, 4).out_ulong(), ULONG{SCARD_PRESENT});
  // insertion
  SmartcardCompleteCardTracking(&h.ext);
  CHECK(pending.completed());
  CHECK(pending.irp->PendingReturned);
  CHECK_EQ(pending.status(), STATUS_SUCCESS);
  CHECK(h.ext.OsData->NotificationIrp == nullptr);
  SmartcardCompleteCardTracking(&h.ext);  // nothing pending: no effect
  CHECK_EQ(pending.irp->ReaderlabCompleteCount, 1);
  // present: IS_PRESENT succeeds at once; IS_ABSENT pends, then a close cancels it
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_IS_PRESENT, {}, 0).status(), STATUS_SUCCESS);
  auto absent = h.ioctl(IOCTL_SMARTCARD_IS_ABSENT, {}, 0);
  CHECK_EQ(absent.returned, STATUS_PENDING);
  CHECK(IoCancelIrp(absent.irp.get()));
  CHECK(absent.completed());
  CHECK_EQ(absent.status(), STATUS_CANCELLED);
  CHECK(h.ext.OsData->NotificationIrp == nullptr);
  // a callback that does not pend completes the IRP
  h.tracking_status = STATUS_INVALID_DEVICE_STATE;
  auto refused = h.ioctl(IOCTL_SMARTCARD_IS_ABSENT, {}, 0);
  CHECK(refused.completed());
  CHECK_EQ(refused.status(), STATUS_INVALID_DEVICE_STATE);
  CHECK_FALSE(refused.irp->PendingReturned);
}

TEST_CASE("smclib: TRANSMIT checks input, state and protocol") {
  Harness h;
  h.atr = {0x3B, 0x00};  // T=0 only, default F/D: SPECIFIC after the reset
  h.set_state(SCARD_PRESENT);
  REQUIRE_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_SUCCESS);
  REQUIRE_EQ(h.state(), ULONG{SCARD_SPECIFIC});
  std::vector<UCHAR> t0 = {1, 0, 0, 0, 8, 0, 0, 0, 0x00, 0xA4, 0x00, 0x00};
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_TRANSMIT, {1, 0, 0, 0, 8, 0, 0}, 64).status(), STATUS_INVALID_PARAMETER);
  std::vector<UCHAR> t1 = t0;
  t1[0] = 2;
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_TRANSMIT, t1, 64).status(), STATUS_INVALID_DEVICE_STATE);
  auto r = h.ioctl(IOCTL_SMARTCARD_TRANSMIT, t0, 64);
  CHECK_EQ(r.status(), STATUS_SUCCESS);
  CHECK_EQ(r.info(), 10u);
  CHECK_EQ(r.buffer[8], 0x90);
  h.set_state(SCARD_NEGOTIABLE);
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_TRANSMIT, t0, 64).status(), STATUS_INVALID_DEVICE_STATE);
}

TEST_CASE("smclib: SET_PROTOCOL") {
  Harness h;
  h.set_state(SCARD_ABSENT);
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(3), 4).status(), STATUS_INVALID_DEVICE_STATE);
  h.set_state(SCARD_PRESENT);
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(3), 3).status(), STATUS_BUFFER_TOO_SMALL);

  SUBCASE("specific T=0 card: a matching mask succeeds without the driver") {
    h.atr = {0x3B, 0x00};
    REQUIRE_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_SUCCESS);
    h.calls.clear();
    auto r = h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(3), 4);
    CHECK_EQ(r.status(), STATUS_SUCCESS);
    CHECK_EQ(r.info(), 0u);  // nothing written: the buffer keeps the mask [R ioctl 43]
    CHECK_EQ(r.out_ulong(), 3u);
    CHECK(h.calls.empty());
    r = h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(SCARD_PROTOCOL_T1), 4);
    CHECK_EQ(r.status(), STATUS_NOT_SUPPORTED);
    CHECK_EQ(h.ext.CardCapabilities.Protocol.Selected, 0u);
    CHECK(h.calls.empty());
  }
  SUBCASE("IBM T=1 card: T0 not supported, T1 through the driver") {
    h.atr = {0x3B, 0xEF, 0x00, 0xFF, 0x81, 0x31, 0x86, 0x45, 0x49, 0x42, 0x4D, 0x20,
             0x4D, 0x46, 0x43, 0x34, 0x30, 0x30, 0x30, 0x30, 0x38, 0x33, 0x31, 0x43};  // TCK 43 included
    REQUIRE_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_SUCCESS);
    CHECK_EQ(h.state(), ULONG{SCARD_SPECIFIC});  // single protocol, default F/D
    CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(SCARD_PROTOCOL_T0), 4).status(), STATUS_NOT_SUPPORTED);
    h.set_state(SCARD_NEGOTIABLE);
    auto r = h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(SCARD_PROTOCOL_T1), 4);
    CHECK_EQ(r.status(), STATUS_SUCCESS);
    CHECK_EQ(r.out_ulong(), SCARD_PROTOCOL_T1);
  }
  SUBCASE("no protocol in common") {
    h.atr = {0x3B, 0x80, 0x01, 0x81};  // T=1 only (TD1 = 01), TCK
    REQUIRE_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_SUCCESS);
    h.set_state(SCARD_NEGOTIABLE);
    h.calls.clear();
    for (ULONG mask : {0u, SCARD_PROTOCOL_DEFAULT, 0x8u, SCARD_PROTOCOL_T0}) {
      CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(mask), 4).status(), STATUS_NOT_SUPPORTED);
    }
    CHECK(h.calls.empty());
  }
  SUBCASE("OPTIMAL lowers TA1 = 94 to the reader's rates") {
    static ULONG rates[] = {9600, 19200, 38400, 57600, 115200};
    h.ext.ReaderCapabilities.DataRatesSupported.List = rates;
    h.ext.ReaderCapabilities.DataRatesSupported.Entries = 5;
    h.atr = {0x3B, 0x90, 0x94, 0x81, 0x31, 0x00};  // TA1 94, TD1 T=1, TD2 T=1 (TA3..: none)
    h.atr.back() = 0;
    h.atr = {0x3B, 0x90, 0x94, 0x01};
    UCHAR tck = 0x90 ^ 0x94 ^ 0x01;
    h.atr.push_back(tck);
    REQUIRE_EQ(h.power(SCARD_COLD_RESET).status(), STATUS_SUCCESS);
    CHECK_EQ(h.state(), ULONG{SCARD_NEGOTIABLE});
    auto r = h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(SCARD_PROTOCOL_T1), 4);
    CHECK_EQ(r.status(), STATUS_SUCCESS);
    CHECK_EQ(h.ext.CardCapabilities.PtsData.Type, PTS_TYPE_OPTIMAL);
    CHECK_EQ(h.ext.CardCapabilities.PtsData.Fl, 1);
    CHECK_EQ(h.ext.CardCapabilities.PtsData.Dl, 3);
    CHECK_EQ(h.ext.CardCapabilities.PtsData.DataRate, 38400u);
    h.set_state(SCARD_NEGOTIABLE);
    r = h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_DEFAULT), 4);
    CHECK_EQ(r.status(), STATUS_SUCCESS);
    CHECK_EQ(h.ext.CardCapabilities.PtsData.Fl, 1);
    CHECK_EQ(h.ext.CardCapabilities.PtsData.Dl, 1);
    CHECK_EQ(h.ext.CardCapabilities.PtsData.DataRate, 9600u);
  }
}

TEST_CASE("smclib: short, oversized and misaligned buffers for every code") {
  Harness h;
  h.set_state(SCARD_SPECIFIC);
  h.ext.CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_T0;
  for (ULONG fn = 0; fn <= 20; ++fn) {
    const ULONG code = SCARD_CTL_CODE(fn);
    if (code == IOCTL_SMARTCARD_IS_PRESENT || code == IOCTL_SMARTCARD_IS_ABSENT) continue;
    for (ULONG in = 0; in <= 9; ++in) {
      for (ULONG out : {0u, 1u, 3u, 4u, 7u, 8u, 33u, 300u}) {
        std::vector<UCHAR> input(in, 0x01);
        auto r = h.ioctl(code, input, out);
        CHECK(r.completed());
        CHECK(r.info() <= out);
        h.set_state(SCARD_SPECIFIC);
        h.ext.CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_T0;
        h.ext.OsData->CurrentIrp = nullptr;
      }
    }
  }
  // GET_ATTRIBUTE into a misaligned buffer
  std::vector<UCHAR> storage(9);
  IRP irp;
  ULONG tag = SCARD_ATTR_MAX_IFSD;
  std::memcpy(storage.data() + 1, &tag, 4);
  ReaderlabBuildDeviceControlIrp(&irp, &h.device, IOCTL_SMARTCARD_GET_ATTRIBUTE, storage.data() + 1, 4, 8);
  CHECK_EQ(SmartcardDeviceControl(&h.ext, &irp), STATUS_SUCCESS);
  ULONG v = 0;
  std::memcpy(&v, storage.data() + 1, 4);
  CHECK_EQ(v, 254u);
}

TEST_CASE("smclib: SET_ATTRIBUTE supports only SUPRESS_T1_IFS_REQUEST") {
  Harness h;
  auto r = h.ioctl(IOCTL_SMARTCARD_SET_ATTRIBUTE, Harness::u32(SCARD_ATTR_SUPRESS_T1_IFS_REQUEST), 0);
  CHECK_EQ(r.status(), STATUS_SUCCESS);
  CHECK_EQ(h.ext.T1.State, ULONG{T1_START});
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_SET_ATTRIBUTE, Harness::u32(SCARD_ATTR_DEVICE_IN_USE), 0).status(),
           STATUS_NOT_SUPPORTED);
  CHECK_EQ(h.ioctl(IOCTL_SMARTCARD_GET_ATTRIBUTE, Harness::u32(SCARD_ATTR_SUPRESS_T1_IFS_REQUEST), 64).status(),
           STATUS_NOT_SUPPORTED);
}

TEST_CASE("smclib: remove lock, InvertData and debug level") {
  Harness h;
  CHECK_EQ(SmartcardAcquireRemoveLock(&h.ext), STATUS_SUCCESS);
  CHECK_EQ(SmartcardAcquireRemoveLockWithTag(&h.ext, 7), STATUS_SUCCESS);
  CHECK_EQ(h.ext.OsData->RemoveLock.RefCount, 3);
  SmartcardReleaseRemoveLockWithTag(&h.ext, 7);
  SmartcardReleaseRemoveLockAndWait(&h.ext);  // drops the caller's reference and the initial one
  CHECK_EQ(h.ext.OsData->RemoveLock.RefCount, 0);
  CHECK(h.ext.OsData->RemoveLock.Removed);
  CHECK_EQ(SmartcardAcquireRemoveLock(&h.ext), STATUS_DELETE_PENDING);

  UCHAR data[] = {0x03, 0xFF, 0x80, 0x3B};
  SmartcardInvertData(data, 4);
  CHECK_EQ(data[0], 0x3F);
  CHECK_EQ(data[1], 0x00);
  CHECK_EQ(data[2], 0xFE);
  CHECK_EQ(data[3], 0x23);

  CHECK_EQ(SmartcardGetDebugLevel(), 0u);
  SmartcardSetDebugLevel(DEBUG_ATR);
  CHECK_EQ(SmartcardGetDebugLevel(), DEBUG_ATR);
  SmartcardSetDebugLevel(0);
}
