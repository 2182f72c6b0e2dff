// The card's half of T=1 (ISO 7816-3 clause 11): one block in from the interface device,
// at most one block out. Above it sits the card's application, an APDU handler.
//
// What the card does, by the rules of ISO 7816-3 11.6:
//  - I-blocks with the expected N(S) are accepted; a chained command (M=1) is acknowledged
//    with R(N(R)) and reassembled before the handler sees it.
//  - The answer goes out in I-blocks of at most IFSD bytes, chained when longer; each chained
//    block waits for R(N(R)) naming the next one.
//  - Before an answer the card may send S(IFS request) to change IFSC (once, when configured)
//    and S(WTX request) (for every answer when configured, or once as a fault).
//  - S(IFS request) from the interface device sets IFSD; S(RESYNCH request) resets sequence
//    numbers, IFSC and IFSD; S(ABORT request) drops any chain in progress. Each is answered
//    with the matching S-response.
//  - A block that fails to parse (EDC, LEN, PCB) or breaks the protocol (wrong N(S), INF above
//    IFSC, unexpected block) is answered with R(N(R)) and the EDC or "other" error bits.
//  - An R-block asking again for the card's last I-block or S-request gets it retransmitted;
//    any other R-block gets R(N(R)) naming the I-block the card expects.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <span>

#include "cards/t1/block.h"

namespace readerlab::cards::t1 {

// Misbehaviour a test or a hostile card profile switches on; counters count down as the
// card uses them.
struct CardFaults {
  unsigned corrupt_edc_blocks = 0;                     // the next N blocks the card sends carry a wrong EDC
  unsigned garbage_blocks = 0;                         // the next N answers are random bytes instead of a block
  unsigned mute_blocks = 0;                            // the card does not hear the next N blocks (no answer)
  std::optional<std::uint8_t> wtx_before_next_answer;  // S(WTX request) with this multiplier
  // The card answers this many more blocks, then is deactivated (silent until reset()).
  std::optional<unsigned> drop_off_after_blocks;
};

struct CardParameters {
  // A slow card: S(WTX request) with this multiplier before every answer (0 = never).
  std::uint8_t wtx_before_every_answer = 0;
  // When set, the card asks S(IFS request) with this IFSC before its first answer.
  std::optional<std::uint8_t> request_ifsc;
  // Longest chained command the card accepts: an extended APDU with 65535 data bytes,
  // 4 header bytes, 3 Lc and 3 Le bytes (ISO 7816-4 5.1).
  std::size_t max_command_length = 4 + 3 + 65535 + 3;
  std::uint64_t garbage_seed = 1;  // random bytes for CardFaults::garbage_blocks
};

class CardSide {
 public:
  // The card's application: a command APDU in, the response APDU out. An empty response
  // means the application stays silent (the card sends nothing; the reader times out).
  using ApduHandler = std::function<Bytes(std::span<const std::uint8_t>)>;

  CardSide(ApduHandler handler, std::uint8_t ifsc, EdcKind edc, CardParameters parameters = {});

  // One block from the interface device; the card's answer block, or nullopt when the card
  // stays silent (mute, deactivated, or the application did not answer).
  std::optional<Bytes> receive(std::span<const std::uint8_t> block);

  // The state after an ATR: sequence numbers 0, IFSD 32, IFSC as constructed, powered.
  void reset();

  CardFaults& faults() { return faults_; }
  const CardFaults& faults() const { return faults_; }

  bool deactivated() const { return deactivated_; }
  std::uint8_t ifsc() const { return ifsc_; }
  std::uint8_t ifsd() const { return ifsd_; }
  EdcKind edc() const { return edc_; }
  std::size_t apdus_handled() const { return apdus_handled_; }
  std::size_t blocks_received() const { return blocks_received_; }
  // Why the card last answered with an error R-block (none when it has not).
  BlockError last_parse_error() const { return last_parse_error_; }

 private:
  enum class Sent : std::uint8_t { nothing, i_block, r_block, s_request, s_response };
  enum class Awaiting : std::uint8_t { nothing, ifs_response, wtx_response };

  void handle(const BlockView& block);
  void handle_information(const BlockView& block);
  void handle_receive_ready(const BlockView& block);
  void handle_supervisory(const BlockView& block);
  void start_answer();
  void continue_answer();
  void send_response_chunk();
  void send_error(ReceiveError error);
  void send(Sent kind, std::uint8_t pcb, std::span<const std::uint8_t> inf);
  void send_again(const Bytes& block);
  void restore_initial_parameters();
  std::optional<Bytes> emit();

  ApduHandler handler_;
  std::uint8_t initial_ifsc_;
  EdcKind edc_;
  CardParameters parameters_;
  CardFaults faults_;
  std::mt19937_64 garbage_generator_;

  std::uint8_t ifsc_;
  std::uint8_t ifsd_ = kDefaultIfs;
  std::uint8_t expected_sequence_ = 0;  // N(S) of the next I-block from the interface device
  std::uint8_t send_sequence_ = 0;      // N(S) of the card's next I-block
  std::uint8_t last_i_sequence_ = 0;    // N(S) of the card's last I-block
  std::uint8_t reply_nad_ = 0;
  bool deactivated_ = false;
  bool ifsc_requested_ = false;

  Bytes command_;                   // chained command being reassembled
  Bytes response_;                  // the answer being sent
  std::size_t response_sent_ = 0;   // bytes of response_ acknowledged or in the last block
  bool response_chaining_ = false;  // the last I-block had M=1 and waits for R(N(R))
  Awaiting awaiting_ = Awaiting::nothing;
  std::uint8_t awaited_parameter_ = 0;

  // The card's blocks as they should be (before faults): the last one sent, and the two the
  // card may have to send again — its last I-block until acknowledged, its S-request.
  Bytes last_block_;
  Bytes last_i_block_;
  Bytes request_block_;
  const Bytes* outgoing_ = &last_block_;
  bool i_block_unacknowledged_ = false;
  bool silent_ = false;  // the application did not answer: send nothing this time

  std::size_t apdus_handled_ = 0;
  std::size_t blocks_received_ = 0;
  BlockError last_parse_error_ = BlockError::none;
};

}  // namespace readerlab::cards::t1
