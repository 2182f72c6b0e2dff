// A scriptable ISO 7816-4 card: a data-driven profile (ATR, file tree, PIN and PUK, data
// objects) answering command APDUs at the short/extended APDU exchange level, plus the PPS
// answer of ISO 7816-3 section 9.
//
// Commands (interindustry CLA 00..03 = logical channel 0..3, no secure messaging/chaining):
//   SELECT          A4  P1=00 by FID (3F00 or empty data = MF; else the current DF, its
//                       children, its parent, the parent's children, then the MF's children),
//                       01 child DF, 02 child EF, 03 parent DF, 04 by DF name (right-truncated
//                       names match; P2 occurrence 00 first / 02 next), 08 path from the MF,
//                       09 path from the current DF. P2 b4-b3 chooses the answer: FCI 6F, FCP
//                       62, FMD 64, or none (0C). Not found 6A82, other P1/P2 6A86.
//   READ BINARY     B0  offset in P1-P2 (15 bits) or SFI in P1 (b8=1) with offset in P2.
//                       Offset beyond the end 6B00, fewer bytes than Ne 6282, no EF 6986,
//                       record EF 6981.
//   UPDATE BINARY   D6  same addressing; writing past the end 6A84.
//   READ RECORD     B2  P1 record number (00 = current), P2 = SFI<<3 | 100; or P1=00 with
//                       P2 b3-b1 000 first, 001 last, 010 next, 011 previous. 6A83 no record.
//   UPDATE RECORD   DC  P1 record number (00 = current), P2 = SFI<<3 | 100.
//   APPEND RECORD   E2  P1=00, P2 = SFI<<3. Linear EFs full 6A84; a cyclic EF drops its oldest.
//   VERIFY          20  P1=00 with data: check (63Cx wrong with x tries left, then 6983).
//                       Without data: 9000 when verified, else 63Cx. P1=FF: forget the status.
//   CHANGE REF DATA 24  P1=00 data old||new (old has the current length), P1=01 data new
//                       (after VERIFY). New values are 4..16 bytes, else 6A80.
//   RESET RETRY CTR 2C  P2 = the PIN reference. P1=00 data PUK||new PIN, 01 data PUK. A wrong
//                       PUK costs one PUK try (63Cx, then 6983).
//   GET CHALLENGE   84  Ne bytes from a generator seeded by the profile or the constructor.
//   GET DATA        CA  P1-P2 = tag: the value of a data object, 6A88 if none.
//   PUT DATA        DA  P1-P2 = tag: replaces or creates it (read-only 6985, PIN 6982).
//   MANAGE CHANNEL  70  P1=00 P2=00 Le=01 opens the lowest free channel (returned); P2=01..03
//                       opens that one; P1=80 closes channel P2 (or the CLA's). Channel 0 is
//                       always open; each channel has its own current DF, EF and record.
//   GET RESPONSE    C0  fetches the rest of an answer that did not fit in Ne (61xx).
//   ECHO (CLA 80)   10  proprietary, for throughput tests: case 3 consumes the data, case 4
//                       returns the command data byte for byte, case 2 returns Ne bytes
//                       00 01 02 .. FF 00 .. (a pattern), case 1 just 9000.
// Responses longer than Ne return the first Ne bytes with 61xx (xx = bytes left, 00 for 256
// or more, ISO 7816-4 5.1.3); GET RESPONSE returns the next part, 6985 when nothing waits.
//
// Under T=0 (the selected protocol) the card behaves as a T=0 card must, since a T=0 TPDU
// carries either Lc or Le, never both (ISO 7816-3 12.2): a command without Le whose answer
// has data (SELECT asking for FCI/FCP, ECHO with data) keeps the data for GET RESPONSE and
// answers 61xx; a short Le larger than the data available (READ BINARY/RECORD, GET DATA,
// GET RESPONSE) is answered 6Cxx with the exact count and nothing consumed.
//
// Errors: malformed APDU encoding (ISO 7816-4 5.1) 6700; CLA FF or an unsupported class
// 6E00; a closed logical channel 6881; secure messaging 6882; command chaining 6884; unknown
// INS 6D00. The current files, the security status and any pending response reset on reset().
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cards/apdu/apdu.h"
#include "cards/apdu/file_system.h"
#include "cards/card.h"
#include "cards/pps/pps.h"

namespace readerlab::cards {

struct DataObject {
  std::uint16_t tag = 0;  // as P1-P2 of GET DATA / PUT DATA
  Bytes value;
  bool read_only = false;      // PUT DATA answers 6985
  bool put_needs_pin = false;  // PUT DATA answers 6982 until the PIN is verified
};

struct CardProfile {
  std::string name;
  std::string description;
  bool mute = false;                          // reset() answers nothing (no ATR) when set
  Bytes atr;                                  // returned by reset(), TS first, as the reader decodes it
  std::vector<Protocol> protocols;            // offered by the ATR; select_protocol accepts only these
  std::vector<CardApplication> applications;  // DFs under the MF (with their own trees)
  std::vector<ElementaryFile> files;          // EFs directly under the MF
  std::vector<DataObject> data_objects;
  Bytes pin;
  std::uint8_t pin_reference = 0x80;  // VERIFY P2: local reference data 0, ISO 7816-4 7.5.6
  std::uint8_t pin_tries = 3;         // retry counter when the card is new
  Bytes puk;                          // resetting code for RESET RETRY COUNTER; empty: none
  std::uint8_t puk_reference = 0x81;  // local reference data 1, ISO 7816-4 7.5.6
  std::uint8_t puk_tries = 10;
  std::uint64_t challenge_seed = 1;
  std::optional<std::uint16_t> implicit_ef;  // EF of the MF current after every reset
  std::uint8_t logical_channels = 4;         // channel 0 plus 1..3, ISO 7816-4 5.1.1.2

  // Transport behaviour, read by the protocol engines rather than by IsoCard itself.
  PpsReaction pps_reaction = PpsReaction::accept;
  unsigned t0_null_bytes = 0;   // T=0: NULL procedure bytes (60) sent before each answer
  unsigned wtx_multiplier = 0;  // T=1: S(WTX) request with this multiplier before answering
  bool t1_crc_windows = false;  // T=1 with CRC (TC3): compute Windows' CRC, not ISO/IEC 13239's
  bool t0_envelope = false;     // T=0: takes extended APDUs in ENVELOPE chains (cards/t0/t0.h)
  unsigned processing_ms = 0;   // time a command takes, for scenarios that ask real delays
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

  // The card's answer to a PPS request (ISO 7816-3 9), valid only as the first exchange after
  // the ATR: nullopt when the card stays silent (see answer_pps_request and the profile's
  // pps_reaction). On an answer the card switches to the negotiated protocol.
  std::optional<Bytes> answer_pps(std::span<const std::uint8_t> request) override;
  ProtocolBehaviour protocol_behaviour() const override;

  // Inspection for tests and scenarios.
  const CardProfile& profile() const { return profile_; }
  bool powered() const { return powered_; }
  std::optional<Protocol> selected_protocol() const { return selected_protocol_; }
  std::optional<NegotiatedParameters> negotiated_parameters() const { return negotiated_; }
  std::uint8_t pin_tries_left() const;
  std::uint8_t puk_tries_left() const;
  bool pin_verified() const;
  bool channel_open(std::uint8_t channel) const;
  std::optional<Bytes> file_contents(std::uint16_t fid) const;
  std::optional<std::vector<Bytes>> file_records(std::uint16_t fid) const;

 private:
  using Command = CommandApdu;
  using NodeId = FileSystem::NodeId;
  struct Channel {
    bool open = false;
    NodeId current_df = FileSystem::kMasterFile;
    std::optional<NodeId> current_ef;
    std::optional<std::size_t> current_record;  // index into the EF's records
  };
  struct Secret {
    std::uint8_t reference = 0;
    Bytes value;
    std::uint8_t max_tries = 0;
    std::uint8_t tries_left = 0;
    bool verified = false;
  };

  Bytes dispatch(const Command& command);
  Bytes select(const Command& command);
  std::uint16_t select_target(const Command& command, std::optional<NodeId>& target);
  std::uint16_t select_by_fid(const Bytes& data, std::optional<NodeId>& target);
  std::uint16_t select_child(const Bytes& data, bool want_df, std::optional<NodeId>& target);
  std::uint16_t select_parent(const Bytes& data, std::optional<NodeId>& target);
  std::uint16_t select_by_df_name(const Bytes& data, std::uint8_t occurrence, std::optional<NodeId>& target);
  std::uint16_t select_by_path(const Bytes& data, bool from_mf, std::optional<NodeId>& target);
  void make_current(NodeId target);
  Bytes read_binary(const Command& command);
  Bytes update_binary(const Command& command);
  Bytes read_record(const Command& command);
  Bytes update_record(const Command& command);
  Bytes append_record(const Command& command);
  Bytes get_challenge(const Command& command);
  Bytes verify(const Command& command);
  Bytes change_reference_data(const Command& command);
  Bytes reset_retry_counter(const Command& command);
  Bytes get_data(const Command& command);
  Bytes put_data(const Command& command);
  Bytes manage_channel(const Command& command);
  Bytes get_response(const Command& command);
  Bytes echo(const Command& command);

  Channel& channel() { return channels_[channel_index_]; }
  bool t0_selected() const { return selected_protocol_ == Protocol::t0; }
  // Answers `data` to a command asking for `ne` bytes, keeping what does not fit for GET
  // RESPONSE (61xx); without Le, T=0 keeps it all and answers 61xx, T=1 answers 9000 alone.
  Bytes answer_with_limit(Bytes data, std::optional<std::size_t> ne);
  // A read of `data` for Ne: 6Cxx under T=0 when a short Ne exceeds the data, else the data
  // with `short_status` when it is shorter than Ne, 9000 otherwise.
  Bytes answer_read(Bytes data, std::size_t ne, std::uint16_t short_status);
  Bytes fcp_or_fci(NodeId id, std::uint8_t answer_kind) const;
  std::uint16_t binary_target(const Command& command, NodeId& file, std::size_t& offset);
  std::uint16_t record_file(std::uint8_t p2, NodeId& file);
  Secret* secret(std::uint8_t reference);
  const Secret* secret(std::uint8_t reference) const;
  Bytes tries_status(const Secret& secret) const;
  bool pin_satisfied() const;
  void reset_session_state();

  CardProfile profile_;
  FileSystem file_system_;
  std::vector<Secret> secrets_;
  std::mt19937_64 challenge_generator_;
  bool powered_ = false;
  bool pps_allowed_ = false;
  std::optional<Protocol> selected_protocol_;
  std::optional<NegotiatedParameters> negotiated_;
  std::array<Channel, 4> channels_{};
  std::size_t channel_index_ = 0;  // the channel of the command being processed
  Bytes pending_response_;
};

}  // namespace readerlab::cards
