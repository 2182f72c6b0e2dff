#include "cards/t1/interface_side.h"

#include <algorithm>
#include <utility>

namespace readerlab::cards::t1 {

std::string to_string(TransmitError error) {
  switch (error) {
    case TransmitError::none: return "none";
    case TransmitError::invalid_command: return "invalid command APDU";
    case TransmitError::deactivate_card: return "error recovery failed: deactivate the card";
    case TransmitError::aborted_by_card: return "the card aborted the exchange";
    case TransmitError::response_too_long: return "response too long";
    case TransmitError::too_many_card_requests: return "too many S-requests from the card";
  }
  return "unknown";
}

std::string to_string(LineFault fault) {
  switch (fault) {
    case LineFault::none: return "none";
    case LineFault::timeout: return "no block within BWT";
    case LineFault::bad_edc: return "EDC error";
    case LineFault::invalid_block: return "invalid block";
    case LineFault::protocol_error: return "protocol error";
    case LineFault::retransmission: return "the card asked for a retransmission";
  }
  return "unknown";
}

InterfaceSide::InterfaceSide(InterfaceParameters parameters)
    : parameters_(std::move(parameters)), ifsc_(std::clamp<std::uint8_t>(parameters_.ifsc, 1, kMaxInfSize)) {
  parameters_.ifsd = std::clamp<std::uint8_t>(parameters_.ifsd, 1, kMaxInfSize);
  i_block_.reserve(kPrologueSize + kMaxInfSize + 2);
}

void InterfaceSide::reset() {
  ifsc_ = std::clamp<std::uint8_t>(parameters_.ifsc, 1, kMaxInfSize);
  ifsd_ = kDefaultIfs;
  ifsd_negotiated_ = false;
  send_sequence_ = 0;
  expected_sequence_ = 0;
  wtx_multiplier_ = 1;
}

TransmitResult InterfaceSide::transmit(std::span<const std::uint8_t> apdu, const Channel& channel) {
  TransmitResult result;
  if (apdu.empty() || apdu.size() > parameters_.max_command_length) {
    result.error = TransmitError::invalid_command;
    return result;
  }
  resynch_requests_ = 0;
  card_requests_ = 0;
  for (;;) {
    result.response.clear();
    start(apdu);
    if (exchange(apdu, channel, result) == Step::done) return result;
    if (!resynchronise(channel)) {
      result.error = TransmitError::deactivate_card;
      result.response.clear();
      return result;
    }
  }
}

void InterfaceSide::start(std::span<const std::uint8_t> apdu) {
  failures_ = 0;
  wtx_multiplier_ = 1;
  if (parameters_.negotiate_ifsd && !ifsd_negotiated_) {
    // ISO 7816-3 11.4.2: the interface device announces IFSD with S(IFS request).
    phase_ = Phase::negotiating_ifsd;
    const std::uint8_t inf[1] = {parameters_.ifsd};
    set_pending(Pending::s_request, pcb_supervisory(SupervisoryType::ifs, false), inf);
    return;
  }
  chunk_offset_ = 0;
  prepare_chunk(apdu);
}

void InterfaceSide::prepare_chunk(std::span<const std::uint8_t> apdu) {
  phase_ = Phase::sending;
  pending_ = Pending::i_block;
  chunk_size_ = std::min<std::size_t>(ifsc_, apdu.size() - chunk_offset_);
  chunk_more_ = chunk_offset_ + chunk_size_ < apdu.size();
  encode_block(i_block_, parameters_.nad, pcb_information(send_sequence_, chunk_more_),
               apdu.subspan(chunk_offset_, chunk_size_), parameters_.edc);
}

void InterfaceSide::set_pending(Pending kind, std::uint8_t pcb, std::span<const std::uint8_t> inf) {
  pending_ = kind;
  encode_block(pending_block_, parameters_.nad, pcb, inf, parameters_.edc);
}

const Bytes* InterfaceSide::recovery_block(ReceiveError error) {
  // ISO 7816-3 11.6.3 rule 7: an S-request without a valid response is sent again; otherwise
  // an R-block asks for the I-block expected from the card.
  if (pending_ == Pending::s_request) return &pending_block_;
  encode_block(error_block_, parameters_.nad, pcb_receive_ready(expected_sequence_, error), {}, parameters_.edc);
  return &error_block_;
}

bool InterfaceSide::count_failure(LineFault fault, TransmitResult& result) {
  result.last_fault = fault;
  ++statistics_.retransmissions;
  return ++failures_ < parameters_.max_tries;
}

InterfaceSide::Step InterfaceSide::exchange(std::span<const std::uint8_t> apdu, const Channel& channel,
                                            TransmitResult& result) {
  const Bytes* outgoing = pending_ == Pending::i_block ? &i_block_ : &pending_block_;
  for (;;) {
    ++statistics_.blocks_sent;
    const auto reply = channel(*outgoing);
    wtx_multiplier_ = 1;  // an extension holds for one block only, ISO 7816-3 11.6.2 rule 3
    const Turn turn = answer(reply, apdu, channel, result);
    if (turn.step != Step::again) return turn.step;
    outgoing = turn.next;
  }
}

InterfaceSide::Turn InterfaceSide::answer(const std::optional<Bytes>& reply, std::span<const std::uint8_t> apdu,
                                          const Channel& channel, TransmitResult& result) {
  if (!reply) return try_again(LineFault::timeout, ReceiveError::none, result);
  const auto parsed = parse_block(*reply, parameters_.edc);
  if (!parsed.block) {
    if (parsed.error == BlockError::bad_edc) {
      return try_again(LineFault::bad_edc, ReceiveError::edc_or_parity, result);
    }
    return try_again(LineFault::invalid_block, ReceiveError::other, result);
  }
  switch (parsed.block->kind()) {
    case BlockKind::information: return on_information(*parsed.block, channel, result);
    case BlockKind::receive_ready: return on_receive_ready(*parsed.block, apdu, result);
    case BlockKind::supervisory: return on_supervisory(*parsed.block, apdu, channel, result);
  }
  return try_again(LineFault::protocol_error, ReceiveError::other, result);
}

InterfaceSide::Turn InterfaceSide::try_again(LineFault fault, ReceiveError error, TransmitResult& result) {
  if (!count_failure(fault, result)) return {nullptr, Step::resynchronise};
  return {recovery_block(error), Step::again};
}

InterfaceSide::Turn InterfaceSide::send_again(const Bytes& block, TransmitResult& result) {
  if (!count_failure(LineFault::retransmission, result)) return {nullptr, Step::resynchronise};
  return {&block, Step::again};
}

InterfaceSide::Turn InterfaceSide::give_up(TransmitError error, TransmitResult& result) {
  result.error = error;
  result.response.clear();
  return {nullptr, Step::done};
}

InterfaceSide::Turn InterfaceSide::on_information(const BlockView& block, const Channel& channel,
                                                  TransmitResult& result) {
  const bool in_turn = phase_ == Phase::receiving || (phase_ == Phase::sending && !chunk_more_);
  if (!in_turn || block.sequence() != expected_sequence_ || block.inf.size() > ifsd_) {
    return try_again(LineFault::protocol_error, ReceiveError::other, result);
  }
  // ISO 7816-3 11.6.2 rule 2: the card's I-block acknowledges our last I-block.
  if (phase_ == Phase::sending) send_sequence_ ^= 1;
  expected_sequence_ ^= 1;
  failures_ = 0;
  if (result.response.size() + block.inf.size() > parameters_.max_response_length) {
    // Stop the card's chain (ISO 7816-3 11.6.3 rule 9); its answer is not awaited.
    const auto abort = make_s_block(parameters_.nad, SupervisoryType::abort, false, parameters_.edc);
    ++statistics_.blocks_sent;
    (void)channel(abort);
    return give_up(TransmitError::response_too_long, result);
  }
  result.response.insert(result.response.end(), block.inf.begin(), block.inf.end());
  if (!block.more()) return {nullptr, Step::done};
  // ISO 7816-3 11.6.2 rule 5: acknowledge a chained block with N(R) of the next one.
  phase_ = Phase::receiving;
  set_pending(Pending::acknowledgement, pcb_receive_ready(expected_sequence_, ReceiveError::none), {});
  return {&pending_block_, Step::again};
}

InterfaceSide::Turn InterfaceSide::on_receive_ready(const BlockView& block, std::span<const std::uint8_t> apdu,
                                                    TransmitResult& result) {
  const bool about_our_i_block =
      phase_ == Phase::sending && (pending_ == Pending::i_block ||
                                   (pending_ == Pending::s_response && block.receive_error() == ReceiveError::none));
  // Otherwise the card did not receive our last R- or S-block: send it again.
  if (!about_our_i_block) return send_again(pending_block_, result);
  if (block.sequence() == send_sequence_) {
    // ISO 7816-3 11.6.3 rule 7: R(N(R)) naming our I-block asks for it again.
    const Turn turn = send_again(i_block_, result);
    if (turn.step == Step::again) pending_ = Pending::i_block;
    return turn;
  }
  if (!chunk_more_) {  // nothing follows the last block of the chain
    return try_again(LineFault::protocol_error, ReceiveError::other, result);
  }
  // ISO 7816-3 11.6.2 rule 5: the card acknowledges a chained block; send the next.
  send_sequence_ ^= 1;
  failures_ = 0;
  chunk_offset_ += chunk_size_;
  prepare_chunk(apdu);
  return {&i_block_, Step::again};
}

InterfaceSide::Turn InterfaceSide::on_supervisory(const BlockView& block, std::span<const std::uint8_t> apdu,
                                                  const Channel& channel, TransmitResult& result) {
  const auto type = block.supervisory_type();
  if (block.is_response()) return on_supervisory_response(block, apdu, result);
  if (type == SupervisoryType::wtx || type == SupervisoryType::ifs) {
    return on_card_request(block, result);
  }
  if (type == SupervisoryType::abort) {
    const auto answer = make_s_block(parameters_.nad, SupervisoryType::abort, true, parameters_.edc);
    ++statistics_.blocks_sent;
    (void)channel(answer);
    return give_up(TransmitError::aborted_by_card, result);
  }
  // S(RESYNCH request) comes only from the interface device, ISO 7816-3 11.6.3 rule 6.
  return try_again(LineFault::protocol_error, ReceiveError::other, result);
}

// The only S-response awaited here answers our S(IFS request) announcing IFSD.
InterfaceSide::Turn InterfaceSide::on_supervisory_response(const BlockView& block, std::span<const std::uint8_t> apdu,
                                                           TransmitResult& result) {
  const bool ifs_answer = phase_ == Phase::negotiating_ifsd && block.supervisory_type() == SupervisoryType::ifs &&
                          block.parameter() == parameters_.ifsd;
  if (!ifs_answer) return try_again(LineFault::protocol_error, ReceiveError::other, result);
  ifsd_ = parameters_.ifsd;
  ifsd_negotiated_ = true;
  failures_ = 0;
  chunk_offset_ = 0;
  prepare_chunk(apdu);
  return {&i_block_, Step::again};
}

// S(WTX request) or S(IFS request) from the card, answered with the matching S-response.
InterfaceSide::Turn InterfaceSide::on_card_request(const BlockView& block, TransmitResult& result) {
  if (++card_requests_ > parameters_.max_card_requests) {
    return give_up(TransmitError::too_many_card_requests, result);
  }
  const auto type = block.supervisory_type();
  if (type == SupervisoryType::wtx) {
    // ISO 7816-3 11.6.2 rule 3: BWT times the multiplier, for the card's next block.
    ++statistics_.wtx_requests;
    last_wtx_request_ = block.parameter();
    if (wtx_listener_) wtx_listener_(last_wtx_request_);
    wtx_multiplier_ = std::max<std::uint8_t>(last_wtx_request_, 1);
    failures_ = 0;
  } else {
    ifsc_ = block.parameter();  // ISO 7816-3 11.6.2 rule 4: the card's new IFSC
  }
  set_pending(Pending::s_response, pcb_supervisory(type, true), block.inf);
  return {&pending_block_, Step::again};
}

bool InterfaceSide::resynchronise(const Channel& channel) {
  const auto request = make_s_block(parameters_.nad, SupervisoryType::resynch, false, parameters_.edc);
  while (resynch_requests_ < parameters_.max_resynch_requests) {
    ++resynch_requests_;
    ++statistics_.resynch_requests;
    ++statistics_.blocks_sent;
    const auto reply = channel(request);
    if (!reply) continue;
    const auto parsed = parse_block(*reply, parameters_.edc);
    if (parsed.block && parsed.block->kind() == BlockKind::supervisory && parsed.block->is_response() &&
        parsed.block->supervisory_type() == SupervisoryType::resynch) {
      reset();  // ISO 7816-3 11.6.3 rule 6: both sides start again from the initial state
      return true;
    }
  }
  return false;
}

}  // namespace readerlab::cards::t1
