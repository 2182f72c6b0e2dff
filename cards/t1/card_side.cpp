#include "cards/t1/card_side.h"

#include <algorithm>
#include <utility>

namespace readerlab::cards::t1 {

CardSide::CardSide(ApduHandler handler, std::uint8_t ifsc, EdcKind edc, CardParameters parameters)
    : handler_(std::move(handler)),
      initial_ifsc_(std::clamp<std::uint8_t>(ifsc, 1, kMaxInfSize)),
      edc_(edc),
      parameters_(parameters),
      garbage_generator_(parameters.garbage_seed),
      ifsc_(initial_ifsc_) {
  last_block_.reserve(kPrologueSize + kMaxInfSize + 2);
  last_i_block_.reserve(kPrologueSize + kMaxInfSize + 2);
}

void CardSide::reset() {
  deactivated_ = false;
  ifsc_requested_ = false;
  restore_initial_parameters();
}

void CardSide::restore_initial_parameters() {
  ifsc_ = initial_ifsc_;
  ifsd_ = kDefaultIfs;
  expected_sequence_ = 0;
  send_sequence_ = 0;
  last_i_sequence_ = 0;
  command_.clear();
  response_.clear();
  response_sent_ = 0;
  response_chaining_ = false;
  awaiting_ = Awaiting::nothing;
  i_block_unacknowledged_ = false;
  last_block_.clear();
  outgoing_ = &last_block_;
}

std::optional<Bytes> CardSide::receive(std::span<const std::uint8_t> block) {
  if (deactivated_) return std::nullopt;
  if (faults_.drop_off_after_blocks) {
    if (*faults_.drop_off_after_blocks == 0) {
      deactivated_ = true;
      faults_.drop_off_after_blocks.reset();
      return std::nullopt;
    }
    --*faults_.drop_off_after_blocks;
  }
  if (faults_.mute_blocks > 0) {
    --faults_.mute_blocks;
    return std::nullopt;
  }
  ++blocks_received_;
  silent_ = false;
  const auto parsed = parse_block(block, edc_);
  if (!parsed.block) {
    last_parse_error_ = parsed.error;
    // ISO 7816-3 11.6.3 rule 7: an invalid block is answered with an R-block whose error bits say
    // whether the EDC (or parity) was wrong or something else.
    send_error(parsed.error == BlockError::bad_edc ? ReceiveError::edc_or_parity : ReceiveError::other);
  } else {
    handle(*parsed.block);
  }
  return emit();
}

std::optional<Bytes> CardSide::emit() {
  if (silent_) return std::nullopt;
  if (faults_.garbage_blocks > 0) {
    --faults_.garbage_blocks;
    Bytes garbage(1 + garbage_generator_() % 16);
    for (auto& byte : garbage) byte = static_cast<std::uint8_t>(garbage_generator_());
    return garbage;
  }
  Bytes out = *outgoing_;
  if (faults_.corrupt_edc_blocks > 0) {
    --faults_.corrupt_edc_blocks;
    out.back() ^= 0x5A;
  }
  return out;
}

void CardSide::handle(const BlockView& block) {
  reply_nad_ = answer_nad(block.nad);
  switch (block.kind()) {
    case BlockKind::information: handle_information(block); break;
    case BlockKind::receive_ready: handle_receive_ready(block); break;
    case BlockKind::supervisory: handle_supervisory(block); break;
  }
}

void CardSide::handle_information(const BlockView& block) {
  // An I-block is out of turn while the card waits for an S-response or for the R-block
  // acknowledging its chained answer; it must carry the expected N(S) and fit in IFSC.
  if (awaiting_ != Awaiting::nothing || response_chaining_ || block.sequence() != expected_sequence_ ||
      block.inf.size() > ifsc_ || command_.size() + block.inf.size() > parameters_.max_command_length) {
    send_error(ReceiveError::other);
    return;
  }
  expected_sequence_ ^= 1;          // ISO 7816-3 11.6.2 rule 2: N(S) counts modulo 2
  i_block_unacknowledged_ = false;  // an I-block from the interface device acknowledges the card's
  command_.insert(command_.end(), block.inf.begin(), block.inf.end());
  if (block.more()) {
    // ISO 7816-3 11.6.2 rule 5, chaining: acknowledge with N(R) = N(S) of the next I-block.
    send(Sent::r_block, pcb_receive_ready(expected_sequence_, ReceiveError::none), {});
    return;
  }
  response_ = handler_(command_);
  command_.clear();
  ++apdus_handled_;
  if (response_.empty()) {
    silent_ = true;  // the application does not answer; the block was still received
    return;
  }
  start_answer();
}

void CardSide::start_answer() {
  response_sent_ = 0;
  if (parameters_.request_ifsc && !ifsc_requested_) {
    ifsc_requested_ = true;
    awaiting_ = Awaiting::ifs_response;
    awaited_parameter_ = std::clamp<std::uint8_t>(*parameters_.request_ifsc, 1, kMaxInfSize);
    const std::uint8_t inf[1] = {awaited_parameter_};
    send(Sent::s_request, pcb_supervisory(SupervisoryType::ifs, false), inf);
    return;
  }
  continue_answer();
}

void CardSide::continue_answer() {
  std::uint8_t multiplier = parameters_.wtx_before_every_answer;
  if (faults_.wtx_before_next_answer) {
    multiplier = *faults_.wtx_before_next_answer;
    faults_.wtx_before_next_answer.reset();
  }
  if (multiplier != 0) {
    awaiting_ = Awaiting::wtx_response;
    awaited_parameter_ = multiplier;
    const std::uint8_t inf[1] = {multiplier};
    send(Sent::s_request, pcb_supervisory(SupervisoryType::wtx, false), inf);
    return;
  }
  awaiting_ = Awaiting::nothing;
  send_response_chunk();
}

void CardSide::send_response_chunk() {
  const std::size_t left = response_.size() - response_sent_;
  const std::size_t size = std::min<std::size_t>(left, ifsd_);
  const bool more = size < left;
  last_i_sequence_ = send_sequence_;
  send_sequence_ ^= 1;
  send(Sent::i_block, pcb_information(last_i_sequence_, more),
       std::span<const std::uint8_t>(response_).subspan(response_sent_, size));
  response_sent_ += size;
  response_chaining_ = more;
  if (!more) response_.clear();
}

void CardSide::handle_receive_ready(const BlockView& block) {
  if (response_chaining_ && block.sequence() == send_sequence_) {
    // ISO 7816-3 11.6.2 rule 5: R(N(R)) naming the card's next N(S) acknowledges the chained block.
    send_response_chunk();
    return;
  }
  // ISO 7816-3 11.6.3 rule 7: the interface device did not receive the card's block; send it again.
  if (i_block_unacknowledged_ && block.sequence() == last_i_sequence_) {
    send_again(last_i_block_);
    return;
  }
  if (awaiting_ != Awaiting::nothing) {
    send_again(request_block_);
    return;
  }
  // Otherwise the interface device waits for an I-block the card has not received: name it.
  send(Sent::r_block, pcb_receive_ready(expected_sequence_, ReceiveError::none), {});
}

void CardSide::handle_supervisory(const BlockView& block) {
  const auto type = block.supervisory_type();
  if (block.is_response()) {
    const bool expected = (awaiting_ == Awaiting::ifs_response && type == SupervisoryType::ifs) ||
                          (awaiting_ == Awaiting::wtx_response && type == SupervisoryType::wtx);
    // ISO 7816-3 11.6.2 rules 3 and 4: the response repeats the INF of the request.
    if (!expected || block.parameter() != awaited_parameter_) {
      send_error(ReceiveError::other);
      return;
    }
    if (awaiting_ == Awaiting::ifs_response) {
      ifsc_ = awaited_parameter_;
      continue_answer();
    } else {
      awaiting_ = Awaiting::nothing;
      send_response_chunk();
    }
    return;
  }
  switch (type) {
    case SupervisoryType::resynch:
      // ISO 7816-3 11.6.3 rule 6: resynchronisation restores the initial state of the protocol.
      restore_initial_parameters();
      send(Sent::s_response, pcb_supervisory(type, true), {});
      return;
    case SupervisoryType::ifs:
      ifsd_ = block.parameter();  // ISO 7816-3 11.4.2: the interface device announces IFSD
      send(Sent::s_response, pcb_supervisory(type, true), block.inf);
      return;
    case SupervisoryType::abort:
      // ISO 7816-3 11.6.3 rule 9: abort a chain in either direction.
      command_.clear();
      response_.clear();
      response_chaining_ = false;
      awaiting_ = Awaiting::nothing;
      send(Sent::s_response, pcb_supervisory(type, true), {});
      return;
    case SupervisoryType::wtx:        // only a card asks for waiting time
    case SupervisoryType::vpp_error:  // only a card reports it
      break;
  }
  send_error(ReceiveError::other);
}

void CardSide::send_error(ReceiveError error) { send(Sent::r_block, pcb_receive_ready(expected_sequence_, error), {}); }

void CardSide::send(Sent kind, std::uint8_t pcb, std::span<const std::uint8_t> inf) {
  Bytes& target = kind == Sent::i_block ? last_i_block_ : kind == Sent::s_request ? request_block_ : last_block_;
  encode_block(target, reply_nad_, pcb, inf, edc_);
  if (kind == Sent::i_block) i_block_unacknowledged_ = true;
  outgoing_ = &target;
}

void CardSide::send_again(const Bytes& block) { outgoing_ = &block; }

}  // namespace readerlab::cards::t1
