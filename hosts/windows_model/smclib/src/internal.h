// Library-internal helpers shared by the smclib model's translation units.
#ifndef READERLAB_SMCLIB_INTERNAL_H
#define READERLAB_SMCLIB_INTERNAL_H

#include <cstring>
#include <mutex>
#include <vector>

#include "smclib.h"

namespace readerlab::smclib {

// Behind OS_DEP_DATA::ReaderlabPrivate.
struct Private {
  std::recursive_mutex callbacks;  // callbacks are serialized [D]
  ULONG information = 0;           // IoRequest.Information points here during a dispatch
  // T=1 engine: the APDU being sent (a copy, since request and reply share one buffer), the
  // response gathered so far, the S-block request of ours that awaits its response, the last
  // block sent (T1_I_BLOCK, T1_R_BLOCK or an S-block PCB: T1.State names the next state, not
  // this one) and whether our last I-block still waits for the card's acknowledgment.
  std::vector<UCHAR> t1_apdu;
  std::vector<UCHAR> t1_reply;
  UCHAR t1_awaiting = 0;
  UCHAR t1_last_sent = 0;
  bool t1_i_block_unacknowledged = false;
};

inline ULONG load_ulong(const UCHAR* p) {
  ULONG v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_ulong(UCHAR* p, ULONG v) { std::memcpy(p, &v, sizeof v); }

ULONG current_state(PSMARTCARD_EXTENSION ext);
void set_state(PSMARTCARD_EXTENSION ext, ULONG state);

// The ATR evaluation of SmartcardUpdateCardCapabilities; it computes PtsData for the
// PtsData.Type it finds. A DEFAULT PtsData.Type presets nothing: SET_PROTOCOL does not re-parse
// the ATR (issue 10 rule 24, [R] ioctl 100, 111).
NTSTATUS update_card_capabilities(PSMARTCARD_EXTENSION ext);
// SET_PROTOCOL's view of the card (issue 10 rule 24), implemented at the end of smclib_atr.cpp:
// the PTS parameters for pts->Type and, for a card with a single way to run (one protocol at the
// default F/D, or the specific mode of TA2), that protocol in *specific_protocol (else 0), as the
// ATR evaluation decides them. Nothing of `ext` changes: SET_PROTOCOL does not re-parse the ATR.
// Fails with STATUS_UNRECOGNIZED_MEDIA for an ATR the evaluation refuses.
NTSTATUS evaluate_protocol_choice(PSMARTCARD_EXTENSION ext, PTS_DATA* pts, ULONG* specific_protocol);
// Fresh T=1 engine state (the next exchange starts with S(IFS request)).
void reset_t1(PSMARTCARD_EXTENSION ext);
// The PTS parameters for CardCapabilities.PtsData.Type from the card's Fl/Dl/N and the reader's
// clocks and rates (issue 10 rule 25).
void choose_pts(PSMARTCARD_EXTENSION ext);

extern const CLOCK_RATE_CONVERSION kClockRateConversion[16];
extern const BIT_RATE_ADJUSTMENT kBitRateAdjustment[16];

}  // namespace readerlab::smclib

#endif
