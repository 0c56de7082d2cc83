/**
 * The Lua shared by every transition of the Valkey/Redis store. Each script runs atomically on the
 * server, so a transition is one step for all replicas. Conventions:
 * - KEYS[1] is the key prefix; it carries a hash tag (`{...}`), so every key of the relay lives in one
 *   cluster slot and a script may touch keys it derives itself.
 * - ARGV[1] is the caller's wall clock (ms), ARGV[2] the terminal-record TTL, ARGV[3] the tombstone
 *   TTL; a script's own arguments start at ARGV[4] (A[1] below).
 * - Public keys and request ids never appear in key names: `nh` is sha1(node key), `ch` sha1(client
 *   key), `rk` sha1(client key NUL request id).
 * - Logical expiry follows the caller's clock (`exp` fields checked against NOW); every key also has a
 *   real TTL a margin (KEEP) past it, so state left behind when every replica is gone disappears.
 * - P..'bytes' counts the ciphertext held (requests and unretrieved answers), bounding Valkey's memory.
 * - A script returns cjson of a table: `r` (its result) and `ev` (requests it ended, for metrics).
 */
export const LUA_LIB = `
local P = KEYS[1]
local NOW = tonumber(ARGV[1])
local TERM_TTL = tonumber(ARGV[2])
local TOMB_TTL = tonumber(ARGV[3])
local A = {}
for i = 4, #ARGV do A[#A + 1] = ARGV[i] end
local KEEP = 3600000
local EV = {}

local function H(s) return redis.sha1hex(s) end
local function nodeK(nh) return P .. 'node:' .. nh end
local function queueK(nh) return P .. 'q:' .. nh end
local function flightK(nh) return P .. 'if:' .. nh end
local function flightRkK(nh) return P .. 'ifrk:' .. nh end
local function liveK(rk) return P .. 'live:' .. rk end
local function respK(rk) return P .. 'resp:' .. rk end
local function progK(rk) return P .. 'prog:' .. rk end
local function termK(rk) return P .. 'term:' .. rk end
local function doneK(rk) return P .. 'done:' .. rk end
local function clientRespK(ch) return P .. 'cresp:' .. ch end
local function tombK(nh, rid) return P .. 'tomb:' .. H(nh .. '\\0' .. rid) end
local function requestK(ck, rid) return H(ck .. '\\0' .. rid) end

local function publish(nh) redis.call('PUBLISH', P .. 'wake', nh) end

local function alive(key)
  local exp = redis.call('HGET', key, 'exp')
  return exp and tonumber(exp) > NOW
end

local function setExpiring(key, ttl, ...)
  redis.call('HSET', key, 'exp', NOW + ttl, ...)
  redis.call('PEXPIRE', key, ttl + KEEP)
end

-- Keys shared by all nodes or requests live at least as long as what they index.
local function keepAtLeast(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end

local function active(nh)
  return redis.call('ZCOUNT', flightK(nh), '(' .. NOW, '+inf')
end

-- The per-node keys live as long as the node's record.
local function followNode(nh)
  local ttl = redis.call('PTTL', nodeK(nh))
  if ttl > 0 then
    redis.call('PEXPIRE', queueK(nh), ttl)
    redis.call('PEXPIRE', flightK(nh), ttl)
    redis.call('PEXPIRE', flightRkK(nh), ttl)
  end
end

local function renewNode(nh, leaseSeconds)
  local ttl = math.max(leaseSeconds, 1) * 1000 + KEEP
  redis.call('PEXPIRE', nodeK(nh), ttl)
  keepAtLeast(P .. 'nodes', ttl)
  keepAtLeast(P .. 'order', ttl)
  followNode(nh)
end

local function isStale(fields)
  local polling = tonumber(fields.polling)
  if polling and polling > NOW then return false end
  return NOW - tonumber(fields.lastSeen) > math.max(tonumber(fields.lease), 1) * 1000
end

local NODE_FIELDS = { 'pk', 'caps', 'digest', 'order', 'registeredAt', 'lastSeen', 'lease', 'polling' }
local function readNode(nh)
  local values = redis.call('HMGET', nodeK(nh), unpack(NODE_FIELDS))
  if not values[1] then return nil end
  local fields = {}
  for i, name in ipairs(NODE_FIELDS) do fields[name] = values[i] end
  return fields
end

-- Removes a live request from its node's queue or in-flight set and frees its capacity.
local function detach(rk, nh, rid)
  local size = redis.call('HGET', liveK(rk), 'size')
  if size then redis.call('DECRBY', P .. 'bytes', size) end
  redis.call('DEL', liveK(rk))
  redis.call('ZREM', P .. 'deadlines', rk)
  redis.call('LREM', queueK(nh), 1, rk)
  if redis.call('HGET', flightRkK(nh), rid) == rk then
    redis.call('ZREM', flightK(nh), rid)
    redis.call('HDEL', flightRkK(nh), rid)
  end
  publish(nh)
end

-- Ends a live request as cancelled or expired; returns 1 when it was still queued. A request a node
-- was working on leaves a tombstone, so the node's control call learns to stop.
local function terminate(rk, status, reason)
  redis.call('DEL', progK(rk))
  local live = redis.call('HMGET', liveK(rk), 'state', 'nh', 'rid', 'deadline')
  if not live[1] then return 0 end
  local wasQueued = live[1] == 'queued'
  local nh, rid = live[2], live[3]
  local digest = redis.call('HGET', nodeK(nh), 'digest')
  detach(rk, nh, rid)
  if not wasQueued and digest then
    setExpiring(tombK(nh, rid), TOMB_TTL, 'status', status, 'deadline', live[4], 'owner', digest)
  end
  if not alive(termK(rk)) then
    setExpiring(termK(rk), TERM_TTL, 'status', status, 'reason', reason)
    EV[#EV + 1] = { status, reason }
  end
  return wasQueued and 1 or 0
end

local function dropResponse(rk, ch)
  local size = redis.call('HGET', respK(rk), 'size')
  if size then redis.call('DECRBY', P .. 'bytes', size) end
  redis.call('DEL', respK(rk))
  redis.call('ZREM', P .. 'respidx', rk)
  redis.call('ZREM', clientRespK(ch), rk)
end

-- A node leaves: its queued requests are cancelled, its in-flight ones tombstoned and cancelled.
local function dropNode(nh)
  for _, rk in ipairs(redis.call('LRANGE', queueK(nh), 0, -1)) do terminate(rk, 'cancelled', 'server_unregistered') end
  for _, rk in ipairs(redis.call('HVALS', flightRkK(nh))) do terminate(rk, 'cancelled', 'server_unregistered') end
  redis.call('DEL', nodeK(nh), queueK(nh), flightK(nh), flightRkK(nh))
  redis.call('ZREM', P .. 'nodes', nh)
  publish(nh)
end

local function reply(result)
  result.ev = EV
  return cjson.encode(result)
end
`;
