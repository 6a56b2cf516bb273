// The Lua scripts of the Redis registry: lib/redis/lua/*.lua, embedded at build time
// (lib/redis/embed_lua.py), each run as the key names (keys.h), the shared helpers
// (lua/prelude.lua) and its own body. Internal header.
//
// Every script takes no KEYS and names upstream's keys itself, as upstream's selector does (so
// none of them is Redis Cluster safe; neither is upstream). Times are Redis TIME in Unix ms, so
// all proxies share one clock. keys.h describes the keys and the selection index; each script's
// arguments and reply are described at its top.
#ifndef PWGRID_LIB_REDIS_SCRIPTS_H_
#define PWGRID_LIB_REDIS_SCRIPTS_H_

#include "lib/common/internal.h"

#include <string>

#include "lib/redis/keys.h"
#include "lib/redis/lua_scripts.h"

namespace pwgrid::internal {

// The complete source of a script: key names, helpers, `body` (one of the kLua* of
// lua_scripts.h).
inline std::string WithPrelude(const char* body) {
  return LuaKeyPrelude() + kLuaPrelude + "\n" + body;
}

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_REDIS_SCRIPTS_H_
