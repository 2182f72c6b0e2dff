// The interface device's half of T=1 (ISO 7816-3 clause 11): what a reader exchanging
// characters, or a host driver exchanging TPDUs, runs to carry one APDU to the card and its
// response back.
//
// transmit() sends S(IFS request) for IFSD first when configured and not yet done, chains
// commands longer than IFSC, acknowledges chained responses with R-blocks, answers S(WTX)
// and S(IFS) requests of the card, and recovers from errors by ISO 7816-3 11.6.3: an
// invalid block or no block within BWT is answered with an R-block (or the S-request is sent
// again); after `max_tries` failed tries in a row it sends S(RESYNCH request), and when
// resynchronisation fails too it gives up with TransmitError::deactivate_card — the caller
// then deactivates or warm-resets the card. After a successful resynchronisation the APDU is
// sent again from its first block.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "cards/t1/block.h"

namespace readerlab::cards::t1 {

struct InterfaceParameters {
  std::uint8_t ifsc = kDefaultIfs;  // from the ATR (first TA for T=1), ISO 7816-3 11.4.2
  std::uint8_t ifsd = kMaxInfSize;  // the reader's own receive size
  bool negotiate_ifsd = true;       // send S(IFS request) with ifsd before the first I-block
  EdcKind edc = EdcKind::lrc;       // from the ATR (first TC for T=1), ISO 7816-3 11.4.4
  std::uint8_t nad = 0;
  // Tries of one block before resynchronisation, ISO 7816-3 11.6.3 (the first transmission
  // and up to two retransmissions).
  unsigned max_tries = 3;
  // S(RESYNCH request) blocks per APDU before giving up, ISO 7816-3 11.6.3.
  unsigned max_resynch_requests = 3;
  std::size_t max_command_length = 4 + 3 + 65535 + 3;  // extended case 4, ISO 7816-4 5.1
  std::size_t max_response_length = 65536 + 2;         // extended Ne and SW1 SW2, ISO 7816-4 5.1
  // A card may ask for more waiting time (or a new IFSC) again and again; past this many
  // S-requests in one APDU the interface device treats the card as unresponsive.
  unsigned max_card_requests = 1000;
};

enum class TransmitError : std::uint8_t {
  none,
  invalid_command,        // empty, or longer than a chain can reasonably carry
  deactivate_card,        // error recovery failed: deactivate or warm-reset the card
  aborted_by_card,        // the card sent S(ABORT request)
  response_too_long,      // the chained response exceeded max_response_length
  too_many_card_requests  // the card kept sending S(WTX) or S(IFS) requests
};

// The last problem seen on the line, to say why an APDU failed.
enum class LineFault : std::uint8_t {
  none,
  timeout,         // no block within BWT
  bad_edc,         // EDC or parity error
  invalid_block,   // too short, bad LEN, invalid PCB or INF
  protocol_error,  // a well-formed block out of turn (wrong N(S), unexpected type, ...)
  retransmission   // the card asked for a retransmission
};

std::string to_string(TransmitError error);
std::string to_string(LineFault fault);

struct TransmitResult {
  TransmitError error = TransmitError::none;
  LineFault last_fault = LineFault::none;
  Bytes response;  // the response APDU when error is none
  bool ok() const { return error == TransmitError::none; }
};

struct InterfaceStatistics {
  std::size_t blocks_sent = 0;
  std::size_t retransmissions = 0;  // blocks sent again and error R-blocks
  std::size_t resynch_requests = 0;
  std::size_t wtx_requests = 0;
};

class InterfaceSide {
 public:
  // Sends one block to the card and returns the card's block, or nullopt when nothing came
  // within the block waiting time (BWT, times the WTX multiplier of wtx_multiplier()).
  using Channel = std::function<std::optional<Bytes>(std::span<const std::uint8_t> block)>;
  using WtxListener = std::function<void(std::uint8_t multiplier)>;

  explicit InterfaceSide(InterfaceParameters parameters = {});

  TransmitResult transmit(std::span<const std::uint8_t> apdu, const Channel& channel);

  // The state after a new ATR: sequence numbers 0, IFSC as configured, IFSD not negotiated.
  void reset();

  // Called with the multiplier when the card asks for a waiting time extension, before the
  // S(WTX response) goes out, so a reader can extend its timer for the card's next block.
  void on_wtx(WtxListener listener) { wtx_listener_ = std::move(listener); }
  // The multiplier in force while the channel carries the current block (1 without WTX).
  std::uint8_t wtx_multiplier() const { return wtx_multiplier_; }
  // The multiplier the card asked for last (0 when it never asked).
  std::uint8_t last_wtx_request() const { return last_wtx_request_; }

  std::uint8_t ifsc() const { return ifsc_; }
  std::uint8_t ifsd() const { return ifsd_; }
  const InterfaceParameters& parameters() const { return parameters_; }
  const InterfaceStatistics& statistics() const { return statistics_; }

 private:
  enum class Phase : std::uint8_t { negotiating_ifsd, sending, receiving };
  enum class Pending : std::uint8_t { i_block, acknowledgement, s_request, s_response };
  enum class Step : std::uint8_t { again, done, resynchronise };

  // After one reply from the card: the block to send next (step `again`), or the end of this
  // try (done, or resynchronise).
  struct Turn {
    const Bytes* next = nullptr;
    Step step = Step::again;
  };

  Step exchange(std::span<const std::uint8_t> apdu, const Channel& channel, TransmitResult& result);
  // The card's reply, or nothing within BWT, per block kind (ISO 7816-3 11.6).
  Turn answer(const std::optional<Bytes>& reply, std::span<const std::uint8_t> apdu, const Channel& channel,
              TransmitResult& result);
  Turn on_information(const BlockView& block, const Channel& channel, TransmitResult& result);
  Turn on_receive_ready(const BlockView& block, std::span<const std::uint8_t> apdu, TransmitResult& result);
  Turn on_supervisory(const BlockView& block, std::span<const std::uint8_t> apdu, const Channel& channel,
                      TransmitResult& result);
  Turn on_supervisory_response(const BlockView& block, std::span<const std::uint8_t> apdu, TransmitResult& result);
  Turn on_card_request(const BlockView& block, TransmitResult& result);
  // A failed try: the recovery block next, or resynchronisation when the tries are used up.
  Turn try_again(LineFault fault, ReceiveError error, TransmitResult& result);
  // The card asks for `block` again (a retransmission, counted as a failed try).
  Turn send_again(const Bytes& block, TransmitResult& result);
  Turn give_up(TransmitError error, TransmitResult& result);
  bool resynchronise(const Channel& channel);
  void start(std::span<const std::uint8_t> apdu);
  void prepare_chunk(std::span<const std::uint8_t> apdu);
  // The block answering a failed try: the S-request again, or an R-block naming the I-block
  // expected from the card with the error bits.
  const Bytes* recovery_block(ReceiveError error);
  void set_pending(Pending kind, std::uint8_t pcb, std::span<const std::uint8_t> inf);
  // Records a failed try; false when the tries are used up.
  bool count_failure(LineFault fault, TransmitResult& result);

  InterfaceParameters parameters_;
  WtxListener wtx_listener_;
  InterfaceStatistics statistics_;

  std::uint8_t ifsc_;
  std::uint8_t ifsd_ = kDefaultIfs;
  bool ifsd_negotiated_ = false;
  std::uint8_t send_sequence_ = 0;      // N(S) of our next I-block
  std::uint8_t expected_sequence_ = 0;  // N(S) of the card's next I-block
  std::uint8_t wtx_multiplier_ = 1;
  std::uint8_t last_wtx_request_ = 0;

  Phase phase_ = Phase::sending;
  Pending pending_ = Pending::i_block;
  Bytes i_block_;        // our current I-block, kept for retransmission
  Bytes pending_block_;  // our last block other than an I-block (R ack, S-request/response)
  Bytes error_block_;    // an R-block asking the card to send again
  std::size_t chunk_offset_ = 0;
  std::size_t chunk_size_ = 0;
  bool chunk_more_ = false;
  unsigned failures_ = 0;
  unsigned resynch_requests_ = 0;
  unsigned card_requests_ = 0;
};

}  // namespace readerlab::cards::t1
