// smclib model: ATR evaluation (SmartcardUpdateCardCapabilities, spec smclib.md §5), the F/D
// tables and the PTS parameter choice used by SET_PROTOCOL (§1.2).
#include "internal.h"

namespace readerlab::smclib {

// F and maximum clock by Fl, ISO 7816-3 Table 7 (spec §5); F = 0 marks RFU values.
const CLOCK_RATE_CONVERSION kClockRateConversion[16] = {
    {372, 4000000},   {372, 5000000},   {558, 6000000}, {744, 8000000}, {1116, 12000000}, {1488, 16000000},
    {1860, 20000000}, {0, 0},           {0, 0},         {512, 5000000}, {768, 7500000},   {1024, 10000000},
    {1536, 15000000}, {2048, 20000000}, {0, 0},         {0, 0}};

// D by Dl, ISO 7816-3 Table 8 (spec §5: Dl 0 and A..F are RFU here); D = 0 marks RFU values.
const BIT_RATE_ADJUSTMENT kBitRateAdjustment[16] = {{0, 1},  {1, 1},  {2, 1}, {4, 1}, {8, 1}, {16, 1}, {32, 1}, {64, 1},
                                                    {12, 1}, {20, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1},  {0, 1},  {0, 1}};

namespace {

constexpr ULONG kRecordedClockKHz = 3571;  // clock of the [R] recording, used when the reader gives none
constexpr UCHAR kDefaultP = 50;            // 5.0 V, spec §5 defaults
constexpr UCHAR kDefaultWI = 10;           // ISO 7816-3 10.2, spec §5 defaults
constexpr UCHAR kDefaultIFSC = 32;         // ISO 7816-3 11.4.2, spec §5 defaults

bool fl_valid(ULONG fl) { return fl < 16 && kClockRateConversion[fl].F != 0; }
bool dl_valid(ULONG dl) { return dl < 16 && kBitRateAdjustment[dl].DNumerator != 0; }

ULONG rate_of(ULONG clk_khz, ULONG fl, ULONG dl) {
  const unsigned long long hz = static_cast<unsigned long long>(clk_khz) * 1000ull;
  return static_cast<ULONG>(hz * kBitRateAdjustment[dl].DNumerator / kClockRateConversion[fl].F);
}

struct Parsed {
  UCHAR atr[64] = {};
  UCHAR length = 0;
  bool inverse = false;
  UCHAR fl = 1, dl = 1;
  UCHAR ii = 0, p = kDefaultP, n = 0;
  UCHAR wi = kDefaultWI;
  UCHAR ifsc = kDefaultIFSC, cwi = T1_CWI_DEFAULT, bwi = T1_BWI_DEFAULT, edc = 0;
  bool ta2_present = false;
  UCHAR ta2 = 0;
  ULONG protocols = 0;  // T0/T1 bits
  UCHAR historical[16] = {};
  UCHAR historical_length = 0;
};

bool parse_atr(const SCARD_CARD_CAPABILITIES& cc, Parsed& out) {
  ULONG len = cc.ATR.Length;
  if (len < 2 || len > sizeof out.atr) return false;
  std::memcpy(out.atr, cc.ATR.Buffer, len);
  out.length = static_cast<UCHAR>(len);
  if (out.atr[0] == 0x03) {  // inverse convention read as direct (spec §5)
    SmartcardInvertData(out.atr, len);
    out.inverse = true;
  }
  if (out.atr[0] != 0x3B && out.atr[0] != 0x3F) return false;  // TS, ISO 7816-3 8.1

  const UCHAR* a = out.atr;
  ULONG i = 1;
  UCHAR y = static_cast<UCHAR>(a[i] >> 4);
  const ULONG k = a[i] & 0x0Fu;
  ++i;
  ULONG level = 1;
  bool tck_needed = false;
  bool any_td = false;
  ULONG previous_t = 0;  // protocol announced by the TD that introduced this level
  bool t1_bytes_seen = false;

  for (;;) {
    int ta = -1, tb = -1, tc = -1, td = -1;
    if (y & 1) {
      if (i >= len) return false;
      ta = a[i++];
    }
    if (y & 2) {
      if (i >= len) return false;
      tb = a[i++];
    }
    if (y & 4) {
      if (i >= len) return false;
      tc = a[i++];
    }
    if (y & 8) {
      if (i >= len) return false;
      td = a[i++];
    }

    if (level == 1) {
      if (ta >= 0) {
        out.fl = static_cast<UCHAR>(ta >> 4);
        out.dl = static_cast<UCHAR>(ta & 0x0F);
      }
      if (tb >= 0) {
        out.ii = static_cast<UCHAR>((tb >> 5) & 0x03);
        out.p = static_cast<UCHAR>((tb & 0x1F) * 10);  // PI1 volts -> 0.1 V
      }
      if (tc >= 0) out.n = static_cast<UCHAR>(tc);
    } else if (level == 2) {
      if (ta >= 0) {
        out.ta2_present = true;
        out.ta2 = static_cast<UCHAR>(ta);
      }
      if (tc >= 0 && previous_t == 0) out.wi = static_cast<UCHAR>(tc);
    } else if (previous_t == 1 && !t1_bytes_seen) {
      t1_bytes_seen = true;  // the first T=1 specific group, ISO 7816-3 11.4
      if (ta >= 0 && ta != 0x00 && ta != 0xFF) out.ifsc = static_cast<UCHAR>(ta);
      if (tb >= 0) {
        out.cwi = static_cast<UCHAR>(tb & 0x0F);
        out.bwi = static_cast<UCHAR>(tb >> 4);
      }
      if (tc >= 0) out.edc = static_cast<UCHAR>(tc & T1_CRC_CHECK);
    }

    if (td < 0) break;
    any_td = true;
    previous_t = static_cast<ULONG>(td & 0x0F);
    if (previous_t != 0) tck_needed = true;
    if (previous_t == 0) out.protocols |= SCARD_PROTOCOL_T0;
    if (previous_t == 1) out.protocols |= SCARD_PROTOCOL_T1;
    y = static_cast<UCHAR>(td >> 4);
    ++level;
  }
  if (!any_td || out.protocols == 0) out.protocols |= SCARD_PROTOCOL_T0;  // T=0 implied

  if (i + k > len) return false;  // truncated historical bytes
  std::memcpy(out.historical, a + i, k);
  out.historical_length = static_cast<UCHAR>(k);
  i += k;
  if (tck_needed) {
    if (i >= len) return false;  // missing TCK
    UCHAR x = 0;
    for (ULONG j = 1; j <= i; ++j) x = static_cast<UCHAR>(x ^ a[j]);
    if (x != 0) return false;  // wrong TCK, ISO 7816-3 8.2.5
  }
  if (!fl_valid(out.fl) || !dl_valid(out.dl)) return false;  // RFU Fl/Dl (spec §5)
  return true;
}

void choose_pts(PSMARTCARD_EXTENSION ext, const Parsed& p, ULONG clk) {
  PTS_DATA& pts = ext->CardCapabilities.PtsData;
  const SCARD_READER_CAPABILITIES& rc = ext->ReaderCapabilities;
  pts.CLKFrequency = clk;
  pts.StopBits = static_cast<UCHAR>(p.n == 255 ? 1 : 2);
  if (pts.Type == PTS_TYPE_USER) return;
  pts.Fl = 1;
  pts.Dl = 1;
  pts.DataRate = rc.DataRate.Default != 0 ? rc.DataRate.Default : rate_of(clk, 1, 1);
  if (pts.Type != PTS_TYPE_OPTIMAL) return;

  // OPTIMAL: the fastest Fl/Dl not above the card's rate that the reader can run (spec §1.2).
  const ULONG card_rate = rate_of(clk, p.fl, p.dl);
  ULONG best = 0;
  for (ULONG fl = 1; fl < 16; ++fl) {
    if (!fl_valid(fl) || static_cast<unsigned long long>(clk) * 1000ull > kClockRateConversion[fl].fs) continue;
    for (ULONG dl = 1; dl <= p.dl; ++dl) {
      if (!dl_valid(dl)) continue;
      const ULONG rate = rate_of(clk, fl, dl);
      if (rate > card_rate || (rc.DataRate.Max != 0 && rate > rc.DataRate.Max)) continue;
      ULONG accepted = rate;
      if (rc.DataRatesSupported.List != nullptr && rc.DataRatesSupported.Entries != 0) {
        accepted = 0;
        for (ULONG e = 0; e < rc.DataRatesSupported.Entries; ++e) {
          const ULONG listed = rc.DataRatesSupported.List[e];
          const ULONG diff = listed > rate ? listed - rate : rate - listed;
          if (diff * 100 <= listed) accepted = listed;  // within 1 %
        }
      }
      if (accepted > best) {
        best = accepted;
        pts.Fl = static_cast<UCHAR>(fl);
        pts.Dl = static_cast<UCHAR>(dl);
        pts.DataRate = accepted;
      }
    }
  }
}

}  // namespace

void reset_t1(PSMARTCARD_EXTENSION ext) {
  T1_DATA& t1 = ext->T1;
  const UCHAR ifsd = t1.IFSD;
  const UCHAR nad = t1.NAD;
  std::memset(&t1, 0, sizeof t1);
  t1.IFSD = ifsd;
  t1.NAD = nad;
  t1.State = T1_INIT;
}

NTSTATUS update_card_capabilities(PSMARTCARD_EXTENSION ext, bool for_set_protocol) {
  SCARD_CARD_CAPABILITIES& cc = ext->CardCapabilities;
  Parsed p;
  if (!parse_atr(cc, p)) {
    SmartcardDebug(DEBUG_ATR, ("smclib: ATR not recognised\n"));
    return STATUS_UNRECOGNIZED_MEDIA;  // state unchanged (spec §5)
  }
  ULONG clk = ext->ReaderCapabilities.CLKFrequency.Default;
  if (clk == 0) clk = kRecordedClockKHz;

  if (p.inverse) std::memcpy(cc.ATR.Buffer, p.atr, p.length);
  cc.InversConvention = p.inverse ? TRUE : FALSE;
  std::memset(cc.HistoricalChars.Buffer, 0, sizeof cc.HistoricalChars.Buffer);
  std::memcpy(cc.HistoricalChars.Buffer, p.historical, p.historical_length);
  cc.HistoricalChars.Length = p.historical_length;
  cc.ClockRateConversion = kClockRateConversion;
  cc.BitRateAdjustment = kBitRateAdjustment;
  cc.Fl = p.fl;
  cc.Dl = p.dl;
  cc.II = p.ii;
  cc.P = p.p;
  cc.N = p.n;
  cc.T0.WI = p.wi;
  cc.T1.IFSC = p.ifsc;
  cc.T1.CWI = p.cwi;
  cc.T1.BWI = p.bwi;
  cc.T1.EDC = p.edc;
  cc.Protocol.Supported = p.protocols | SCARD_PROTOCOL_RAW;  // RAW always (spec §5)
  ext->T1.IFSC = p.ifsc;

  choose_pts(ext, p, clk);

  const bool single = p.protocols == SCARD_PROTOCOL_T0 || p.protocols == SCARD_PROTOCOL_T1;
  const bool default_fd = (p.fl == 0 || p.fl == 1) && p.dl == 1;
  ULONG state = SCARD_NEGOTIABLE;
  ULONG selected = SCARD_PROTOCOL_UNDEFINED;
  UCHAR run_fl = 1, run_dl = 1;  // the F/D the card is running at now
  if (p.ta2_present) {           // specific mode, ISO 7816-3 6.3.1
    state = SCARD_SPECIFIC;
    selected = 1u << (p.ta2 & 0x0F);
    if ((p.ta2 & 0x10) == 0) {
      run_fl = p.fl;
      run_dl = p.dl;
    }
  } else if (single && (default_fd || (for_set_protocol && cc.PtsData.Type == PTS_TYPE_DEFAULT))) {
    state = SCARD_SPECIFIC;
    selected = p.protocols;
  }
  if (for_set_protocol && !p.ta2_present) {
    run_fl = cc.PtsData.Fl;
    run_dl = cc.PtsData.Dl;
  }
  if (!fl_valid(run_fl) || !dl_valid(run_dl)) run_fl = run_dl = 1;

  // Timing, fitted to the [R] recording (spec §5).
  const ULONG f = kClockRateConversion[run_fl].F;
  const ULONG d = kBitRateAdjustment[run_dl].DNumerator;
  const ULONG etu = 1 + (f * 1000u) / (d * clk);
  cc.etu = etu;
  cc.GT = p.n == 255 ? 0 : ULONG{p.n} * etu;
  cc.T0.WT = 960u * ULONG{p.wi} * etu + 1;
  cc.T1.CWT = ((1u << (p.cwi & 0x0F)) + 11u) * etu + 1;
  cc.T1.BWT = ((1u << (p.bwi & 0x0F)) * ((960u * 372u) / clk) + 11u * etu) * 1000u + 1;
  cc.T1.BGT = 22u * etu;  // ISO 7816-3 11.2

  cc.Protocol.Selected = selected;
  set_state(ext, state);
  return STATUS_SUCCESS;
}

}  // namespace readerlab::smclib

using namespace readerlab::smclib;

extern "C" {

NTSTATUS SmartcardUpdateCardCapabilities(PSMARTCARD_EXTENSION SmartcardExtension) {
  if (SmartcardExtension == nullptr) return STATUS_INVALID_PARAMETER;
  return update_card_capabilities(SmartcardExtension, false);
}

VOID SmartcardInitializeCardCapabilities(PSMARTCARD_EXTENSION SmartcardExtension) {
  PSMARTCARD_EXTENSION ext = SmartcardExtension;
  if (ext == nullptr) return;
  std::memset(&ext->CardCapabilities, 0, sizeof ext->CardCapabilities);
  ext->CardCapabilities.ClockRateConversion = kClockRateConversion;
  ext->CardCapabilities.BitRateAdjustment = kBitRateAdjustment;
  ext->CardCapabilities.Protocol.Supported = SCARD_PROTOCOL_RAW;
  const ULONG max_ifsd = ext->ReaderCapabilities.MaxIFSD;
  ext->T1.IFSD = static_cast<UCHAR>(max_ifsd >= 1 && max_ifsd <= T1_IFSD ? max_ifsd : T1_IFSD_DEFAULT);
  reset_t1(ext);
}

}  // extern "C"

// ---- SET_PROTOCOL's protocol choice (issue 10 rule 24; declared in internal.h, called by
// smclib_core.cpp's set_protocol) ----
// The ATR evaluation runs on a scratch copy of the extension, with PtsData.Type as SET_PROTOCOL
// asks, and only its PTS choice and the card's mode come back: Windows does not re-parse the ATR
// at SET_PROTOCOL, so timing, T=1 parameters and the T=1 engine keep what
// SmartcardUpdateCardCapabilities gave them.
namespace readerlab::smclib {

NTSTATUS evaluate_protocol_choice(PSMARTCARD_EXTENSION ext, PTS_DATA* pts, ULONG* specific_protocol) {
  SMARTCARD_EXTENSION scratch = *ext;
  scratch.CardCapabilities.PtsData = *pts;
  const NTSTATUS status = update_card_capabilities(&scratch, false);
  if (!NT_SUCCESS(status)) return status;
  *pts = scratch.CardCapabilities.PtsData;
  *specific_protocol = scratch.ReaderCapabilities.CurrentState == SCARD_SPECIFIC
                           ? scratch.CardCapabilities.Protocol.Selected
                           : SCARD_PROTOCOL_UNDEFINED;
  return STATUS_SUCCESS;
}

}  // namespace readerlab::smclib
