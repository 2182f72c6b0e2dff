// The character protocol T=0, ISO 7816-3 section 10.3, on both sides of the contact, and the
// mapping of command APDUs onto T=0 TPDUs, ISO 7816-3 12.2.
//
// CardSide is the card's half: it reads the 5-byte header CLA INS P1 P2 P3, decides from the
// header alone whether P3 is Lc (data to the card), Le (data from the card) or neither, and
// answers with procedure bytes: INS (all remaining data), INS xor FF (one byte), 60 (NULL, more
// time), or SW1 SW2 -- handing the complete command APDU to a cards::Card. InterfaceSide is the
// reader's half: it runs one TPDU byte by byte against a CardSide, checking every procedure
// byte, and maps a command APDU onto TPDUs (GET RESPONSE after 61xx, re-issue after 6Cxx,
// case 4 sent as case 3 then GET RESPONSE).
//
// A command APDU with Nc above 255 (cases 3E and 4E) fits no T=0 TPDU: the interface side cuts
// the whole APDU (header, extended Lc, data, extended Le) into ENVELOPE commands (INS C2, P1 P2
// 00 00, up to 255 bytes each) and ends the chain with an empty ENVELOPE (P3 = 00); each piece
// is answered 9000, the empty one with the card's answer to the whole APDU: 61xx when data
// waits for GET RESPONSE (ISO/IEC 7816-4:1995 annex A.3E.2 and A.4E.2, 7.2 ENVELOPE). A card
// side with `envelope` set gathers the pieces, hands the APDU to the card and serves the answer
// to the GET RESPONSE commands that follow; without it the ENVELOPE goes to the card like any
// other command (an ISO card answers 6D00, INS not supported).
//
// A reader holding a cards::Card& uses the free functions at the bottom: t0::exchange for the
// TPDU exchange level, t0::transmit_apdu for the (short or extended) APDU level.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "cards/apdu/apdu.h"
#include "cards/atr/convention.h"
#include "cards/card.h"

namespace readerlab::cards::t0 {

using Header = std::array<std::uint8_t, 5>;  // CLA INS P1 P2 P3, ISO 7816-3 10.3.2

// What P3 means for a command, as the card decides it from the header.
enum class Direction {
  none,       // case 1: no data either way (P3 = 00)
  to_card,    // P3 = Lc: the card asks for the data with INS or INS xor FF
  from_card,  // P3 = Le (00 = 256): the card sends the data after INS or INS xor FF
  refuse      // an instruction the card does not know: it answers SW1 SW2 at once
};

// The ISO 7816-4 commands IsoCard implements, plus readerlab's ECHO (CLA 80 INS 10, always
// to_card under T=0: its case 2 pattern form needs T=1). P3 = 00 with to_card means case 1.
Direction iso_direction(const Header& header);

// What a T=0 card keeps of an ENVELOPE chain between TPDUs: the pieces of the command APDU
// so far, and the answer to a gathered APDU until GET RESPONSE has fetched it.
struct EnvelopeState {
  Bytes command;
  Bytes answer;       // data not fetched yet
  Bytes status_word;  // SW1 SW2 of that answer, sent with its last part
  bool answer_waits = false;
};

struct CardSideOptions {
  unsigned null_bytes = 0;                         // NULLs (60) before each answer that follows processing
  bool one_byte_at_a_time = false;                 // procedure byte INS xor FF before every data byte
  std::optional<std::uint8_t> bad_procedure_byte;  // fault: sent once instead of a procedure byte
  bool mute = false;                               // fault: never answers a header
  unsigned headers_before_mute = 0;                // with mute: headers answered before the card falls silent
  Convention convention = Convention::direct;      // bytes in and out are wire bytes of this convention
  std::function<Direction(const Header&)> direction = iso_direction;
  // The card takes ENVELOPE chains (ProtocolBehaviour::t0_envelope), in the interindustry
  // classes (ISO 7816-4 5.1.1) as the card's other ISO commands.
  bool envelope = false;
  // Where the card keeps its chain when it must outlast this CardSide (a TPDU-level host sends
  // each ENVELOPE in its own exchange); none: the CardSide keeps its own.
  EnvelopeState* envelope_state = nullptr;
};

class CardSide {
 public:
  explicit CardSide(Card& card, CardSideOptions options = {});
  CardSide(const CardSide&) = delete;  // envelope_ may refer to its own member
  CardSide& operator=(const CardSide&) = delete;

  // Bytes from the interface device (the header, then data after each procedure byte). Returns
  // what the card sends before it waits for the interface device again: procedure bytes, data,
  // SW1 SW2. Empty when the card needs more bytes, or is mute.
  Bytes receive(std::span<const std::uint8_t> bytes);

  bool waiting_for_header() const { return phase_ == Phase::header; }
  CardStatus last_card_status() const { return last_status_; }
  const CardSideOptions& options() const { return options_; }

 private:
  enum class Phase { header, data_to_card, silent };
  void on_header(Bytes& out);
  void on_all_data(Bytes& out);
  // false when the bad-procedure-byte fault took its place (the TPDU ends there)
  bool send_procedure(Bytes& out, std::uint8_t procedure);
  // Data from the card after the procedure byte(s), then SW1 SW2.
  void send_data(Bytes& out, std::span<const std::uint8_t> data, std::span<const std::uint8_t> status_word);
  bool takes_envelope() const;
  void on_envelope_end(Bytes& out);
  void on_envelope_piece(Bytes& out);
  void send_envelope_answer(Bytes& out);
  void send_final(Bytes& out, std::span<const std::uint8_t> status_word);
  void expect_data(Bytes& out, std::uint8_t ins, std::uint8_t p3);
  std::optional<Bytes> call_card(const Bytes& apdu);  // nullopt (and silent) when mute/off

  Card& card_;
  CardSideOptions options_;
  Phase phase_ = Phase::header;
  Header header_{};
  std::size_t header_length_ = 0;
  Bytes data_;
  std::size_t data_expected_ = 0;
  bool bad_procedure_sent_ = false;
  unsigned headers_answered_ = 0;
  CardStatus last_status_ = CardStatus::ok;
  EnvelopeState own_envelope_;
  EnvelopeState& envelope_;
};

enum class Error {
  none,
  malformed_command,        // not a TPDU / APDU (lengths do not add up)
  invalid_ins,              // INS 6x or 9x cannot be sent under T=0, ISO 7816-3 10.3.2
  command_too_long,         // Nc above 255 needs ENVELOPE, and this interface side sends none
  procedure_byte_conflict,  // a byte that is no valid procedure byte at this point
  mute,                     // the card stopped sending (or sent more NULLs than allowed)
  card_deactivated          // the card is not powered
};

std::string to_string(Error error);

struct Result {
  Error error = Error::none;
  Bytes response;              // data followed by SW1 SW2 when error is none
  std::size_t null_bytes = 0;  // NULL procedure bytes seen (each restarts the waiting time)
  std::size_t tpdus = 0;       // TPDUs sent, GET RESPONSE and re-issues included
};

struct InterfaceOptions {
  Convention convention = Convention::direct;
  std::size_t max_null_bytes = 100000;  // beyond this the card counts as mute (a timeout)
  // The class of the GET RESPONSE commands a reader sends (CCID 6.1.10 bClassGetResponse);
  // unset: the command's own, on its logical channel (ISO 7816-4 5.1.1).
  std::optional<std::uint8_t> get_response_class = std::nullopt;
  // Nc above 255 goes in ENVELOPE commands (an APDU-level reader, CCID 5.1 short and extended
  // APDU level); off: such an APDU is command_too_long.
  bool envelope = false;
  // Their class (CCID 5.1 bClassEnvelope); unset: the APDU's own class (bClassEnvelope FF).
  std::optional<std::uint8_t> envelope_class = std::nullopt;
};

class InterfaceSide {
 public:
  explicit InterfaceSide(InterfaceOptions options = {}) : options_(options) {}

  // One TPDU: the header, plus P3 data bytes for a command sending data (case 3). The answer
  // is the data received and SW1 SW2, exactly as the card sent them.
  Result transmit_tpdu(std::span<const std::uint8_t> tpdu, CardSide& card);

  // One command APDU, ISO 7816-3 12.2: case 1 and 3 as one TPDU; case 2 with P3 = Le (00 for
  // Ne >= 256) and a re-issue after 6Cxx; case 4 as case 3 then GET RESPONSE; Nc above 255 in
  // ENVELOPE commands when `envelope` is on; every 61xx is followed by GET RESPONSE until Ne
  // bytes are in. A piece of an ENVELOPE chain answered other than 9000 ends the chain and its
  // status word is the answer.
  Result transmit(std::span<const std::uint8_t> apdu, CardSide& card);

 private:
  Result transmit_enveloped(std::span<const std::uint8_t> apdu, const CommandApdu& command, CardSide& card);

  InterfaceOptions options_;
};

// The card side options for one exchange: the card's standing behaviour (NULLs), the faults
// it asks for now (taken from it), and the wire convention of its ATR.
CardSideOptions card_side_options(Card& card, Convention convention);

// One T=0 TPDU exchange with `card` (TPDU exchange level of a reader), through a CardSide with
// card_side_options(card, convention).
Result exchange(Card& card, std::span<const std::uint8_t> tpdu, Convention convention = Convention::direct);

// One command APDU with `card` as a reader at APDU exchange level runs it over T=0 (ENVELOPE
// for Nc above 255, in the APDU's own class).
Result transmit_apdu(Card& card, std::span<const std::uint8_t> apdu, Convention convention = Convention::direct);

}  // namespace readerlab::cards::t0
