package redisstate

import "github.com/redis/go-redis/v9"

// Records are stored in one hash, field = breaker name, value = the
// record's fields joined by the unit separator (0x1f), which neither a
// breaker name nor a replica id may contain:
//
//	epoch, state ("o" or "c"), until (server ms), reason, flags ("f"
//	forced, "c" cluster, or "-"), written (server µs), by
//
// A message is "1", the server's time in ms, the name and the record,
// joined the same way. Epochs are max(stored+1, server µs): they grow for a
// name, also after a restart that lost the data. Numbers are formatted with
// %.0f: Lua's tostring would print a µs time in exponent form.
const luaHelpers = `
local US = string.char(31)
local function split(s)
  local out, i = {}, 1
  while true do
    local j = string.find(s, US, i, true)
    if not j then out[#out + 1] = string.sub(s, i); return out end
    out[#out + 1] = string.sub(s, i, j - 1)
    i = j + 1
  end
end
local function num(x) return string.format('%.0f', x) end
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
`

// proposeScript applies sharedstate.Store's Propose rules atomically and
// publishes what it writes.
//
// KEYS: rec hash, version, votes of this name.
// ARGV: name, to ("o"/"c"), base, open_for_ms, forced ("1"/"0"), reason,
// by, quorum, window_ms, channel.
// Returns {outcome, record or "", now_ms}.
var proposeScript = redis.NewScript(luaHelpers + `
local name, to, base, forced, by = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[5] == '1', ARGV[7]
local cur = redis.call('HGET', KEYS[1], name)
local c_epoch, c_state, c_until, c_forced = 0, '', 0, false
if cur then
  local f = split(cur)
  c_epoch, c_state, c_until = tonumber(f[1]), f[2], tonumber(f[3])
  c_forced = string.find(f[5], 'f', 1, true) ~= nil
end
local function reply(outcome, rec) return {outcome, rec or '', num(now_ms)} end
local function write(state, until_ms, flags)
  local epoch = math.max(c_epoch + 1, now_us)
  local rec = table.concat({num(epoch), state, num(until_ms), ARGV[6], flags, num(now_us), by}, US)
  redis.call('HSET', KEYS[1], name, rec)
  local v = tonumber(redis.call('GET', KEYS[2]) or '0')
  redis.call('SET', KEYS[2], num(math.max(v + 1, epoch)))
  redis.call('PUBLISH', ARGV[10], table.concat({'1', num(now_ms), name, rec}, US))
  return reply('written', rec)
end
local c_open = cur and c_state == 'o'
if forced then
  redis.call('DEL', KEYS[3])
  return write(to, 0, 'f')
end
if to == 'o' then
  if c_open and (c_forced or c_until > now_ms) and (base == 0 or base ~= c_epoch or c_forced) then
    return reply('joined', cur)
  end
  local flags = '-'
  local quorum = tonumber(ARGV[8])
  if quorum > 1 then
    local window = tonumber(ARGV[9])
    redis.call('HSET', KEYS[3], by, num(now_ms))
    local votes = redis.call('HGETALL', KEYS[3])
    local n = 0
    for i = 1, #votes, 2 do
      if now_ms - tonumber(votes[i + 1]) > window then
        redis.call('HDEL', KEYS[3], votes[i])
      else
        n = n + 1
      end
    end
    if n < quorum then
      redis.call('PEXPIRE', KEYS[3], window)
      return reply('voted', cur)
    end
    redis.call('DEL', KEYS[3])
    flags = 'c'
  end
  return write('o', now_ms + tonumber(ARGV[4]), flags)
end
redis.call('HDEL', KEYS[3], by)
if c_open and not c_forced and c_epoch == base then
  return write('c', 0, '-')
end
return reply('refused', cur)
`)

// snapshotScript returns {version, now_ms, unchanged (1/0), records
// (HGETALL) unless unchanged}.
//
// KEYS: rec hash, version. ARGV: since.
var snapshotScript = redis.NewScript(luaHelpers + `
local v = redis.call('GET', KEYS[2]) or '0'
if ARGV[1] ~= '0' and ARGV[1] == v then
  return {v, num(now_ms), 1}
end
return {v, num(now_ms), 0, redis.call('HGETALL', KEYS[1])}
`)
