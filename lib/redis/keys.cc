// The generated Lua prelude of key names (see keys.h).
#include "lib/redis/keys.h"

#include "absl/strings/str_cat.h"

namespace pwgrid::internal {

std::string LuaKeyPrelude() {
  struct Name {
    const char* lua;
    const char* value;
  };
  static constexpr Name kNames[] = {
      {"WORKER_PREFIX", kWorkerKeyPrefix},
      {"COMMAND_PREFIX", kCommandKeyPrefix},
      {"ACTIVE", kActiveHash},
      {"LIFETIME", kLifetimeHash},
      {"LEASES", kLeasesKey},
      {"CAPACITY", kCapacityChannel},
      {"UNREACHABLE", kUnreachableHash},
      {"INDEXED", kIndexedKey},
      {"INDEX_PREFIX", kIndexPrefix},
      {"KNOWN_PREFIX", kKnownPrefix},
      {"DRAINING_PREFIX", kDrainingPrefix},
      {"GROUPS_PREFIX", kGroupsPrefix},
      {"WORKER_GROUP", kWorkerGroupHash},
      {"QUEUE_GROUPS", kQueueGroupsKey},
      {"TENANT_PREFIX", kTenantPrefix},
      {"SESSIONS", kSessionsHash},
      {"QUEUE_PREFIX", kQueuePrefix},
      {"TICKETS", kTicketsHash},
      {"TICKET_EXPIRY", kTicketExpiryKey},
      {"QUEUE_SEQ", kQueueSeqKey},
      {"GRANTS_PREFIX", kGrantsPrefix},
      {"GRANT_CHANNEL_PREFIX", kGrantChannelPrefix},
  };
  std::string out = "-- Key names, generated from lib/redis/keys.h.\n";
  for (const Name& n : kNames) absl::StrAppend(&out, "local ", n.lua, " = '", n.value, "'\n");
  absl::StrAppend(&out, "local SHUTTING_DOWN_TTL = ", kShuttingDownTtlSeconds, "\n");
  return out;
}

}  // namespace pwgrid::internal
