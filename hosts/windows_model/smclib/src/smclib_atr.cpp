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
constexpr ULONG kMaxGroups = 64;           // one TD per interface group: never more than the buffer's bytes

bool fl_valid(ULONG fl) { return fl < 16 && kClockRateConversion[fl].F != 0; }
bool dl_valid(ULONG dl) { return dl < 16 && kBitRateAdjustment[dl].DNumerator != 0; }

ULONG rate_of(ULONG clk_khz, ULONG fl, ULONG dl) {
  const unsigned long long hz = static_cast<unsigned long long>(clk_khz) * 1000ull;
  return static_cast<ULONG>(hz * kBitRateAdjustment[dl].DNumerator / kClockRateConversion[fl].F);
}

ULONG clock_of(const SCARD_READER_CAPABILITIES& rc) {
  return rc.CLKFrequency.Default != 0 ? rc.CLKFrequency.Default : kRecordedClockKHz;
}

// One interface-byte group: TAi TBi TCi TDi (-1 when absent) and the protocol of the TD(i-1)
// that announced it (ISO 7816-3 8.2.3; -1 for the global group 1).
struct Group {
  int ta = -1, tb = -1, tc = -1, td = -1;
  int protocol = -1;
};

// The ATR's structure: its groups and where the historical bytes are. Windows checks the whole
// structure (length, TCK, nothing after the end) before it takes any value from it.
struct Structure {
  Group groups[kMaxGroups];
  ULONG count = 0;
  ULONG historical_at = 0;
  ULONG historical_length = 0;
};

bool walk_structure(const UCHAR* a, ULONG len, Structure& out) {
  ULONG i = 2;
  UCHAR y = static_cast<UCHAR>(a[1] >> 4);
  int protocol = -1;
  bool tck_needed = false;
  for (;;) {
    if (out.count == kMaxGroups) return false;
    Group& g = out.groups[out.count++];
    g.protocol = protocol;
    int* const bytes[4] = {&g.ta, &g.tb, &g.tc, &g.td};
    for (int k = 0; k < 4; ++k) {
      if ((y & (1u << k)) == 0) continue;
      if (i >= len) return false;  // truncated interface bytes
      *bytes[k] = a[i++];
    }
    if (g.td < 0) break;
    protocol = g.td & 0x0F;
    if (protocol != 0) tck_needed = true;  // ISO 7816-3 8.2.5
    y = static_cast<UCHAR>(g.td >> 4);
  }
  out.historical_at = i;
  if (i + out.historical_length > len) return false;  // truncated historical bytes
  i += out.historical_length;
  if (tck_needed) {
    if (i >= len) return false;  // missing TCK
    UCHAR x = 0;
    for (ULONG j = 1; j <= i; ++j) x = static_cast<UCHAR>(x ^ a[j]);
    if (x != 0) return false;  // wrong TCK, ISO 7816-3 8.2.5
    ++i;
  }
  return i == len;  // issue 10 rule 9: bytes after the computed end are refused
}

// The protocols the TD list offers (issue 10 rule 8).
struct Offer {
  bool t0 = false, t1 = false;
  bool negotiable = false;  // T=0 after T=1, or another protocol next to T=0/T=1
};

Offer offered_protocols(const Structure& s) {
  Offer o;
  if (s.groups[0].td < 0) o.t0 = true;  // no TD1: T=0 implied
  bool other = false;
  for (ULONG g = 1; g < s.count; ++g) {
    const int t = s.groups[g].protocol;
    if (t == 0) {
      if (o.t1) {
        o.negotiable = true;
      } else {
        o.t0 = true;
      }
    } else if (t == 1) {
      o.t1 = true;
    } else {
      other = true;
    }
  }
  if (other && (o.t0 || o.t1)) o.negotiable = true;
  return o;
}

// The T=1 parameters: the first TA, TB and TC of the groups a T=1 TD announced, TD1 included
// (issue 10 rules 6 and 7).
struct T1Parameters {
  UCHAR ifsc = kDefaultIFSC, cwi = T1_CWI_DEFAULT, bwi = T1_BWI_DEFAULT, edc = 0;
};

T1Parameters t1_parameters(const Structure& s) {
  T1Parameters p;
  bool ta_seen = false, tb_seen = false, tc_seen = false;
  for (ULONG g = 1; g < s.count; ++g) {
    const Group& group = s.groups[g];
    if (group.protocol != 1) continue;
    if (group.ta >= 0 && !ta_seen) {
      ta_seen = true;
      if (group.ta != 0) p.ifsc = static_cast<UCHAR>(group.ta);  // 00 keeps 32, FF is 255
    }
    if (group.tb >= 0 && !tb_seen) {
      tb_seen = true;
      if ((group.tb & 0x0F) != 0) p.cwi = static_cast<UCHAR>(group.tb & 0x0F);
      if ((group.tb >> 4) != 0) p.bwi = static_cast<UCHAR>(group.tb >> 4);
    }
    if (group.tc >= 0 && !tc_seen) {
      tc_seen = true;
      p.edc = static_cast<UCHAR>(group.tc & T1_CRC_CHECK);
    }
  }
  return p;
}

}  // namespace

void choose_pts(PSMARTCARD_EXTENSION ext) {
  SCARD_CARD_CAPABILITIES& cc = ext->CardCapabilities;
  PTS_DATA& pts = cc.PtsData;
  const SCARD_READER_CAPABILITIES& rc = ext->ReaderCapabilities;
  const ULONG default_clk = clock_of(rc);
  pts.CLKFrequency = default_clk;
  pts.StopBits = static_cast<UCHAR>(cc.N == 255 ? 1 : 2);
  if (pts.Type == PTS_TYPE_USER) return;
  pts.Fl = 1;
  pts.Dl = 1;
  pts.DataRate = rc.DataRate.Default != 0 ? rc.DataRate.Default : rate_of(default_clk, 1, 1);
  if (pts.Type != PTS_TYPE_OPTIMAL || !fl_valid(cc.Fl) || !dl_valid(cc.Dl)) return;

  // Issue 10 rule 25: only a rate the reader lists (DataRate.Default or Max when it lists none)
  // is offered, and the listed value is reported. Each F gets the highest clock the reader
  // lists (Default or Max when it lists none) that F's fmax allows.
  const ULONG unlisted_rates[2] = {rc.DataRate.Default, rc.DataRate.Max};
  const ULONG unlisted_clocks[2] = {default_clk, rc.CLKFrequency.Max};
  const bool rates_listed = rc.DataRatesSupported.List != nullptr && rc.DataRatesSupported.Entries != 0;
  const bool clocks_listed = rc.CLKFrequenciesSupported.List != nullptr && rc.CLKFrequenciesSupported.Entries != 0;
  const ULONG* rates = rates_listed ? rc.DataRatesSupported.List : unlisted_rates;
  const ULONG rate_count = rates_listed ? rc.DataRatesSupported.Entries : 2;
  const ULONG* clocks = clocks_listed ? rc.CLKFrequenciesSupported.List : unlisted_clocks;
  const ULONG clock_count = clocks_listed ? rc.CLKFrequenciesSupported.Entries : 2;
  const ULONG card_f = kClockRateConversion[cc.Fl].F;
  const ULONG card_d = kBitRateAdjustment[cc.Dl].DNumerator;

  // Dl from the card's down, then every F not above the card's, highest Fl index first: the
  // order that reproduces the [R] recording (e.g. TA1 D5 gives F 1488 / D 4, not F 372 / D 1).
  // A D above the card's (Dl 7 = 64 below Dl 8 = 12) is never offered.
  for (ULONG dl = cc.Dl; dl >= 1; --dl) {
    if (!dl_valid(dl) || kBitRateAdjustment[dl].DNumerator > card_d) continue;
    for (ULONG fl = 16; fl-- > 0;) {
      if (!fl_valid(fl) || kClockRateConversion[fl].F > card_f) continue;
      ULONG clk = 0;
      for (ULONG c = 0; c < clock_count; ++c) {
        const ULONG candidate = clocks[c];
        if (candidate == 0 || candidate <= clk) continue;
        if (rc.CLKFrequency.Max != 0 && candidate > rc.CLKFrequency.Max && candidate != default_clk) continue;
        if (static_cast<unsigned long long>(candidate) * 1000ull > kClockRateConversion[fl].fs) continue;
        clk = candidate;
      }
      if (clk == 0) continue;
      const ULONG rate = rate_of(clk, fl, dl);
      for (ULONG r = 0; r < rate_count; ++r) {
        const ULONG listed = rates[r];
        const ULONG diff = listed > rate ? listed - rate : rate - listed;
        // "Equal" within 1 %: 3571 kHz and F 372 give 9599 for the listed 9600, while F 512 / D 8
        // gives 55797, which is not 57600 (3 %) [R].
        if (listed == 0 || static_cast<unsigned long long>(diff) * 100ull > listed) continue;
        pts.Fl = static_cast<UCHAR>(fl);
        pts.Dl = static_cast<UCHAR>(dl);
        pts.CLKFrequency = clk;
        pts.DataRate = listed;
        return;
      }
    }
  }
}

void reset_t1(PSMARTCARD_EXTENSION ext) {
  T1_DATA& t1 = ext->T1;
  const UCHAR ifsd = t1.IFSD;
  const UCHAR nad = t1.NAD;
  std::memset(&t1, 0, sizeof t1);
  t1.IFSD = ifsd;
  t1.NAD = nad;
  t1.State = T1_INIT;
}

NTSTATUS update_card_capabilities(PSMARTCARD_EXTENSION ext) {
  SCARD_CARD_CAPABILITIES& cc = ext->CardCapabilities;
  const SCARD_READER_CAPABILITIES& rc = ext->ReaderCapabilities;
  ext->T1.NAD = 0;  // issue 10 rule 13: a new ATR, a new addressing

  // Too short, too long or a bad TS: nothing is touched (spec §5, [R]).
  const ULONG len = cc.ATR.Length;
  UCHAR a[sizeof cc.ATR.Buffer];
  if (len < 2 || len > sizeof a) return STATUS_UNRECOGNIZED_MEDIA;
  std::memcpy(a, cc.ATR.Buffer, len);
  const bool inverse = a[0] == 0x03;
  if (inverse) SmartcardInvertData(a, len);                            // inverse convention read as direct (spec §5)
  if (a[0] != 0x3B && a[0] != 0x3F) return STATUS_UNRECOGNIZED_MEDIA;  // TS, ISO 7816-3 8.1

  // From here a failure leaves what was taken so far and offers no protocol (issue 10 rule 4).
  cc.Protocol.Supported = 0;
  Structure structure;
  Structure* const s = &structure;
  s->historical_length = a[1] & 0x0Fu;
  cc.HistoricalChars.Length = static_cast<UCHAR>(s->historical_length);
  if (!walk_structure(a, len, *s)) {
    SmartcardDebug(DEBUG_ATR, ("smclib: ATR structure not recognised\n"));
    return STATUS_UNRECOGNIZED_MEDIA;
  }
  std::memset(cc.HistoricalChars.Buffer, 0, sizeof cc.HistoricalChars.Buffer);
  std::memcpy(cc.HistoricalChars.Buffer, a + s->historical_at, s->historical_length);

  // Global bytes: TA1 Fl/Dl, TB1 II and PI1, TB2 PI2, TC1 N (ISO 7816-3 8.3; issue 10 rule 5).
  const Group& g1 = s->groups[0];
  const Group* g2 = s->count > 1 ? &s->groups[1] : nullptr;
  cc.Fl = g1.ta >= 0 ? static_cast<UCHAR>(g1.ta >> 4) : 1;
  cc.Dl = g1.ta >= 0 ? static_cast<UCHAR>(g1.ta & 0x0F) : 1;
  cc.II = g1.tb >= 0 ? static_cast<UCHAR>(g1.tb >> 6) : 0;
  cc.P = g1.tb >= 0 ? static_cast<UCHAR>((g1.tb & 0x1F) * 10) : kDefaultP;  // PI1 volts in 0.1 V, kept in a UCHAR
  if (g2 != nullptr && g2->tb >= 0) cc.P = static_cast<UCHAR>(g2->tb);      // PI2 is already 0.1 V
  cc.N = g1.tc >= 0 ? static_cast<UCHAR>(g1.tc) : 0;
  if (!fl_valid(cc.Fl) || !dl_valid(cc.Dl)) {
    SmartcardDebug(DEBUG_ATR, ("smclib: ATR with RFU Fl/Dl\n"));
    return STATUS_UNRECOGNIZED_MEDIA;  // RFU Fl/Dl (spec §5)
  }

  if (inverse) std::memcpy(cc.ATR.Buffer, a, len);
  cc.InversConvention = inverse ? TRUE : FALSE;
  cc.ClockRateConversion = kClockRateConversion;
  cc.BitRateAdjustment = kBitRateAdjustment;
  const Offer offer = offered_protocols(*s);
  cc.Protocol.Supported = SCARD_PROTOCOL_RAW;  // RAW always (spec §5)
  if (offer.t0) cc.Protocol.Supported |= SCARD_PROTOCOL_T0;
  if (offer.t1) cc.Protocol.Supported |= SCARD_PROTOCOL_T1;
  const ULONG max_ifsd = rc.MaxIFSD;
  ext->T1.IFSD = static_cast<UCHAR>(max_ifsd >= 1 && max_ifsd <= T1_IFSD ? max_ifsd : T1_IFSD_DEFAULT);

  // Timing at F 372 / D 1 whatever TA1 says, fitted to the [R] recording (spec §5; issue 10
  // rules 2, 7 and 10), in Windows' 32-bit unsigned arithmetic.
  const ULONG clk = clock_of(rc);
  const ULONG etu = 1 + (372u * 1000u) / clk;
  cc.etu = etu;
  cc.GT = cc.N == 255 ? 0 : ULONG{cc.N} * etu;
  cc.T0 = {};
  if (offer.t0) {
    cc.T0.WI = (g2 != nullptr && g2->protocol == 0 && g2->tc >= 0) ? static_cast<UCHAR>(g2->tc) : kDefaultWI;
    cc.T0.WT = 960u * ULONG{cc.T0.WI} * etu + 1;
  }
  cc.T1 = {};
  if (offer.t1) {
    const T1Parameters t1 = t1_parameters(*s);
    cc.T1.IFSC = t1.ifsc;
    cc.T1.CWI = t1.cwi;
    cc.T1.BWI = t1.bwi;
    cc.T1.EDC = t1.edc;
    cc.T1.CWT = ((1u << t1.cwi) + 11u) * etu + 1;
    // 2^BWI * 960 * 372 wraps at 32 bits before the division: BWI 15 gives 872668001 [R].
    const ULONG bwi_units = (1u << t1.bwi) * 960u * 372u;
    cc.T1.BWT = (bwi_units / clk + 11u * etu) * 1000u + 1;
  }

  choose_pts(ext);

  // TA2 makes the card specific with its protocol; otherwise one protocol at F 372 / D 1 (Fl 0
  // is not the default) is specific, anything else negotiable (issue 10 rules 8 and 10).
  const int protocol_count = (offer.t0 ? 1 : 0) + (offer.t1 ? 1 : 0);
  const bool default_fd = cc.Fl == 1 && cc.Dl == 1;
  ULONG state = SCARD_NEGOTIABLE;
  ULONG selected = SCARD_PROTOCOL_UNDEFINED;
  if (g2 != nullptr && g2->ta >= 0) {
    state = SCARD_SPECIFIC;
    selected = 1u << (g2->ta & 0x0F);
  } else if (!offer.negotiable && protocol_count <= 1 && default_fd) {
    state = SCARD_SPECIFIC;
    selected = cc.Protocol.Supported & SCARD_PROTOCOL_Tx;
  }
  cc.Protocol.Selected = selected;
  set_state(ext, state);
  return STATUS_SUCCESS;
}

}  // namespace readerlab::smclib

using namespace readerlab::smclib;

extern "C" {

NTSTATUS SmartcardUpdateCardCapabilities(PSMARTCARD_EXTENSION SmartcardExtension) {
  if (SmartcardExtension == nullptr) return STATUS_INVALID_PARAMETER;
  return update_card_capabilities(SmartcardExtension);
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
  const NTSTATUS status = update_card_capabilities(&scratch);
  if (!NT_SUCCESS(status)) return status;
  *pts = scratch.CardCapabilities.PtsData;
  *specific_protocol = scratch.ReaderCapabilities.CurrentState == SCARD_SPECIFIC
                           ? scratch.CardCapabilities.Protocol.Selected
                           : SCARD_PROTOCOL_UNDEFINED;
  return STATUS_SUCCESS;
}

}  // namespace readerlab::smclib
