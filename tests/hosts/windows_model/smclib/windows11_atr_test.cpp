// SmartcardInitialize / SmartcardInitializeCardCapabilities / SmartcardUpdateCardCapabilities and
// the PTS parameters SET_PROTOCOL hands to the driver, checked against what Windows 11 (build
// 26100) smclib.sys measurably does: issue 10, rules 1-10, 13 and 25. The expected values are the
// ones recorded on Windows by the kernel-mode smclib test named [R] in spec smclib.md; each row
// runs the same sequence there and here: the reader set up as one of a few variants,
// SmartcardInitializeCardCapabilities, the ATR put in CardCapabilities, SmartcardUpdateCardCapabilities.
#include <doctest/doctest.h>

#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "harness.h"

namespace {

// ---- The reader the rows run on ----

ULONG g_clocks_khz[] = {3571, 7143, 14285};
ULONG g_rates_bps[] = {9600, 19200, 38400, 57600, 115200};

// Variant 0: a 3.571 MHz, 9600 bps reader with no lists. 1: may go up to 14.285 MHz and 115200
// bps but lists nothing. 2: lists the clocks and rates above. 3: as 2, T=0 only. 4, 5, 6: as 2
// with MaxIFSD 64, 0 and 300.
void set_reader(Harness& h, int variant) {
  SCARD_READER_CAPABILITIES& rc = h.ext.ReaderCapabilities;
  rc.SupportedProtocols = SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1;
  rc.CLKFrequency.Default = 3571;
  rc.CLKFrequency.Max = 3571;
  rc.DataRate.Default = 9600;
  rc.DataRate.Max = 9600;
  rc.MaxIFSD = 254;
  rc.DataRatesSupported = {};
  rc.CLKFrequenciesSupported = {};
  if (variant >= 1) {
    rc.DataRate.Max = 115200;
    rc.CLKFrequency.Max = 14285;
  }
  if (variant >= 2) {
    rc.DataRatesSupported.List = g_rates_bps;
    rc.DataRatesSupported.Entries = 5;
    rc.CLKFrequenciesSupported.List = g_clocks_khz;
    rc.CLKFrequenciesSupported.Entries = 3;
  }
  if (variant == 3) rc.SupportedProtocols = SCARD_PROTOCOL_T0;
  if (variant == 4) rc.MaxIFSD = 64;
  if (variant == 5) rc.MaxIFSD = 0;
  if (variant == 6) rc.MaxIFSD = 300;
  rc.CurrentState = SCARD_PRESENT;
}

// "3B 80 01 *": hex bytes; a trailing '*' appends the TCK (exclusive-or of T0 onwards).
std::vector<UCHAR> atr_bytes(const char* text) {
  std::vector<UCHAR> bytes;
  std::string s(text);
  bool tck = false;
  std::string digits;
  for (char c : s) {
    if (c == '*') tck = true;
    if (std::isxdigit(static_cast<unsigned char>(c))) digits += c;
  }
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    bytes.push_back(static_cast<UCHAR>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  }
  return tck ? smc::with_tck(bytes) : bytes;
}

// The ATR evaluated the way the recording did it: fresh card capabilities, then the ATR.
NTSTATUS evaluate(Harness& h, const char* atr, int variant) {
  set_reader(h, variant);
  SmartcardInitializeCardCapabilities(&h.ext);
  const std::vector<UCHAR> bytes = atr_bytes(atr);
  std::memset(h.ext.CardCapabilities.ATR.Buffer, 0, sizeof h.ext.CardCapabilities.ATR.Buffer);
  if (!bytes.empty()) std::memcpy(h.ext.CardCapabilities.ATR.Buffer, bytes.data(), bytes.size());
  h.ext.CardCapabilities.ATR.Length = static_cast<UCHAR>(bytes.size());
  return SmartcardUpdateCardCapabilities(&h.ext);
}

// Everything Windows fills in, one line per concern, so that a failing row shows its whole diff.
std::string describe(const Harness& h, NTSTATUS status) {
  const SCARD_CARD_CAPABILITIES& cc = h.ext.CardCapabilities;
  char hist[40] = {};
  for (ULONG i = 0; i < cc.HistoricalChars.Length && i < 16; ++i) {
    std::snprintf(hist + 2 * i, 3, "%02X", cc.HistoricalChars.Buffer[i]);
  }
  char line[640];
  std::snprintf(line, sizeof line,
                "status %08X | inverse %u etu %u Fl %u Dl %u II %u P %u N %u GT %u | offers %X selected %X state %u "
                "| length %u | T=0 WI %u WT %u | T=1 IFSC %u CWI %u BWI %u EDC %u CWT %u BWT %u BGT %u | history %u "
                "%s | PTS type %u Fl %u Dl %u %u kHz %u bps stop %u | engine IFSC %u IFSD %u",
                static_cast<unsigned>(status), cc.InversConvention, cc.etu, cc.Fl, cc.Dl, cc.II, cc.P, cc.N, cc.GT,
                cc.Protocol.Supported, cc.Protocol.Selected, h.ext.ReaderCapabilities.CurrentState, cc.ATR.Length,
                cc.T0.WI, cc.T0.WT, cc.T1.IFSC, cc.T1.CWI, cc.T1.BWI, cc.T1.EDC, cc.T1.CWT, cc.T1.BWT, cc.T1.BGT,
                cc.HistoricalChars.Length, hist, cc.PtsData.Type, cc.PtsData.Fl, cc.PtsData.Dl, cc.PtsData.CLKFrequency,
                cc.PtsData.DataRate, cc.PtsData.StopBits, h.ext.T1.IFSC, h.ext.T1.IFSD);
  return line;
}

// ---- The rows: Windows 11's results, field by field ----

// Shared pieces of the expected lines.
#define OK "status 00000000 | "
#define REJECTED "status C0000014 | "
#define T0_DEFAULT "T=0 WI 10 WT 1008001"  // WT = 960 WI etu + 1
#define NO_T0 "T=0 WI 0 WT 0"
#define T1_DEFAULT "T=1 IFSC 32 CWI 13 BWI 4 EDC 0 CWT 861316 BWT 2755001 BGT 0"
#define NO_T1 "T=1 IFSC 0 CWI 0 BWI 0 EDC 0 CWT 0 BWT 0 BGT 0"
#define PTS_DEFAULT "PTS type 0 Fl 1 Dl 1 3571 kHz 9600 bps stop 2"
#define PTS_NONE "PTS type 0 Fl 0 Dl 0 0 kHz 0 bps stop 0"
#define ENGINE "engine IFSC 0 IFSD 254"
// A plain card at F 372 / D 1.
#define PLAIN "inverse 0 etu 105 Fl 1 Dl 1 II 0 P 50 N 0 GT 0"
// Nothing but the offered protocols was touched (what a rejection leaves of fresh capabilities).
#define UNTOUCHED "inverse 0 etu 0 Fl 0 Dl 0 II 0 P 0 N 0 GT 0"

struct AtrRow {
  int rule;  // the issue 10 rule the row is there for; 0: the rest of the recorded table
  const char* atr;
  int variant;
  const char* windows;
};

const AtrRow kRows[] = {
    // Direct and inverse convention, historical bytes.
    {0, "3B00", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 2 | " T0_DEFAULT " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {0, "3B021450", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 4 | " T0_DEFAULT " | " NO_T1
              " | history 2 1450 | " PTS_DEFAULT " | " ENGINE},
    {0, "3F00", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 2 | " T0_DEFAULT " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {0, "03FF", 0,
     OK "inverse 1 etu 105 Fl 1 Dl 1 II 0 P 50 N 0 GT 0 | offers 10001 selected 1 state 6 | length 2 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3F021450", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 4 | " T0_DEFAULT " | " NO_T1
              " | history 2 1450 | " PTS_DEFAULT " | " ENGINE},
    {0, "03BFD7F5", 0,
     OK "inverse 1 etu 105 Fl 1 Dl 1 II 0 P 50 N 0 GT 0 | offers 10001 selected 1 state 6 | length 4 | " T0_DEFAULT
        " | " NO_T1 " | history 2 1450 | " PTS_DEFAULT " | " ENGINE},
    {0, "3B0F 0102030405060708090A0B0C0D0E0F", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 17 | " T0_DEFAULT " | " NO_T1
              " | history 15 0102030405060708090A0B0C0D0E0F | " PTS_DEFAULT " | " ENGINE},
    // TA1: Fl/Dl are kept as sent; anything but F 372 / D 1 leaves the card negotiable.
    {0, "3B10 11", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 3 | " T0_DEFAULT " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {0, "3B10 94", 0,
     OK "inverse 0 etu 105 Fl 9 Dl 4 II 0 P 50 N 0 GT 0 | offers 10001 selected 0 state 5 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3B10 94", 1,
     OK "inverse 0 etu 105 Fl 9 Dl 4 II 0 P 50 N 0 GT 0 | offers 10001 selected 0 state 5 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3B10 94", 2,
     OK "inverse 0 etu 105 Fl 9 Dl 4 II 0 P 50 N 0 GT 0 | offers 10001 selected 0 state 5 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3B10 18", 1,
     OK "inverse 0 etu 105 Fl 1 Dl 8 II 0 P 50 N 0 GT 0 | offers 10001 selected 0 state 5 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3B10 96", 2,
     OK "inverse 0 etu 105 Fl 9 Dl 6 II 0 P 50 N 0 GT 0 | offers 10001 selected 0 state 5 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3B10 97", 2,
     OK "inverse 0 etu 105 Fl 9 Dl 7 II 0 P 50 N 0 GT 0 | offers 10001 selected 0 state 5 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3B10 D5", 2,
     OK "inverse 0 etu 105 Fl 13 Dl 5 II 0 P 50 N 0 GT 0 | offers 10001 selected 0 state 5 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    // TC1 (N) and the guard time.
    {0, "3B40 FF", 0,
     OK "inverse 0 etu 105 Fl 1 Dl 1 II 0 P 50 N 255 GT 0 | offers 10001 selected 1 state 6 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | PTS type 0 Fl 1 Dl 1 3571 kHz 9600 bps stop 1 | " ENGINE},
    {0, "3B40 02", 0,
     OK "inverse 0 etu 105 Fl 1 Dl 1 II 0 P 50 N 2 GT 210 | offers 10001 selected 1 state 6 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3B40 FE", 0,
     OK
     "inverse 0 etu 105 Fl 1 Dl 1 II 0 P 50 N 254 GT 26670 | offers 10001 selected 1 state 6 | length 3 | " T0_DEFAULT
     " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    // TC2 after a TD1 for T=0 is WI.
    {0, "3BC0 00 40 0A", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 5 | " T0_DEFAULT " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {0, "3BC0 00 40 01", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 5 | T=0 WI 1 WT 100801 | " NO_T1
              " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3BC0 00 40 00", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 5 | T=0 WI 0 WT 1 | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {0, "3BC0 00 40 FF", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 5 | T=0 WI 255 WT 25704001 | " NO_T1
              " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3BD0 94 00 40 05", 2,
     OK "inverse 0 etu 105 Fl 9 Dl 4 II 0 P 50 N 0 GT 0 | offers 10001 selected 0 state 5 | length 6 | T=0 WI 5 WT "
        "504001 | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    // T=1 cards; the engine's IFSD follows the reader's MaxIFSD (1..254, else 32).
    {0, "3B80 01*", 3,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 4 | " NO_T0 " | " T1_DEFAULT " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {0, "3B80 01*", 4,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 4 | " NO_T0 " | " T1_DEFAULT " | history 0  | " PTS_DEFAULT
              " | engine IFSC 0 IFSD 64"},
    {0, "3B80 01*", 5,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 4 | " NO_T0 " | " T1_DEFAULT " | history 0  | " PTS_DEFAULT
              " | engine IFSC 0 IFSD 32"},
    {0, "3B80 01*", 6,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 4 | " NO_T0 " | " T1_DEFAULT " | history 0  | " PTS_DEFAULT
              " | engine IFSC 0 IFSD 32"},
    {0, "3B80 81 71 20 45 00*", 0,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 8 | " NO_T0
              " | T=1 IFSC 32 CWI 5 BWI 4 EDC 0 CWT 4516 BWT 2755001 BGT 0 | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3B80 81 41 00*", 0,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 6 | " NO_T0 " | " T1_DEFAULT " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {0, "3B80 81 41 FF*", 0,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 6 | " NO_T0
              " | T=1 IFSC 32 CWI 13 BWI 4 EDC 1 CWT 861316 BWT 2755001 BGT 0 | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {0, "3BC0 FF 01*", 0,
     OK "inverse 0 etu 105 Fl 1 Dl 1 II 0 P 50 N 255 GT 0 | offers 10002 selected 2 state 6 | length 5 | " NO_T0
        " | " T1_DEFAULT " | history 0  | PTS type 0 Fl 1 Dl 1 3571 kHz 9600 bps stop 1 | " ENGINE},
    {0, "3BC0 02 01*", 0,
     OK "inverse 0 etu 105 Fl 1 Dl 1 II 0 P 50 N 2 GT 210 | offers 10002 selected 2 state 6 | length 5 | " NO_T0
        " | " T1_DEFAULT " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3B90 94 01*", 0,
     OK "inverse 0 etu 105 Fl 9 Dl 4 II 0 P 50 N 0 GT 0 | offers 10002 selected 0 state 5 | length 5 | " NO_T0
        " | " T1_DEFAULT " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3B90 94 81 71 FE 45 01*", 0,
     OK "inverse 0 etu 105 Fl 9 Dl 4 II 0 P 50 N 0 GT 0 | offers 10002 selected 0 state 5 | length 9 | " NO_T0
        " | T=1 IFSC 254 CWI 5 BWI 4 EDC 1 CWT 4516 BWT 2755001 BGT 0 | history 0  | " PTS_DEFAULT " | " ENGINE},
    {0, "3B90 94 81 71 FE 45 01*", 2,
     OK "inverse 0 etu 105 Fl 9 Dl 4 II 0 P 50 N 0 GT 0 | offers 10002 selected 0 state 5 | length 9 | " NO_T0
        " | T=1 IFSC 254 CWI 5 BWI 4 EDC 1 CWT 4516 BWT 2755001 BGT 0 | history 0  | " PTS_DEFAULT " | " ENGINE},

    // Rule 2: T=0 timing only for a card offering T=0, T=1 parameters only for one offering T=1, BGT 0.
    {2, "3B00", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 2 | " T0_DEFAULT " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {2, "3B80 01*", 0,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 4 | " NO_T0 " | " T1_DEFAULT " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {2, "3B80 80 01*", 0,
     OK PLAIN " | offers 10003 selected 0 state 5 | length 5 | " T0_DEFAULT " | " T1_DEFAULT
              " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {2, "3B80 80 00", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 4 | " T0_DEFAULT " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},

    // Rule 4: a rejected ATR keeps what was parsed before the failure and offers nothing.
    {4, "3B10 1A", 2,
     REJECTED "inverse 0 etu 0 Fl 1 Dl 10 II 0 P 50 N 0 GT 0 | offers 0 selected 0 state 2 | length 3 | " NO_T0
              " | " NO_T1 " | history 0  | " PTS_NONE " | " ENGINE},
    {4, "3B10 71", 2,
     REJECTED "inverse 0 etu 0 Fl 7 Dl 1 II 0 P 50 N 0 GT 0 | offers 0 selected 0 state 2 | length 3 | " NO_T0
              " | " NO_T1 " | history 0  | " PTS_NONE " | " ENGINE},
    {4, "3B10 10", 0,
     REJECTED "inverse 0 etu 0 Fl 1 Dl 0 II 0 P 50 N 0 GT 0 | offers 0 selected 0 state 2 | length 3 | " NO_T0
              " | " NO_T1 " | history 0  | " PTS_NONE " | " ENGINE},
    {4, "3B0F", 0,
     REJECTED UNTOUCHED " | offers 0 selected 0 state 2 | length 2 | " NO_T0 " | " NO_T1
                        " | history 15 000000000000000000000000000000 | " PTS_NONE " | " ENGINE},
    {4, "3B10", 0,
     REJECTED UNTOUCHED " | offers 0 selected 0 state 2 | length 2 | " NO_T0 " | " NO_T1 " | history 0  | " PTS_NONE
                        " | " ENGINE},
    {4, "3B80", 0,
     REJECTED UNTOUCHED " | offers 0 selected 0 state 2 | length 2 | " NO_T0 " | " NO_T1 " | history 0  | " PTS_NONE
                        " | " ENGINE},
    {4, "3B80 01", 0,
     REJECTED UNTOUCHED " | offers 0 selected 0 state 2 | length 3 | " NO_T0 " | " NO_T1 " | history 0  | " PTS_NONE
                        " | " ENGINE},
    {4, "3B80 01 00", 0,
     REJECTED UNTOUCHED " | offers 0 selected 0 state 2 | length 4 | " NO_T0 " | " NO_T1 " | history 0  | " PTS_NONE
                        " | " ENGINE},
    {4, "3B80 E1 45 01 FE*", 0,
     REJECTED UNTOUCHED " | offers 0 selected 0 state 2 | length 7 | " NO_T0 " | " NO_T1 " | history 0  | " PTS_NONE
                        " | " ENGINE},
    // Too short or a bad TS: not even the offered protocols are touched.
    {4, "3B", 0,
     REJECTED UNTOUCHED " | offers 10000 selected 0 state 2 | length 1 | " NO_T0 " | " NO_T1 " | history 0  | " PTS_NONE
                        " | " ENGINE},
    {4, "", 0,
     REJECTED UNTOUCHED " | offers 10000 selected 0 state 2 | length 0 | " NO_T0 " | " NO_T1 " | history 0  | " PTS_NONE
                        " | " ENGINE},
    {4, "3A00", 0,
     REJECTED UNTOUCHED " | offers 10000 selected 0 state 2 | length 2 | " NO_T0 " | " NO_T1 " | history 0  | " PTS_NONE
                        " | " ENGINE},

    // Rule 5: II is TB1 bits 8-7, P (0.1 V) is PI1 from TB1 (times 10, in a UCHAR) or TB2 when present.
    {5, "3B20 25", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 3 | " T0_DEFAULT " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {5, "3B20 00", 0,
     OK "inverse 0 etu 105 Fl 1 Dl 1 II 0 P 0 N 0 GT 0 | offers 10001 selected 1 state 6 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {5, "3B20 7F", 0,
     OK "inverse 0 etu 105 Fl 1 Dl 1 II 1 P 54 N 0 GT 0 | offers 10001 selected 1 state 6 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {5, "3B20 E5", 0,
     OK "inverse 0 etu 105 Fl 1 Dl 1 II 3 P 50 N 0 GT 0 | offers 10001 selected 1 state 6 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {5, "3B20 45", 0,
     OK "inverse 0 etu 105 Fl 1 Dl 1 II 1 P 50 N 0 GT 0 | offers 10001 selected 1 state 6 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {5, "3B20 A5", 0,
     OK "inverse 0 etu 105 Fl 1 Dl 1 II 2 P 50 N 0 GT 0 | offers 10001 selected 1 state 6 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {5, "3B20 C5", 0,
     OK "inverse 0 etu 105 Fl 1 Dl 1 II 3 P 50 N 0 GT 0 | offers 10001 selected 1 state 6 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {5, "3BA0 00 20 5A", 0,
     OK "inverse 0 etu 105 Fl 1 Dl 1 II 0 P 90 N 0 GT 0 | offers 10001 selected 1 state 6 | length 5 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},

    // Rule 6: after a TD1 for T=1, TA2/TB2/TC2 are IFSC, CWI/BWI and EDC (TB2 is still P).
    {6, "3B80 61 45 01*", 0,
     OK "inverse 0 etu 105 Fl 1 Dl 1 II 0 P 69 N 0 GT 0 | offers 10002 selected 2 state 6 | length 6 | " NO_T0
        " | T=1 IFSC 32 CWI 5 BWI 4 EDC 1 CWT 4516 BWT 2755001 BGT 0 | history 0  | " PTS_DEFAULT " | " ENGINE},
    {6, "3B90 11 11 01*", 0,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 6 | " NO_T0
              " | T=1 IFSC 1 CWI 13 BWI 4 EDC 0 CWT 861316 BWT 2755001 BGT 0 | history 0  | " PTS_DEFAULT " | " ENGINE},
    {6, "3B90 11 11 81*", 0,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 6 | " NO_T0
              " | T=1 IFSC 129 CWI 13 BWI 4 EDC 0 CWT 861316 BWT 2755001 BGT 0 | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    // An empty group after TD1 does not hide TA3/TB3/TC3 of the next T=1 group.
    {6, "3B80 81 71 FE 45 01*", 0,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 8 | " NO_T0
              " | T=1 IFSC 254 CWI 5 BWI 4 EDC 1 CWT 4516 BWT 2755001 BGT 0 | history 0  | " PTS_DEFAULT " | " ENGINE},
    {6, "3B80 81 71 FE 45 01*", 4,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 8 | " NO_T0
              " | T=1 IFSC 254 CWI 5 BWI 4 EDC 1 CWT 4516 BWT 2755001 BGT 0 | history 0  | " PTS_DEFAULT
              " | engine IFSC 0 IFSD 64"},

    // Rule 7: a CWI or BWI of 0 keeps 13 / 4, IFSC FF is 255 (00 keeps 32), BWT in 32-bit arithmetic.
    {7, "3B80 81 21 F0*", 0,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 6 | " NO_T0
              " | T=1 IFSC 32 CWI 13 BWI 15 EDC 0 CWT 861316 BWT 872668001 BGT 0 | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {7, "3B80 81 21 09*", 0,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 6 | " NO_T0
              " | T=1 IFSC 32 CWI 9 BWI 4 EDC 0 CWT 54916 BWT 2755001 BGT 0 | history 0  | " PTS_DEFAULT " | " ENGINE},
    {7, "3B80 81 21 23*", 0,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 6 | " NO_T0
              " | T=1 IFSC 32 CWI 3 BWI 2 EDC 0 CWT 1996 BWT 1555001 BGT 0 | history 0  | " PTS_DEFAULT " | " ENGINE},
    {7, "3B80 81 11 FF*", 0,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 6 | " NO_T0
              " | T=1 IFSC 255 CWI 13 BWI 4 EDC 0 CWT 861316 BWT 2755001 BGT 0 | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {7, "3B80 81 11 00*", 0,
     OK PLAIN " | offers 10002 selected 2 state 6 | length 6 | " NO_T0 " | " T1_DEFAULT " | history 0  | " PTS_DEFAULT
              " | " ENGINE},

    // Rule 8: the protocols come from the TD list.
    {8, "3B80 81 00*", 0,
     OK PLAIN " | offers 10002 selected 0 state 5 | length 5 | " NO_T0 " | " T1_DEFAULT " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {8, "3B80 80 1F 03*", 0,
     OK PLAIN " | offers 10001 selected 0 state 5 | length 6 | " T0_DEFAULT " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {8, "3B80 80 0F*", 0,
     OK PLAIN " | offers 10001 selected 0 state 5 | length 5 | " T0_DEFAULT " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {8, "3B80 81 1F 03*", 0,
     OK PLAIN " | offers 10002 selected 0 state 5 | length 6 | " NO_T0 " | " T1_DEFAULT " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {8, "3B80 81 02*", 0,
     OK PLAIN " | offers 10002 selected 0 state 5 | length 5 | " NO_T0 " | " T1_DEFAULT " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {8, "3B80 0E*", 0,
     OK PLAIN " | offers 10000 selected 0 state 6 | length 4 | " NO_T0 " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {8, "3B80 02*", 0,
     OK PLAIN " | offers 10000 selected 0 state 6 | length 4 | " NO_T0 " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {8, "3B10 01", 0,
     OK "inverse 0 etu 105 Fl 0 Dl 1 II 0 P 50 N 0 GT 0 | offers 10001 selected 0 state 5 | length 3 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},

    // Rule 9: bytes after the ATR's computed end.
    {9, "3B00 FF", 0,
     REJECTED UNTOUCHED " | offers 0 selected 0 state 2 | length 3 | " NO_T0 " | " NO_T1 " | history 0  | " PTS_NONE
                        " | " ENGINE},
    {9, "3B80 80 00 00", 0,
     REJECTED UNTOUCHED " | offers 0 selected 0 state 2 | length 5 | " NO_T0 " | " NO_T1 " | history 0  | " PTS_NONE
                        " | " ENGINE},
    {9, "3B80 81 01 00 00", 0,
     REJECTED UNTOUCHED " | offers 0 selected 0 state 2 | length 6 | " NO_T0 " | " NO_T1 " | history 0  | " PTS_NONE
                        " | " ENGINE},

    // Rule 10: TA2 makes the card specific with its protocol; the timing stays at F 372 / D 1.
    {10, "3B90 94 10 00", 2,
     OK "inverse 0 etu 105 Fl 9 Dl 4 II 0 P 50 N 0 GT 0 | offers 10001 selected 1 state 6 | length 5 | " T0_DEFAULT
        " | " NO_T1 " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {10, "3B90 11 10 00", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 5 | " T0_DEFAULT " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {10, "3B90 11 10 10", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 5 | " T0_DEFAULT " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {10, "3B90 11 10 01", 0,
     OK PLAIN " | offers 10001 selected 2 state 6 | length 5 | " T0_DEFAULT " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
    {10, "3B90 11 10 0F", 0,
     OK PLAIN " | offers 10001 selected 8000 state 6 | length 5 | " T0_DEFAULT " | " NO_T1
              " | history 0  | " PTS_DEFAULT " | " ENGINE},
    {10, "3B90 11 10 80", 0,
     OK PLAIN " | offers 10001 selected 1 state 6 | length 5 | " T0_DEFAULT " | " NO_T1 " | history 0  | " PTS_DEFAULT
              " | " ENGINE},
};

void check_rows(int rule) {
  int checked = 0;
  for (const AtrRow& row : kRows) {
    if (row.rule != rule) continue;
    Harness h;
    const NTSTATUS status = evaluate(h, row.atr, row.variant);
    INFO("ATR " << row.atr << " on reader variant " << row.variant);
    CHECK_EQ(describe(h, status), std::string(row.windows));
    ++checked;
  }
  REQUIRE(checked > 0);
}

}  // namespace

TEST_CASE("Windows 11 rule 1: after SmartcardInitialize the card capabilities are all zero") {
  Harness h;  // SmartcardInitialize with MaxIFSD 254 already set, as a driver does
  const SCARD_CARD_CAPABILITIES& cc = h.ext.CardCapabilities;
  CHECK_EQ(cc.Protocol.Supported, 0u);
  CHECK_EQ(cc.Protocol.Selected, 0u);
  CHECK_EQ(h.ext.T1.IFSD, 0);
  CHECK_EQ(h.ext.T1.IFSC, 0);
  CHECK_EQ(cc.T1.IFSC, 0);
  CHECK_EQ(cc.etu, 0u);
  CHECK_EQ(cc.Fl, 0);
  CHECK_EQ(cc.P, 0);
  CHECK_EQ(cc.PtsData.CLKFrequency, 0u);
  // The F and D tables are in place from the start.
  REQUIRE(cc.ClockRateConversion != nullptr);
  REQUIRE(cc.BitRateAdjustment != nullptr);
  CHECK_EQ(cc.ClockRateConversion[13].F, 2048u);
  CHECK_EQ(cc.ClockRateConversion[13].fs, 20000000u);
  CHECK_EQ(cc.BitRateAdjustment[8].DNumerator, 12u);
  // SmartcardInitializeCardCapabilities is what offers RAW and takes the reader's MaxIFSD.
  h.ext.ReaderCapabilities.MaxIFSD = 64;
  SmartcardInitializeCardCapabilities(&h.ext);
  CHECK_EQ(cc.Protocol.Supported, SCARD_PROTOCOL_RAW);
  CHECK_EQ(h.ext.T1.IFSD, 64);
  CHECK_EQ(cc.etu, 0u);
}

TEST_CASE("Windows 11 rule 2: T=0 and T=1 parameters only for the protocols the card offers") { check_rows(2); }

TEST_CASE("Windows 11 rule 3: the card's IFSC stays in CardCapabilities.T1, not in the engine's T1.IFSC") {
  Harness h;
  // TD1 81, TD2 11: TA3 = IFSC 128
  REQUIRE_EQ(evaluate(h, "3B80 81 11 80*", 0), STATUS_SUCCESS);
  CHECK_EQ(h.ext.CardCapabilities.T1.IFSC, 128);
  CHECK_EQ(h.ext.T1.IFSC, 0);
  h.ext.T1.IFSC = 77;  // whatever the engine negotiated with the previous card
  REQUIRE_EQ(h.update_atr(atr_bytes("3B80 81 11 20*")), STATUS_SUCCESS);
  CHECK_EQ(h.ext.CardCapabilities.T1.IFSC, 32);
  CHECK_EQ(h.ext.T1.IFSC, 77);  // not written by the update
}

TEST_CASE("Windows 11 rule 4: a rejected ATR keeps what was parsed and offers no protocol") { check_rows(4); }

TEST_CASE("Windows 11 rule 5: II from TB1 bits 8-7, P from TB2 when present") { check_rows(5); }

TEST_CASE("Windows 11 rule 6: after a TD1 for T=1, TA2/TB2/TC2 carry the T=1 parameters") { check_rows(6); }

TEST_CASE("Windows 11 rule 7: CWI/BWI 0 keep the defaults, IFSC FF is 255, BWT wraps in 32 bits") { check_rows(7); }

TEST_CASE("Windows 11 rule 8: protocols from the TD list; TA1 01 is not the default") { check_rows(8); }

TEST_CASE("Windows 11 rule 9: an ATR with bytes after its end is STATUS_UNRECOGNIZED_MEDIA") { check_rows(9); }

TEST_CASE("Windows 11 rule 10: a specific-mode card keeps the F 372 / D 1 timing") { check_rows(10); }

TEST_CASE("Windows 11: the rest of the recorded ATR table") { check_rows(0); }

TEST_CASE("Windows 11 rule 13: evaluating an ATR resets T1.NAD") {
  Harness h;
  REQUIRE_EQ(evaluate(h, "3B80 01*", 0), STATUS_SUCCESS);
  h.ext.T1.NAD = 0x21;  // the driver addressed the previous card
  REQUIRE_EQ(h.update_atr(smc::with_tck({0x3B, 0x80, 0x01})), STATUS_SUCCESS);
  CHECK_EQ(h.ext.T1.NAD, 0);
  // The next S(IFS request) goes out with NAD 0: 00 C1 01 FE, LRC 3E.
  h.ext.CardCapabilities.Protocol.Selected = SCARD_PROTOCOL_T1;
  h.set_state(SCARD_SPECIFIC);
  smc::UserBuffer user(h, {0x00, 0xA4, 0x00, 0x00}, 64);
  REQUIRE_EQ(h.t1_next(), STATUS_SUCCESS);
  CHECK_EQ(h.t1_sent(), std::vector<UCHAR>{0x00, 0xC1, 0x01, 0xFE, 0x3E});
}

// ---- Rule 25: the PTS parameters SET_PROTOCOL offers the driver ----

namespace {

PTS_DATA g_offered;
int g_set_protocol_calls;

NTSTATUS record_pts(PSMARTCARD_EXTENSION e) {
  g_offered = e->CardCapabilities.PtsData;
  ++g_set_protocol_calls;
  return Harness::set_protocol(e);
}

// Type/Fl/Dl/clock/rate the driver's RDF_SET_PROTOCOL saw.
std::string offered_pts(const char* atr, int variant, ULONG mask = SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1) {
  Harness h;
  h.ext.ReaderFunction[RDF_SET_PROTOCOL] = record_pts;
  g_offered = PTS_DATA{};
  g_set_protocol_calls = 0;
  REQUIRE_EQ(evaluate(h, atr, variant), STATUS_SUCCESS);
  h.set_state(SCARD_NEGOTIABLE);
  const Issued r = h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(mask), 4);
  CHECK_EQ(r.status(), STATUS_SUCCESS);
  REQUIRE_EQ(g_set_protocol_calls, 1);
  char text[80];
  std::snprintf(text, sizeof text, "%u/%u/%u/%u/%u", g_offered.Type, g_offered.Fl, g_offered.Dl, g_offered.CLKFrequency,
                g_offered.DataRate);
  return text;
}

struct PtsRow {
  const char* atr;
  int variant;
  const char* windows;  // PtsData Type/Fl/Dl/CLKFrequency/DataRate
};

}  // namespace

TEST_CASE("Windows 11 rule 25: only a listed rate, the clock raised from the list to reach it") {
  const PtsRow rows[] = {
      // No lists: DataRate.Default (or Max) only, at the default clock; 9600 is reported, not 9599.
      {"3B10 94", 0, "1/1/1/3571/9600"},
      {"3B10 94", 1, "1/1/1/3571/9600"},
      {"3B10 18", 0, "1/1/1/3571/9600"},
      {"3B10 18", 1, "1/1/8/3571/115200"},
      {"3B10 96", 1, "1/1/1/3571/9600"},
      {"3B10 97", 0, "1/1/1/3571/9600"},
      {"3B10 D5", 0, "1/5/3/3571/9600"},
      {"3B10 D5", 1, "1/3/2/3571/9600"},
      {"3B90 94 81 71 FE 45 01*", 1, "1/1/1/3571/9600"},
      {"3B10 11", 0, "1/1/1/3571/9600"},
      // Listed rates and clocks: 55797 bps (F 512 / D 8 at 3.571 MHz) is not 57600.
      {"3B10 94", 2, "1/1/3/3571/38400"},
      {"3B10 94", 3, "1/1/3/3571/38400"},
      {"3B10 94", 4, "1/1/3/3571/38400"},
      {"3B10 18", 2, "1/1/8/3571/115200"},
      {"3B10 18", 5, "1/1/8/3571/115200"},
      {"3B10 96", 2, "1/1/3/3571/38400"},
      {"3B10 97", 4, "1/1/3/3571/38400"},
      {"3B90 94 81 71 FE 45 01*", 2, "1/1/3/3571/38400"},
      {"3B10 11", 2, "1/1/1/3571/9600"},
      // F 2048 allows 20 MHz: the clock goes up to 14.285 MHz and F 1488 / D 4 gives 38400.
      {"3B10 D5", 2, "1/5/3/14285/38400"},
      {"3B10 D5", 3, "1/5/3/14285/38400"},
      {"3B10 D5", 4, "1/5/3/14285/38400"},
  };
  for (const PtsRow& row : rows) {
    INFO("ATR " << row.atr << " on reader variant " << row.variant);
    CHECK_EQ(offered_pts(row.atr, row.variant), std::string(row.windows));
  }
}

TEST_CASE("Windows 11 rule 25 (readerlab's choice): never a D above the card's") {
  // TA1 19 (F 372, D 20) on a reader listing 9600 and 614400 bps. F 372 / D 64 (Dl 7, an index
  // below the card's Dl 9) would reach 614400 at 3.571 MHz, faster than the card: 9600 it is.
  static ULONG rates[] = {9600, 614400};
  Harness h;
  h.ext.ReaderFunction[RDF_SET_PROTOCOL] = record_pts;
  g_set_protocol_calls = 0;
  REQUIRE_EQ(evaluate(h, "3B10 19", 2), STATUS_SUCCESS);
  h.ext.ReaderCapabilities.DataRatesSupported.List = rates;
  h.ext.ReaderCapabilities.DataRatesSupported.Entries = 2;
  h.set_state(SCARD_NEGOTIABLE);
  REQUIRE_EQ(h.ioctl(IOCTL_SMARTCARD_SET_PROTOCOL, Harness::u32(SCARD_PROTOCOL_T0), 4).status(), STATUS_SUCCESS);
  REQUIRE_EQ(g_set_protocol_calls, 1);
  CHECK_EQ(g_offered.Dl, 1);
  CHECK_EQ(g_offered.DataRate, 9600u);
}

TEST_CASE("Windows 11 rule 25: SET_PROTOCOL with DEFAULT offers F 372 / D 1 at the default rate") {
  CHECK_EQ(offered_pts("3B10 94", 2, SCARD_PROTOCOL_DEFAULT | SCARD_PROTOCOL_T0), "0/1/1/3571/9600");
  CHECK_EQ(offered_pts("3B90 94 01*", 2, SCARD_PROTOCOL_DEFAULT | SCARD_PROTOCOL_T1), "0/1/1/3571/9600");
}
