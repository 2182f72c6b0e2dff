// The T=1 engine (SmartcardT1Request / SmartcardT1Reply) as Windows 11 build 26100 runs it,
// issue 10 rules 14-20: step-by-step transcripts of the block the model sends, the block the
// "card" answers, and SMARTCARD_EXTENSION.T1 after each step.
//
// "Next state to run": T1.State holds the state SmartcardT1Request runs on its next call, not
// the block it has just written. After an I-block, an R-block or an S-response it is the
// engine's own I-block state (T1_I_BLOCK): what an acknowledgment, or a card asking for the
// block again, leads to. After S(IFS request) it is the state the exchange resumes with, also
// kept in OriginalState; after S(RESYNCH request) it is T1_RESTART. SmartcardT1Reply replaces
// it whenever the card's answer asks for something else (T1_R_BLOCK, T1_xxx_RESPONSE,
// T1_RESYNCH_REQUEST) and sets T1_START when the exchange is over.
#include <doctest/doctest.h>

#include <ostream>
#include <sstream>
#include <string>

#include "harness.h"
#include "windows_t1_blocks.h"

using smc::UserBuffer;
using smc_windows::block;

namespace {

// The T1_DATA fields a driver (or a kernel-mode test) can watch, in declaration order of the
// initializer below; a field left out of an expectation is expected to be 0.
struct T1Fields {
  ULONG State = 0;
  ULONG OriginalState = 0;
  ULONG BytesToSend = 0;
  ULONG BytesSent = 0;
  unsigned InfBytesSent = 0;
  unsigned SSN = 0;
  unsigned RSN = 0;
  unsigned Resend = 0;
  unsigned Resynch = 0;
  unsigned LastError = 0;
  unsigned Wtx = 0;
  unsigned NAD = 0;
  unsigned IFSC = 0;
  bool operator==(const T1Fields&) const = default;
};

std::ostream& operator<<(std::ostream& os, const T1Fields& f) {
  return os << "{State " << f.State << ", OriginalState " << f.OriginalState << ", BytesToSend " << f.BytesToSend
            << ", BytesSent " << f.BytesSent << ", InfBytesSent " << f.InfBytesSent << ", SSN " << f.SSN << ", RSN "
            << f.RSN << ", Resend " << f.Resend << ", Resynch " << f.Resynch << ", LastError " << f.LastError
            << ", Wtx " << f.Wtx << ", NAD " << f.NAD << ", IFSC " << f.IFSC << "}";
}

T1Fields t1_fields(const Harness& h) {
  const T1_DATA& t = h.ext.T1;
  return {t.State,  t.OriginalState, t.BytesToSend, t.BytesSent, t.InfBytesSent, t.SSN, t.RSN,
          t.Resend, t.Resynch,       t.LastError,   t.Wtx,       t.NAD,          t.IFSC};
}

// Starts without the S(IFS) exchange, as after SET_ATTRIBUTE SUPRESS_T1_IFS_REQUEST.
void skip_ifs_request(Harness& h) {
  REQUIRE_EQ(h.ioctl(IOCTL_SMARTCARD_SET_ATTRIBUTE, Harness::u32(SCARD_ATTR_SUPRESS_T1_IFS_REQUEST), 0).status(),
             STATUS_SUCCESS);
}

// The response APDU the model wrote after the SCARD_IO_REQUEST header (none: empty).
std::vector<UCHAR> response(const UserBuffer& io) {
  if (io.information < 8 || io.information > io.bytes.size()) return {};
  return {io.bytes.begin() + 8, io.bytes.begin() + static_cast<std::ptrdiff_t>(io.information)};
}

// One step of a transcript: the model builds its block, which must be `expected`.
void model_sends(Harness& h, const std::vector<UCHAR>& expected) {
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), expected);
}

std::vector<UCHAR> with_bad_edc(std::vector<UCHAR> bytes) {
  bytes.back() ^= 0x01;
  return bytes;
}

}  // namespace

namespace doctest {
template <>
struct StringMaker<T1Fields> {
  static String convert(const T1Fields& f) {
    std::ostringstream os;
    os << f;
    return os.str().c_str();
  }
};
}  // namespace doctest

TEST_CASE("Windows 11 rule 14: BytesToSend from the S(IFS) step, counted down by acknowledgments") {
  Harness h;
  h.ext.CardCapabilities.T1.IFSC = 4;
  UserBuffer io(h, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 64);
  // The first call copies the APDU (BytesToSend 10) although its block is the S(IFS request).
  model_sends(h, block(0xC1, {0xFE}));
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .OriginalState = T1_I_BLOCK, .BytesToSend = 10, .IFSC = 4});
  CHECK_EQ(h.card_says(block(0xE1, {0xFE})), STATUS_MORE_PROCESSING_REQUIRED);
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 10, .IFSC = 4});
  // An IFSC-sized chunk: nothing counted as sent before the card acknowledges it.
  model_sends(h, block(0x20, {1, 2, 3, 4}));
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 10, .InfBytesSent = 4, .IFSC = 4});
  CHECK_EQ(h.card_says(block(0x90)), STATUS_MORE_PROCESSING_REQUIRED);  // R(1): chunk acknowledged
  CHECK_EQ(t1_fields(h),
           T1Fields{.State = T1_I_BLOCK, .BytesToSend = 6, .BytesSent = 4, .InfBytesSent = 4, .SSN = 1, .IFSC = 4});
  model_sends(h, block(0x60, {5, 6, 7, 8}));
  CHECK_EQ(t1_fields(h),
           T1Fields{.State = T1_I_BLOCK, .BytesToSend = 6, .BytesSent = 4, .InfBytesSent = 4, .SSN = 1, .IFSC = 4});
  CHECK_EQ(h.card_says(block(0x80)), STATUS_MORE_PROCESSING_REQUIRED);  // R(0)
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 2, .BytesSent = 8, .InfBytesSent = 4, .IFSC = 4});
  model_sends(h, block(0x00, {9, 10}));
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 2, .BytesSent = 8, .InfBytesSent = 2, .IFSC = 4});
  // The card's I-block answers the last block; it is no R-block acknowledgment, so the last
  // chunk stays in BytesToSend and out of BytesSent.
  CHECK_EQ(h.card_says(block(0x00, {0x90, 0x00})), STATUS_SUCCESS);
  CHECK_EQ(
      t1_fields(h),
      T1Fields{.State = T1_START, .BytesToSend = 2, .BytesSent = 8, .InfBytesSent = 2, .SSN = 1, .RSN = 1, .IFSC = 4});
  CHECK_EQ(response(io), (std::vector<UCHAR>{0x90, 0x00}));
}

TEST_CASE("Windows 11 rule 15: State is the next state to run; OriginalState only around S(IFS)") {
  Harness h;
  h.ext.CardCapabilities.T1.IFSC = 32;
  {
    UserBuffer io(h, {0xA0, 0xB0}, 64);
    model_sends(h, block(0xC1, {0xFE}));
    // Not T1_IFS_REQUEST (the block just sent): the I-block comes next, and OriginalState
    // keeps it for the S(IFS) exchange to resume with.
    CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .OriginalState = T1_I_BLOCK, .BytesToSend = 2, .IFSC = 32});
    CHECK_EQ(h.card_says(block(0xE1, {0xFE})), STATUS_MORE_PROCESSING_REQUIRED);
    CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 2, .IFSC = 32});
    model_sends(h, block(0x00, {0xA0, 0xB0}));
    // A plain I-block leaves OriginalState 0.
    CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 2, .InfBytesSent = 2, .IFSC = 32});
    CHECK_EQ(h.card_says(block(0x20, {0x01})), STATUS_MORE_PROCESSING_REQUIRED);  // a chained answer
    CHECK_EQ(t1_fields(h),
             T1Fields{.State = T1_R_BLOCK, .BytesToSend = 2, .InfBytesSent = 2, .SSN = 1, .RSN = 1, .IFSC = 32});
    model_sends(h, block(0x90));
    CHECK_EQ(t1_fields(h),
             T1Fields{.State = T1_I_BLOCK, .BytesToSend = 2, .InfBytesSent = 2, .SSN = 1, .RSN = 1, .IFSC = 32});
    CHECK_EQ(h.card_says(block(0x40, {0x90, 0x00})), STATUS_SUCCESS);
    CHECK_EQ(t1_fields(h), T1Fields{.State = T1_START, .BytesToSend = 2, .InfBytesSent = 2, .SSN = 1, .IFSC = 32});
    CHECK_EQ(response(io), (std::vector<UCHAR>{0x01, 0x90, 0x00}));
  }
  // The card's own S(IFS request): answered, then back to the I-block state.
  UserBuffer io(h, {0xC0}, 64);
  model_sends(h, block(0x40, {0xC0}));
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 1, .InfBytesSent = 1, .SSN = 1, .IFSC = 32});
  CHECK_EQ(h.card_says(block(0xC1, {0x10})), STATUS_MORE_PROCESSING_REQUIRED);
  CHECK_EQ(t1_fields(h),
           T1Fields{.State = T1_IFS_RESPONSE, .BytesToSend = 1, .InfBytesSent = 1, .SSN = 1, .IFSC = 0x10});
  model_sends(h, block(0xE1, {0x10}));
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 1, .InfBytesSent = 1, .SSN = 1, .IFSC = 0x10});
  CHECK_EQ(h.card_says(block(0x00, {0x90, 0x00})), STATUS_SUCCESS);
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_START, .BytesToSend = 1, .InfBytesSent = 1, .RSN = 1, .IFSC = 0x10});
}

TEST_CASE("Windows 11 rule 16: Resynch counts at the start, LastError cleared by the R-block, Wtx by the answer") {
  Harness h;
  h.ext.CardCapabilities.T1.IFSC = 32;
  skip_ifs_request(h);
  UserBuffer io(h, {0xA0}, 64);
  model_sends(h, block(0x00, {0xA0}));
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 1, .InfBytesSent = 1, .IFSC = 32});
  CHECK_EQ(h.card_says(with_bad_edc(block(0x00, {0x90, 0x00}))), STATUS_MORE_PROCESSING_REQUIRED);
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_R_BLOCK,
                                  .BytesToSend = 1,
                                  .InfBytesSent = 1,
                                  .Resend = 1,
                                  .LastError = 1,  // EDC error, ISO 7816-3 11.3.2.2
                                  .IFSC = 32});
  model_sends(h, block(0x81));
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 1, .InfBytesSent = 1, .Resend = 1, .IFSC = 32});
  CHECK_EQ(h.card_says({}), STATUS_MORE_PROCESSING_REQUIRED);  // nothing: other error
  CHECK_EQ(t1_fields(h),
           T1Fields{.State = T1_R_BLOCK, .BytesToSend = 1, .InfBytesSent = 1, .Resend = 2, .LastError = 2, .IFSC = 32});
  model_sends(h, block(0x82));
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 1, .InfBytesSent = 1, .Resend = 2, .IFSC = 32});
  // A third failure starts a resynch, which counts at once.
  CHECK_EQ(h.card_says({}), STATUS_MORE_PROCESSING_REQUIRED);
  CHECK_EQ(t1_fields(h),
           T1Fields{.State = T1_RESYNCH_REQUEST, .BytesToSend = 1, .InfBytesSent = 1, .Resynch = 1, .IFSC = 32});
  model_sends(h, block(0xC0));
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_RESTART, .BytesToSend = 1, .InfBytesSent = 1, .Resynch = 1, .IFSC = 32});
  CHECK_EQ(h.card_says(block(0xE0)), STATUS_MORE_PROCESSING_REQUIRED);
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_RESTART, .BytesToSend = 1, .InfBytesSent = 1, .Resynch = 1, .IFSC = 32});
  model_sends(h, block(0x00, {0xA0}));
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 1, .InfBytesSent = 1, .Resynch = 1, .IFSC = 32});
  CHECK_EQ(h.card_says(block(0xC3, {0x05})), STATUS_MORE_PROCESSING_REQUIRED);
  CHECK_EQ(t1_fields(h),
           T1Fields{.State = T1_WTX_RESPONSE, .BytesToSend = 1, .InfBytesSent = 1, .Resynch = 1, .Wtx = 5, .IFSC = 32});
  model_sends(h, block(0xE3, {0x05}));
  CHECK_EQ(t1_fields(h),
           T1Fields{.State = T1_I_BLOCK, .BytesToSend = 1, .InfBytesSent = 1, .Resynch = 1, .Wtx = 5, .IFSC = 32});
  // The answer that came within the extended time clears Wtx.
  CHECK_EQ(h.card_says(block(0x00, {0x90, 0x00})), STATUS_SUCCESS);
  CHECK_EQ(
      t1_fields(h),
      T1Fields{.State = T1_START, .BytesToSend = 1, .InfBytesSent = 1, .SSN = 1, .RSN = 1, .Resynch = 1, .IFSC = 32});
  CHECK_EQ(response(io), (std::vector<UCHAR>{0x90, 0x00}));
}

TEST_CASE("Windows 11 rule 17: the CRC is CRC-16 0xA001 reflected, preset 0, high byte first") {
  CHECK_EQ(smc_windows::windows_crc16({'1', '2', '3', '4', '5', '6', '7', '8', '9'}), 0xBB3D);
  Harness h;
  h.ext.CardCapabilities.T1.EDC = T1_CRC_CHECK;
  h.ext.CardCapabilities.T1.IFSC = 32;
  UserBuffer io(h, {0x00, 0xB0, 0x00, 0x00, 0x02}, 64);
  model_sends(h, {0x00, 0xC1, 0x01, 0xFE, 0xEC, 0xD1});  // the example of the rule
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .OriginalState = T1_I_BLOCK, .BytesToSend = 5, .IFSC = 32});
  // A card computing ISO/IEC 13239's CRC: its S(IFS response) is an EDC error to Windows.
  CHECK_EQ(h.card_says(smc::t1_block(0xE1, {0xFE}, true)), STATUS_MORE_PROCESSING_REQUIRED);
  CHECK_EQ(
      t1_fields(h),
      T1Fields{
          .State = T1_R_BLOCK, .OriginalState = T1_I_BLOCK, .BytesToSend = 5, .Resend = 1, .LastError = 1, .IFSC = 32});
  model_sends(h, block(0x81, {}, true));
  CHECK_EQ(h.t1_sent(), (std::vector<UCHAR>{0x00, 0x81, 0x00, 0x50, 0x60}));
  CHECK_EQ(t1_fields(h),
           T1Fields{.State = T1_I_BLOCK, .OriginalState = T1_I_BLOCK, .BytesToSend = 5, .Resend = 1, .IFSC = 32});
  CHECK_EQ(h.card_says(block(0xE1, {0xFE}, true)), STATUS_MORE_PROCESSING_REQUIRED);
  CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 5, .IFSC = 32});
  model_sends(h, block(0x00, {0x00, 0xB0, 0x00, 0x00, 0x02}, true));
  CHECK_EQ(h.card_says(block(0x00, {0xAB, 0xCD, 0x90, 0x00}, true)), STATUS_SUCCESS);
  CHECK_EQ(t1_fields(h),
           T1Fields{.State = T1_START, .BytesToSend = 5, .InfBytesSent = 5, .SSN = 1, .RSN = 1, .IFSC = 32});
  CHECK_EQ(response(io), (std::vector<UCHAR>{0xAB, 0xCD, 0x90, 0x00}));
}

TEST_CASE("Windows 11 rule 18: errors during the S(IFS) exchange") {
  Harness h;
  h.ext.CardCapabilities.T1.IFSC = 32;
  UserBuffer io(h, {0xA0}, 64);
  model_sends(h, block(0xC1, {0xFE}));
  SUBCASE("a bad block is answered with an R-block, and the exchange resumes after S(IFS response)") {
    CHECK_EQ(h.card_says(with_bad_edc(block(0xE1, {0xFE}))), STATUS_MORE_PROCESSING_REQUIRED);
    CHECK_EQ(t1_fields(h), T1Fields{.State = T1_R_BLOCK,
                                    .OriginalState = T1_I_BLOCK,
                                    .BytesToSend = 1,
                                    .Resend = 1,
                                    .LastError = 1,
                                    .IFSC = 32});
    model_sends(h, block(0x81));  // not S(IFS request) again
    CHECK_EQ(t1_fields(h),
             T1Fields{.State = T1_I_BLOCK, .OriginalState = T1_I_BLOCK, .BytesToSend = 1, .Resend = 1, .IFSC = 32});
    CHECK_EQ(h.card_says(block(0xE1, {0xFE})), STATUS_MORE_PROCESSING_REQUIRED);
    CHECK_EQ(t1_fields(h), T1Fields{.State = T1_I_BLOCK, .BytesToSend = 1, .IFSC = 32});
    model_sends(h, block(0x00, {0xA0}));
    CHECK_EQ(h.card_says(block(0x00, {0x90, 0x00})), STATUS_SUCCESS);
  }
  SUBCASE("after S(RESYNCH response) the engine restarts with the I-block, not S(IFS request)") {
    for (unsigned resend = 1; resend <= T1_MAX_RETRIES; ++resend) {
      CAPTURE(resend);
      CHECK_EQ(h.card_says({}), STATUS_MORE_PROCESSING_REQUIRED);
      CHECK_EQ(t1_fields(h), T1Fields{.State = T1_R_BLOCK,
                                      .OriginalState = T1_I_BLOCK,
                                      .BytesToSend = 1,
                                      .Resend = resend,
                                      .LastError = 2,
                                      .IFSC = 32});
      model_sends(h, block(0x82));
    }
    CHECK_EQ(h.card_says({}), STATUS_MORE_PROCESSING_REQUIRED);
    CHECK_EQ(
        t1_fields(h),
        T1Fields{.State = T1_RESYNCH_REQUEST, .OriginalState = T1_I_BLOCK, .BytesToSend = 1, .Resynch = 1, .IFSC = 32});
    model_sends(h, block(0xC0));
    CHECK_EQ(t1_fields(h),
             T1Fields{.State = T1_RESTART, .OriginalState = T1_I_BLOCK, .BytesToSend = 1, .Resynch = 1, .IFSC = 32});
    CHECK_EQ(h.card_says(block(0xE0)), STATUS_MORE_PROCESSING_REQUIRED);
    CHECK_EQ(t1_fields(h), T1Fields{.State = T1_RESTART, .BytesToSend = 1, .Resynch = 1, .IFSC = 32});
    model_sends(h, block(0x00, {0xA0}));
    CHECK_EQ(t1_fields(h),
             T1Fields{.State = T1_I_BLOCK, .BytesToSend = 1, .InfBytesSent = 1, .Resynch = 1, .IFSC = 32});
    CHECK_EQ(h.card_says(block(0x00, {0x90, 0x00})), STATUS_SUCCESS);
    CHECK_EQ(response(io), (std::vector<UCHAR>{0x90, 0x00}));
  }
  SUBCASE("the third resynch fails with STATUS_DEVICE_PROTOCOL_ERROR") {
    for (int resend = 0; resend < T1_MAX_RETRIES; ++resend) {
      CHECK_EQ(h.card_says({}), STATUS_MORE_PROCESSING_REQUIRED);
      model_sends(h, block(0x82));
    }
    for (unsigned resynch = 1; resynch <= 2; ++resynch) {
      CAPTURE(resynch);
      CHECK_EQ(h.card_says({}), STATUS_MORE_PROCESSING_REQUIRED);
      CHECK_EQ(h.ext.T1.Resynch, resynch);
      CHECK_EQ(h.ext.T1.State, ULONG{T1_RESYNCH_REQUEST});
      model_sends(h, block(0xC0));
    }
    CHECK_EQ(h.card_says({}), STATUS_DEVICE_PROTOCOL_ERROR);
    CHECK_EQ(t1_fields(h), T1Fields{.State = T1_START, .BytesToSend = 1, .Resynch = 3, .IFSC = 32});
    CHECK_EQ(io.information, 0u);
  }
}

TEST_CASE("Windows 11 rule 19: the card's S(IFS request) and S(WTX request) are taken without a LEN check") {
  Harness h;
  h.ext.CardCapabilities.T1.IFSC = 32;
  skip_ifs_request(h);
  UserBuffer io(h, {0xA0}, 64);
  model_sends(h, block(0x00, {0xA0}));
  SUBCASE("S(IFS request) with LEN 0: the EDC byte is the IFS") {
    CHECK_EQ(h.card_says({0x00, 0xC1, 0x00, 0xC1}), STATUS_MORE_PROCESSING_REQUIRED);
    CHECK_EQ(t1_fields(h), T1Fields{.State = T1_IFS_RESPONSE, .BytesToSend = 1, .InfBytesSent = 1, .IFSC = 0xC1});
    model_sends(h, block(0xE1, {0xC1}));
  }
  SUBCASE("S(IFS request) with LEN 2: the first byte is the IFS") {
    CHECK_EQ(h.card_says(block(0xC1, {0x10, 0x20})), STATUS_MORE_PROCESSING_REQUIRED);
    CHECK_EQ(t1_fields(h), T1Fields{.State = T1_IFS_RESPONSE, .BytesToSend = 1, .InfBytesSent = 1, .IFSC = 0x10});
    model_sends(h, block(0xE1, {0x10}));
  }
  SUBCASE("S(WTX request) with LEN 0: the EDC byte is the multiplier") {
    CHECK_EQ(h.card_says({0x00, 0xC3, 0x00, 0xC3}), STATUS_MORE_PROCESSING_REQUIRED);
    CHECK_EQ(t1_fields(h),
             T1Fields{.State = T1_WTX_RESPONSE, .BytesToSend = 1, .InfBytesSent = 1, .Wtx = 0xC3, .IFSC = 32});
    model_sends(h, block(0xE3, {0xC3}));
  }
  CHECK_EQ(h.card_says(block(0x00, {0x90, 0x00})), STATUS_SUCCESS);
  CHECK_EQ(response(io), (std::vector<UCHAR>{0x90, 0x00}));
}

TEST_CASE("Windows 11 rule 20: which answers are accepted") {
  Harness h;
  h.ext.CardCapabilities.T1.IFSC = 4;
  SUBCASE("an I-block answer while our chain is unfinished, after S(IFS)") {
    skip_ifs_request(h);
    UserBuffer io(h, {1, 2, 3, 4, 5, 6}, 64);
    model_sends(h, block(0x20, {1, 2, 3, 4}));
    CHECK_EQ(h.card_says(block(0xC1, {0x10})), STATUS_MORE_PROCESSING_REQUIRED);
    model_sends(h, block(0xE1, {0x10}));
    CHECK_EQ(h.card_says(block(0x00, {0x67, 0x00})), STATUS_SUCCESS);
    CHECK_EQ(response(io), (std::vector<UCHAR>{0x67, 0x00}));
    CHECK_EQ(t1_fields(h),
             T1Fields{.State = T1_START, .BytesToSend = 6, .InfBytesSent = 4, .SSN = 1, .RSN = 1, .IFSC = 0x10});
  }
  SUBCASE("an I-block answer after S(ABORT); N(S) is kept for the next APDU") {
    skip_ifs_request(h);
    {
      UserBuffer io(h, {1, 2, 3, 4, 5, 6}, 64);
      model_sends(h, block(0x20, {1, 2, 3, 4}));
      CHECK_EQ(h.card_says(block(0xC2)), STATUS_MORE_PROCESSING_REQUIRED);
      CHECK_EQ(h.ext.T1.State, ULONG{T1_ABORT_RESPONSE});
      model_sends(h, block(0xE2));
      CHECK_EQ(h.card_says(block(0x00, {0x6F, 0x00})), STATUS_SUCCESS);
      CHECK_EQ(response(io), (std::vector<UCHAR>{0x6F, 0x00}));
      CHECK_EQ(t1_fields(h), T1Fields{.State = T1_START, .BytesToSend = 6, .InfBytesSent = 4, .RSN = 1, .IFSC = 4});
    }
    UserBuffer io(h, {0xA0}, 64);
    model_sends(h, block(0x00, {0xA0}));  // N(S) 0 again
  }
  SUBCASE("an I-block where S(IFS response) was expected") {
    UserBuffer io(h, {0xA0}, 64);
    model_sends(h, block(0xC1, {0xFE}));
    CHECK_EQ(h.card_says(block(0x00, {0x90, 0x00})), STATUS_DEVICE_PROTOCOL_ERROR);
    CHECK_EQ(h.ext.T1.State, ULONG{T1_START});
    CHECK_EQ(io.information, 0u);
  }
  SUBCASE("an I-block where S(RESYNCH response) was expected") {
    skip_ifs_request(h);
    UserBuffer io(h, {0xA0}, 64);
    model_sends(h, block(0x00, {0xA0}));
    for (int resend = 0; resend < T1_MAX_RETRIES; ++resend) {
      CHECK_EQ(h.card_says({}), STATUS_MORE_PROCESSING_REQUIRED);
      model_sends(h, block(0x82));
    }
    CHECK_EQ(h.card_says({}), STATUS_MORE_PROCESSING_REQUIRED);
    model_sends(h, block(0xC0));
    CHECK_EQ(h.card_says(block(0x00, {0x90, 0x00})), STATUS_DEVICE_PROTOCOL_ERROR);
    CHECK_EQ(h.ext.T1.State, ULONG{T1_START});
    CHECK_EQ(io.information, 0u);
  }
  SUBCASE("N(R) toggles before the reply-size check") {
    skip_ifs_request(h);
    UserBuffer io(h, {0xA0}, 9);  // room for one response byte
    model_sends(h, block(0x00, {0xA0}));
    CHECK_EQ(h.card_says(block(0x00, {0x90, 0x00})), STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(t1_fields(h),
             T1Fields{.State = T1_START, .BytesToSend = 1, .InfBytesSent = 1, .SSN = 1, .RSN = 1, .IFSC = 4});
  }
  SUBCASE("IFSC is re-read from the card capabilities at the next APDU") {
    skip_ifs_request(h);
    h.ext.CardCapabilities.T1.IFSC = 32;
    {
      UserBuffer io(h, {0xA0}, 64);
      model_sends(h, block(0x00, {0xA0}));
      CHECK_EQ(h.card_says(block(0xC1, {0x04})), STATUS_MORE_PROCESSING_REQUIRED);
      model_sends(h, block(0xE1, {0x04}));
      CHECK_EQ(h.card_says(block(0x00, {0x90, 0x00})), STATUS_SUCCESS);
      CHECK_EQ(h.ext.T1.IFSC, 4);
    }
    UserBuffer io(h, {1, 2, 3, 4, 5, 6}, 64);
    model_sends(h, block(0x40, {1, 2, 3, 4, 5, 6}));  // one block: IFSC 32 again
    CHECK_EQ(t1_fields(h),
             T1Fields{.State = T1_I_BLOCK, .BytesToSend = 6, .InfBytesSent = 6, .SSN = 1, .RSN = 1, .IFSC = 32});
  }
}
