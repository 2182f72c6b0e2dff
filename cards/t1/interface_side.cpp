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
    : parameters_(std::move(parameters)),
      ifsc_(std::clamp<std::uint8_t>(parameters_.ifsc, 1, kMaxInfSize)) {
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

TransmitResult InterfaceSide::transmit(std::span<const std::uint8_t> apdu,
                                       const Channel& channel) {
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

void InterfaceSide::set_pending(Pending kind, std::uint8_t pcb,
                                std::span<const std::uint8_t> inf) {
  pending_ = kind;
  encode_block(pending_block_, parameters_.nad, pcb, inf, parameters_.edc);
}

const Bytes* InterfaceSide::recovery_block(ReceiveError error) {
  // ISO 7816-3 11.6.3 rule 7: an S-request without a valid response is sent again; otherwise
  // an R-block asks for the I-block expected from the card.
  if (pending_ == Pending::s_request) return &pending_block_;
  encode_block(error_block_, parameters_.nad, pcb_receive_ready(expected_sequence_, error), {},
               parameters_.edc);
  return &error_block_;
}

bool InterfaceSide::count_failure(LineFault fault, TransmitResult& result) {
  result.last_fault = fault;
  ++statistics_.retransmissions;
  return ++failures_ < parameters_.max_tries;
}

InterfaceSide::Step InterfaceSide::exchange(std::span<const std::uint8_t> apdu,
                                            const Channel& channel, TransmitResult& result) {
  const Bytes* outgoing = pending_ == Pending::i_block ? &i_block_ : &pending_block_;
  for (;;) {
    ++statistics_.blocks_sent;
    const auto reply = channel(*outgoing);
    wtx_multiplier_ = 1;  // an extension holds for one block only, ISO 7816-3 11.6.2 rule 3
    if (!reply) {
      if (!count_failure(LineFault::timeout, result)) return Step::resynchronise;
      outgoing = recovery_block(ReceiveError::none);
      continue;
    }
    const auto parsed = parse_block(*reply, parameters_.edc);
    if (!parsed.block) {
      const bool edc = parsed.error == BlockError::bad_edc;
      if (!count_failure(edc ? LineFault::bad_edc : LineFault::invalid_block, result)) {
        return Step::resynchronise;
      }
      outgoing = recovery_block(edc ? ReceiveError::edc_or_parity : ReceiveError::other);
      continue;
    }
    const BlockView& block = *parsed.block;
    const auto protocol_error = [&]() -> bool {
      if (!count_failure(LineFault::protocol_error, result)) return false;
      outgoing = recovery_block(ReceiveError::other);
      return true;
    };

    switch (block.kind()) {
      case BlockKind::information: {
        const bool in_turn = phase_ == Phase::receiving ||
                             (phase_ == Phase::sending && !chunk_more_);
        if (!in_turn || block.sequence() != expected_sequence_ || block.inf.size() > ifsd_) {
          if (!protocol_error()) return Step::resynchronise;
          continue;
        }
        // ISO 7816-3 11.6.2 rule 2: the card's I-block acknowledges our last I-block.
        if (phase_ == Phase::sending) send_sequence_ ^= 1;
        expected_sequence_ ^= 1;
        failures_ = 0;
        if (result.response.size() + block.inf.size() > parameters_.max_response_length) {
          // Stop the card's chain (ISO 7816-3 11.6.3 rule 9); its answer is not awaited.
          const auto abort = make_s_block(parameters_.nad, SupervisoryType::abort, false,
                                          parameters_.edc);
          ++statistics_.blocks_sent;
          (void)channel(abort);
          result.error = TransmitError::response_too_long;
          result.response.clear();
          return Step::done;
        }
        result.response.insert(result.response.end(), block.inf.begin(), block.inf.end());
        if (block.more()) {
          // ISO 7816-3 11.6.2 rule 5: acknowledge a chained block with N(R) of the next one.
          phase_ = Phase::receiving;
          set_pending(Pending::acknowledgement,
                      pcb_receive_ready(expected_sequence_, ReceiveError::none), {});
          outgoing = &pending_block_;
          continue;
        }
        return Step::done;
      }

      case BlockKind::receive_ready: {
        const bool about_our_i_block =
            phase_ == Phase::sending &&
            (pending_ == Pending::i_block ||
             (pending_ == Pending::s_response && block.receive_error() == ReceiveError::none));
        if (!about_our_i_block) {
          // The card did not receive our last R- or S-block: send it again.
          if (!count_failure(LineFault::retransmission, result)) return Step::resynchronise;
          outgoing = &pending_block_;
          continue;
        }
        if (block.sequence() == send_sequence_) {
          // ISO 7816-3 11.6.3 rule 7: R(N(R)) naming our I-block asks for it again.
          if (!count_failure(LineFault::retransmission, result)) return Step::resynchronise;
          pending_ = Pending::i_block;
          outgoing = &i_block_;
          continue;
        }
        if (!chunk_more_) {  // nothing follows the last block of the chain
          if (!protocol_error()) return Step::resynchronise;
          continue;
        }
        // ISO 7816-3 11.6.2 rule 5: the card acknowledges a chained block; send the next.
        send_sequence_ ^= 1;
        failures_ = 0;
        chunk_offset_ += chunk_size_;
        prepare_chunk(apdu);
        outgoing = &i_block_;
        continue;
      }

      case BlockKind::supervisory: {
        const auto type = block.supervisory_type();
        if (block.is_response()) {
          const bool ifs_answer = phase_ == Phase::negotiating_ifsd &&
                                  type == SupervisoryType::ifs &&
                                  block.parameter() == parameters_.ifsd;
          if (!ifs_answer) {
            if (!protocol_error()) return Step::resynchronise;
            continue;
          }
          ifsd_ = parameters_.ifsd;
          ifsd_negotiated_ = true;
          failures_ = 0;
          chunk_offset_ = 0;
          prepare_chunk(apdu);
          outgoing = &i_block_;
          continue;
        }
        if (type == SupervisoryType::wtx || type == SupervisoryType::ifs) {
          if (++card_requests_ > parameters_.max_card_requests) {
            result.error = TransmitError::too_many_card_requests;
            result.response.clear();
            return Step::done;
          }
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
          outgoing = &pending_block_;
          continue;
        }
        if (type == SupervisoryType::abort) {
          const auto answer = make_s_block(parameters_.nad, SupervisoryType::abort, true,
                                           parameters_.edc);
          ++statistics_.blocks_sent;
          (void)channel(answer);
          result.error = TransmitError::aborted_by_card;
          result.response.clear();
          return Step::done;
        }
        // S(RESYNCH request) comes only from the interface device, ISO 7816-3 11.6.3 rule 6.
        if (!protocol_error()) return Step::resynchronise;
        continue;
      }
    }
  }
}

bool InterfaceSide::resynchronise(const Channel& channel) {
  const auto request = make_s_block(parameters_.nad, SupervisoryType::resynch, false,
                                    parameters_.edc);
  while (resynch_requests_ < parameters_.max_resynch_requests) {
    ++resynch_requests_;
    ++statistics_.resynch_requests;
    ++statistics_.blocks_sent;
    const auto reply = channel(request);
    if (!reply) continue;
    const auto parsed = parse_block(*reply, parameters_.edc);
    if (parsed.block && parsed.block->kind() == BlockKind::supervisory &&
        parsed.block->is_response() &&
        parsed.block->supervisory_type() == SupervisoryType::resynch) {
      reset();  // ISO 7816-3 11.6.3 rule 6: both sides start again from the initial state
      return true;
    }
  }
  return false;
}

}  // namespace readerlab::cards::t1
