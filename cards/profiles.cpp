#include "cards/profiles.h"

namespace readerlab::cards {
namespace {

// F0 is a proprietary, unregistered RID category, ISO 7816-5 5.2; then "readerlab" 01.
const Bytes kReaderlabAid = {0xF0, 0x72, 0x65, 0x61, 0x64, 0x65, 0x72, 0x6C, 0x61, 0x62, 0x01};

constexpr std::uint16_t kTagCardProductionLifeCycle = 0x9F7F;  // as GET DATA P1-P2
constexpr std::uint16_t kTagHistoricalBytes = 0x5F52;          // ISO 7816-4 8.1.1

Bytes ascii(std::string_view text) { return Bytes(text.begin(), text.end()); }

// Historical bytes as the ATR carries them: everything after interface bytes, before TCK.
Bytes historical_of(const Bytes& atr, std::size_t first_historical) {
  const std::size_t count = atr[1] & 0x0F;
  return Bytes(atr.begin() + static_cast<std::ptrdiff_t>(first_historical),
               atr.begin() + static_cast<std::ptrdiff_t>(first_historical + count));
}

// The application, files and PIN every readerlab file-system card carries, so a test can
// run the same APDUs over T=0 and T=1.
CardProfile file_system_card(std::string name, std::string description, Bytes atr,
                             std::size_t first_historical, std::vector<Protocol> protocols,
                             std::uint64_t challenge_seed) {
  CardProfile profile;
  profile.name = std::move(name);
  profile.description = std::move(description);
  profile.atr = std::move(atr);
  profile.protocols = std::move(protocols);
  profile.applications.push_back(CardApplication{
      kReaderlabAid, "readerlab",
      // Application priority indicator 87 (ISO 7816-5 / EMV usage), priority 1.
      Bytes{0x87, 0x01, 0x01}});

  ElementaryFile counting_file;
  counting_file.fid = 0x0101;
  counting_file.sfi = 1;
  counting_file.contents.resize(256);
  for (std::size_t i = 0; i < counting_file.contents.size(); ++i) {
    counting_file.contents[i] = static_cast<std::uint8_t>(i);  // byte i holds i: easy to check
  }
  profile.files.push_back(counting_file);

  ElementaryFile protected_file;
  protected_file.fid = 0x0102;
  protected_file.sfi = 2;
  protected_file.contents.assign(16, 0x00);
  protected_file.update_needs_pin = true;
  profile.files.push_back(protected_file);

  profile.data_objects.push_back(
      {kTagCardProductionLifeCycle, ascii("readerlab " + profile.name + " serial 00000001")});
  profile.data_objects.push_back(
      {kTagHistoricalBytes, historical_of(profile.atr, first_historical)});

  profile.pin = ascii("1234");
  profile.pin_tries = 3;
  profile.challenge_seed = challenge_seed;
  return profile;
}

std::vector<CardProfile> all_profiles() {
  std::vector<CardProfile> profiles;

  // 3B  TS direct convention
  // 9B  T0: TA1 TD1, 11 historical bytes
  // 13  TA1: Fi=372 Di=4
  // 81  TD1: TD2 follows, T=1
  // 31  TD2: TA3 TB3 follow, T=1
  // FE  TA3: IFSC 254
  // 45  TB3: BWI=4 CWI=5
  // 80 59 "readerlab"  category 80, COMPACT-TLV card issuer's data (tag 5, length 9)
  // 30  TCK
  profiles.push_back(file_system_card(
      "t1-fs", "T=1 only; ISO 7816-4 application and transparent EFs under the MF",
      {0x3B, 0x9B, 0x13, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x59, 0x72, 0x65, 0x61, 0x64, 0x65,
       0x72, 0x6C, 0x61, 0x62, 0x30},
      7, {Protocol::t1}, 0x7431));

  // 3B  TS; 0A  T0: no interface bytes (T=0 only, so no TCK), 10 historical bytes
  // 80 58 "t0-basic"  category 80, COMPACT-TLV card issuer's data (tag 5, length 8)
  profiles.push_back(file_system_card(
      "t0-basic", "T=0 only, default parameters; same application and files as t1-fs",
      {0x3B, 0x0A, 0x80, 0x58, 0x74, 0x30, 0x2D, 0x62, 0x61, 0x73, 0x69, 0x63}, 2,
      {Protocol::t0}, 0x7430));

  // 3B  TS; 87  T0: TD1, 7 historical bytes
  // 80  TD1: TD2 follows, T=0;  31  TD2: TA3 TB3 follow, T=1
  // 80  TA3: IFSC 128;  45  TB3: BWI=4 CWI=5
  // 80 55 "t0-t1"  category 80, card issuer's data;  0A  TCK
  profiles.push_back(file_system_card(
      "t0-t1", "T=0 and T=1 offered (T=0 first), for protocol selection and PPS",
      {0x3B, 0x87, 0x80, 0x31, 0x80, 0x45, 0x80, 0x55, 0x74, 0x30, 0x2D, 0x74, 0x31, 0x0A},
      6, {Protocol::t0, Protocol::t1}, 0x7401));

  CardProfile mute;
  mute.name = "mute";
  mute.description = "never answers the reset (no ATR): a dead or inverted card";
  mute.mute = true;
  profiles.push_back(mute);

  return profiles;
}

}  // namespace

std::vector<ProfileInfo> builtin_profiles() {
  std::vector<ProfileInfo> infos;
  for (const auto& profile : all_profiles()) infos.push_back({profile.name, profile.description});
  return infos;
}

std::optional<CardProfile> builtin_profile(std::string_view name) {
  for (auto& profile : all_profiles()) {
    if (profile.name == name) return std::move(profile);
  }
  return std::nullopt;
}

std::unique_ptr<Card> make_builtin_card(std::string_view name) {
  auto profile = builtin_profile(name);
  if (!profile) return nullptr;
  return std::make_unique<IsoCard>(std::move(*profile));
}

std::optional<Bytes> builtin_atr(std::string_view name) {
  auto profile = builtin_profile(name);
  if (!profile || profile->mute) return std::nullopt;
  return profile->atr;
}

}  // namespace readerlab::cards
