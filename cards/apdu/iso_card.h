// A scriptable ISO 7816-4 card: a data-driven profile (ATR, applications, a small file tree
// of transparent EFs under the MF, one PIN) answering command APDUs at the short/extended
// APDU exchange level.
//
// Commands (CLA 00..0F without secure messaging or chaining, unless noted):
//   SELECT          A4  P1=00 by FID (3F00 or empty data = MF, else an EF under the MF,
//                       found from any current DF),
//                       P1=02 EF under the current DF, P1=04 by DF name (AID, right-truncated
//                       names match; P2 occurrence 00 first / 02 next). P2 b4-b3 chooses the
//                       answer: FCI 6F, FCP 62, FMD 64, or none (0C). Data is only returned when
//                       Le is present. Not found 6A82, other P1/P2 6A86.
//   READ BINARY     B0  offset in P1-P2 (15 bits) or SFI in P1 (b8=1) with offset in P2.
//                       Offset beyond the end 6B00, fewer bytes than Ne 6282, no EF 6986.
//   UPDATE BINARY   D6  same addressing; writing past the end 6A84; 6982 when the EF needs
//                       the PIN and it has not been verified. Contents persist across resets.
//   GET CHALLENGE   84  Ne bytes (short Le=00 means 256) from a deterministic generator
//                       seeded by the profile or the constructor; no Le 6700.
//   VERIFY          20  P1=00 with data: check the PIN (63Cx wrong with x tries left, 63C0 on
//                       the try that blocks, then 6983). Without data: 9000 when verified,
//                       else 63Cx (6983 if blocked). P1=FF without data resets the status.
//   GET DATA        CA  P1-P2 = tag; answers the value of a profile data object, 6A88 if none.
//   GET RESPONSE    C0  fetches the rest of an answer that did not fit in Ne (see below).
//   ECHO (CLA 80)   10  proprietary, for throughput tests: case 3 consumes the data, case 4
//                       returns the command data byte for byte, case 2 returns Ne bytes
//                       00 01 02 .. FF 00 .. (a pattern), case 1 just 9000.
// Responses longer than Ne (SELECT, GET DATA, ECHO) return the first Ne bytes with 61xx
// (xx = bytes left, 00 for 256 or more, ISO 7816-4 5.1.3); GET RESPONSE returns the next
// part, and 6985 when nothing is pending. A T=0 transport thus has nothing to emulate on top:
// it may also send its own GET RESPONSE for case 4 as long as it passes full APDUs here.
//
// Errors: malformed APDU encoding (ISO 7816-4 5.1) 6700; CLA FF or an unsupported class
// 6E00; logical channels 6881; secure messaging 6882; command chaining 6884; unknown INS
// 6D00. The selected file, the PIN status and any pending response reset on reset().
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cards/card.h"

namespace readerlab::cards {

// A command APDU split per ISO 7816-4 5.1 (Table 1 cases). Also useful to a transport that
// needs the case of an APDU (T=0 maps cases 2 and 4 to GET RESPONSE exchanges).
struct CommandApdu {
  std::uint8_t cla = 0, ins = 0, p1 = 0, p2 = 0;
  Bytes data;                     // Nc bytes; empty when there is no Lc field
  std::optional<std::size_t> ne;  // absent without Le; short 00 = 256, extended 0000 = 65536
  bool extended = false;          // Lc/Le used the extended (3-byte / 2-byte) encoding
  int apdu_case() const { return data.empty() ? (ne ? 2 : 1) : (ne ? 4 : 3); }
};

// nullopt when the bytes are no valid APDU: fewer than 4 bytes, Lc not matching the body,
// extended Lc of 0, or a body of 2 bytes starting with 00. The card answers those with 6700.
std::optional<CommandApdu> parse_command_apdu(std::span<const std::uint8_t> bytes);

struct CardApplication {
  Bytes aid;                  // DF name used by SELECT P1=04, ISO 7816-4 8.2.1.2
  std::string label;          // encoded as tag 50 inside the FCI proprietary template A5
  Bytes fci_proprietary;      // further BER-TLV objects appended inside A5
};

struct ElementaryFile {
  std::uint16_t fid = 0;
  Bytes contents;                       // a transparent EF: its size is fixed by the profile
  std::optional<std::uint8_t> sfi;      // short EF identifier 1..30 for READ BINARY P1 b8=1
  bool update_needs_pin = false;
};

struct DataObject {
  std::uint16_t tag = 0;  // as P1-P2 of GET DATA
  Bytes value;
};

struct CardProfile {
  std::string name;
  std::string description;
  bool mute = false;                // reset() answers nothing (no ATR) when set
  Bytes atr;                        // returned by reset(), TS first, as the reader decodes it
  std::vector<Protocol> protocols;  // offered by the ATR; select_protocol accepts only these
  std::vector<CardApplication> applications;
  std::vector<ElementaryFile> files;  // transparent EFs directly under the MF
  std::vector<DataObject> data_objects;
  Bytes pin;
  std::uint8_t pin_reference = 0x80;  // VERIFY P2: local reference data 0, ISO 7816-4 7.5.6
  std::uint8_t pin_tries = 3;         // retry counter when the card is new
  std::uint64_t challenge_seed = 1;
};

class IsoCard : public Card {
 public:
  explicit IsoCard(CardProfile profile);
  IsoCard(CardProfile profile, std::uint64_t challenge_seed);

  std::string name() const override;
  std::optional<Bytes> reset(ResetKind kind) override;
  void deactivate() override;
  void select_protocol(Protocol protocol) override;
  CardResponse transmit_apdu(std::span<const std::uint8_t> command) override;

  // Inspection for tests and scenarios.
  const CardProfile& profile() const { return profile_; }
  bool powered() const { return powered_; }
  std::optional<Protocol> selected_protocol() const { return selected_protocol_; }
  std::uint8_t pin_tries_left() const { return pin_tries_left_; }
  bool pin_verified() const { return pin_verified_; }
  std::optional<Bytes> file_contents(std::uint16_t fid) const;

 private:
  using Command = CommandApdu;
  Bytes dispatch(const Command& command);
  Bytes select(const Command& command);
  Bytes read_binary(const Command& command);
  Bytes update_binary(const Command& command);
  Bytes get_challenge(const Command& command);
  Bytes verify(const Command& command);
  Bytes get_data(const Command& command);
  Bytes get_response(const Command& command);
  Bytes echo(const Command& command);
  Bytes answer_with_limit(Bytes data, std::size_t ne);
  // Resolves the EF and offset addressed by READ/UPDATE BINARY; returns 0 or an error SW.
  std::uint16_t binary_target(const Command& command, std::size_t& file_index,
                              std::size_t& offset);
  void reset_session_state();

  CardProfile profile_;
  std::mt19937_64 challenge_generator_;
  bool powered_ = false;
  std::optional<Protocol> selected_protocol_;
  std::optional<std::size_t> current_application_;  // nullopt: the MF is the current DF
  std::optional<std::size_t> current_file_;          // index into profile_.files
  bool pin_verified_ = false;
  std::uint8_t pin_tries_left_ = 0;
  Bytes pending_response_;
};

}  // namespace readerlab::cards
