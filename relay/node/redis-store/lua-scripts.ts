/** One Lua script per transition of the store (the shared helpers are in lua-lib.ts). */
import { LUA_LIB } from './lua-lib.ts';

const SCRIPTS = {
  // A: pk, caps json, max_concurrency, lease seconds, credential digest, max nodes
  register: `
local nh = H(A[1])
local lease = tonumber(A[4])
if redis.call('EXISTS', nodeK(nh)) == 1 then
  redis.call('HSET', nodeK(nh), 'lastSeen', NOW, 'caps', A[2], 'maxc', A[3], 'lease', lease)
  renewNode(nh, lease)
  publish(nh)
  return reply({ r = 'updated' })
end
if redis.call('ZCARD', P .. 'nodes') >= tonumber(A[6]) then return reply({ r = 'full' }) end
local order = redis.call('INCR', P .. 'order') - 1
redis.call('HSET', nodeK(nh), 'pk', A[1], 'caps', A[2], 'maxc', A[3], 'digest', A[5], 'order', order,
  'registeredAt', NOW, 'lastSeen', NOW, 'lease', lease, 'polling', '')
redis.call('ZADD', P .. 'nodes', order, nh)
renewNode(nh, lease)
return reply({ r = 'created' })
`,
  // A: pk, caps json or '', max_concurrency or '', lease seconds, polling-until or ''
  touch: `
local nh = H(A[1])
if redis.call('EXISTS', nodeK(nh)) == 0 then return reply({ r = 'unknown' }) end
redis.call('HSET', nodeK(nh), 'lastSeen', NOW, 'lease', A[4], 'polling', A[5])
if A[2] ~= '' then redis.call('HSET', nodeK(nh), 'caps', A[2], 'maxc', A[3]) end
renewNode(nh, tonumber(A[4]))
return reply({ r = 'ok' })
`,
  nodes: `
local list = {}
for _, nh in ipairs(redis.call('ZRANGE', P .. 'nodes', 0, -1)) do
  local fields = readNode(nh)
  if fields then
    fields.queueDepth = redis.call('LLEN', queueK(nh))
    fields.inFlight = active(nh)
    list[#list + 1] = fields
  else
    redis.call('ZREM', P .. 'nodes', nh)
  end
end
return reply({ r = 'ok', nodes = list })
`,
  // A: pk, owner digest ('' with A[3] = 'evict')
  unregister: `
local nh = H(A[1])
local digest = redis.call('HGET', nodeK(nh), 'digest')
if not digest then return reply({ r = 'absent' }) end
if A[3] ~= 'evict' and (A[2] == '' or A[2] ~= digest) then return reply({ r = 'forbidden' }) end
dropNode(nh)
return reply({ r = 'removed' })
`,
  // A: node pk, client pk, request id, work json, deadline, cancel token or '', max queue depth, size, max stored bytes
  enqueue: `
local nh, rid = H(A[1]), A[3]
local rk = requestK(A[2], rid)
if redis.call('EXISTS', nodeK(nh)) == 0 then return reply({ r = 'unknown_node' }) end
local existing = redis.call('HGET', liveK(rk), 'deadline')
if existing then return reply({ r = 'duplicate', deadline = tonumber(existing) }) end
if alive(termK(rk)) or alive(respK(rk)) or alive(doneK(rk)) then return reply({ r = 'finished' }) end
if redis.call('LLEN', queueK(nh)) >= tonumber(A[7]) then return reply({ r = 'queue_full' }) end
local size = tonumber(A[8])
if tonumber(redis.call('GET', P .. 'bytes') or 0) + size > tonumber(A[9]) then return reply({ r = 'storage_full' }) end
local deadline = tonumber(A[5])
redis.call('HSET', liveK(rk), 'work', A[4], 'state', 'queued', 'nh', nh, 'rid', rid, 'ch', H(A[2]),
  'deadline', deadline, 'cancel', A[6], 'size', size)
redis.call('INCRBY', P .. 'bytes', size)
keepAtLeast(P .. 'bytes', math.max(deadline - NOW, 1) + KEEP)
redis.call('PEXPIRE', liveK(rk), math.max(deadline - NOW, 1) + KEEP)
redis.call('RPUSH', queueK(nh), rk)
redis.call('ZADD', P .. 'deadlines', deadline, rk)
keepAtLeast(P .. 'deadlines', math.max(deadline - NOW, 1) + KEEP)
followNode(nh)
publish(nh)
return reply({ r = 'queued', deadline = deadline })
`,
  // A: node pk, in-flight ttl ms
  claim: `
local nh = H(A[1])
local maxc = redis.call('HGET', nodeK(nh), 'maxc')
if not maxc then return reply({ r = 'unknown_node' }) end
maxc = tonumber(maxc)
for _, rk in ipairs(redis.call('LRANGE', queueK(nh), 0, -1)) do
  if active(nh) >= maxc then return reply({ r = 'none' }) end
  local live = redis.call('HMGET', liveK(rk), 'work', 'rid', 'deadline')
  local deadline = tonumber(live[3])
  if not live[1] then
    redis.call('LREM', queueK(nh), 1, rk)
  elseif deadline <= NOW then
    terminate(rk, 'expired', 'provider_timeout')
  elseif not redis.call('ZSCORE', flightK(nh), live[2]) then
    redis.call('LREM', queueK(nh), 1, rk)
    redis.call('ZADD', flightK(nh), math.min(NOW + tonumber(A[2]), deadline), live[2])
    redis.call('HSET', flightRkK(nh), live[2], rk)
    redis.call('HSET', liveK(rk), 'state', 'in_flight')
    followNode(nh)
    return reply({ r = 'work', work = live[1] })
  end
end
return reply({ r = 'none' })
`,
  // A: node pk, client pk, request id
  unclaim: `
local nh, rid = H(A[1]), A[3]
local rk = requestK(A[2], rid)
if redis.call('EXISTS', liveK(rk)) == 0 or redis.call('HGET', flightRkK(nh), rid) ~= rk then return reply({ r = 'ok' }) end
redis.call('ZREM', flightK(nh), rid)
redis.call('HDEL', flightRkK(nh), rid)
redis.call('LPUSH', queueK(nh), rk)
redis.call('HSET', liveK(rk), 'state', 'queued')
followNode(nh)
publish(nh)
return reply({ r = 'ok' })
`,
  // A: node pk, request id, owner digest, acknowledge ('1' or ''), in-flight ttl ms
  control: `
local nh, rid, owner = H(A[1]), A[2], A[3]
local digest = redis.call('HGET', nodeK(nh), 'digest')
if digest then
  if owner == '' or owner ~= digest then return reply({ r = 'forbidden' }) end
  local rk = redis.call('HGET', flightRkK(nh), rid)
  local deadline = rk and tonumber(redis.call('HGET', liveK(rk), 'deadline'))
  if deadline then
    if deadline > NOW then
      redis.call('ZADD', flightK(nh), math.min(NOW + tonumber(A[5]), deadline), rid)
      return reply({ r = 'active', deadline = deadline })
    end
    terminate(rk, 'expired', 'provider_timeout')
    return reply({ r = 'terminal', status = redis.call('HGET', termK(rk), 'status') or 'expired', deadline = deadline })
  end
end
local tomb = redis.call('HMGET', tombK(nh, rid), 'status', 'deadline', 'owner', 'exp')
if tomb[1] and tonumber(tomb[4]) > NOW then
  if owner == '' or owner ~= tomb[3] then return reply({ r = 'forbidden' }) end
  if A[4] == '1' then redis.call('DEL', tombK(nh, rid)) end
  return reply({ r = 'terminal', status = tomb[1], deadline = tonumber(tomb[2]) })
end
return reply({ r = digest and 'unavailable' or 'forbidden' })
`,
  // A: node pk, owner digest, client pk, request id, progress json
  progress: `
local nh, rid = H(A[1]), A[4]
local digest = redis.call('HGET', nodeK(nh), 'digest')
if not digest or A[2] == '' or A[2] ~= digest then return reply({ r = 'forbidden' }) end
local rk = redis.call('HGET', flightRkK(nh), rid)
local live = rk and redis.call('HMGET', liveK(rk), 'ch', 'deadline')
if not live or live[1] ~= H(A[3]) then return reply({ r = 'inactive' }) end
if tonumber(live[2]) <= NOW then return reply({ r = 'expired' }) end
local replaced = redis.call('EXISTS', progK(rk)) == 1
redis.call('SET', progK(rk), A[5], 'PX', math.max(tonumber(live[2]) - NOW, 1) + KEEP)
return reply({ r = replaced and 'replaced' or 'accepted' })
`,
  // A: client pk, request id, envelope json, size
  response: `
local rk, ch = requestK(A[1], A[2]), H(A[1])
if alive(termK(rk)) then return reply({ r = 'gone', status = redis.call('HGET', termK(rk), 'status') }) end
if alive(respK(rk)) then return reply({ r = 'duplicate' }) end
local live = redis.call('HMGET', liveK(rk), 'deadline', 'nh', 'rid')
if not live[1] then return reply({ r = 'gone', status = alive(doneK(rk)) and 'completed' or 'gone' }) end
if tonumber(live[1]) <= NOW then
  terminate(rk, 'expired', 'pending_request_ttl_exceeded')
  return reply({ r = 'gone', status = 'expired' })
end
detach(rk, live[2], live[3])
redis.call('DEL', progK(rk))
setExpiring(doneK(rk), TERM_TTL)
setExpiring(respK(rk), TERM_TTL, 'env', A[3], 'ch', ch, 'size', A[4])
redis.call('INCRBY', P .. 'bytes', A[4])
keepAtLeast(P .. 'bytes', TERM_TTL + KEEP)
redis.call('ZADD', P .. 'respidx', NOW + TERM_TTL, rk)
redis.call('ZADD', clientRespK(ch), redis.call('INCR', P .. 'seq'), rk)
redis.call('PEXPIRE', clientRespK(ch), TERM_TTL + KEEP)
keepAtLeast(P .. 'respidx', TERM_TTL + KEEP)
keepAtLeast(P .. 'seq', TERM_TTL + KEEP)
EV[#EV + 1] = { 'completed', 'completed' }
return reply({ r = 'stored' })
`,
  // A: client pk, request id, proof ('' when not a string), status, reason
  cancel: `
local rk = requestK(A[1], A[2])
local expected = redis.call('HGET', liveK(rk), 'cancel')
if not expected or expected == '' or A[3] ~= expected then return reply({ r = 'forbidden' }) end
return reply({ r = 'cancelled', removed = terminate(rk, A[4], A[5]) })
`,
  // A: client pk, request id ('' with A[3] = 'any': the oldest answer for the client)
  retrieve: `
local ch = H(A[1])
if A[3] == 'any' then
  for _, rk in ipairs(redis.call('ZRANGE', clientRespK(ch), 0, -1)) do
    local stored = redis.call('HMGET', respK(rk), 'env', 'exp')
    if stored[1] and tonumber(stored[2]) > NOW then
      dropResponse(rk, ch)
      return reply({ r = 'response', envelope = stored[1] })
    end
    redis.call('ZREM', clientRespK(ch), rk)
  end
  return reply({ r = 'unknown' })
end
local rk = requestK(A[1], A[2])
if alive(termK(rk)) then
  dropResponse(rk, ch)
  local term = redis.call('HMGET', termK(rk), 'status', 'reason')
  return reply({ r = 'terminal', status = term[1], reason = term[2] })
end
if alive(respK(rk)) then
  local envelope = redis.call('HGET', respK(rk), 'env')
  dropResponse(rk, ch)
  return reply({ r = 'response', envelope = envelope })
end
local deadline = tonumber(redis.call('HGET', liveK(rk), 'deadline'))
if not deadline then return reply({ r = 'unknown' }) end
if deadline <= NOW then
  terminate(rk, 'expired', 'pending_request_ttl_exceeded')
  return reply({ r = 'terminal', status = 'expired', reason = 'pending_request_ttl_exceeded' })
end
local progress = redis.call('GET', progK(rk))
redis.call('DEL', progK(rk))
return reply({ r = 'pending', deadline = deadline, progress = progress or nil })
`,
  sweep: `
for _, rk in ipairs(redis.call('ZRANGEBYSCORE', P .. 'deadlines', '-inf', NOW)) do
  if redis.call('EXISTS', liveK(rk)) == 1 then
    terminate(rk, 'expired', 'pending_request_ttl_exceeded')
  else
    redis.call('ZREM', P .. 'deadlines', rk)
  end
end
for _, rk in ipairs(redis.call('ZRANGEBYSCORE', P .. 'respidx', '-inf', NOW)) do
  local ch = redis.call('HGET', respK(rk), 'ch')
  if ch then dropResponse(rk, ch) else redis.call('ZREM', P .. 'respidx', rk) end
end
local evicted = 0
for _, nh in ipairs(redis.call('ZRANGE', P .. 'nodes', 0, -1)) do
  local fields = readNode(nh)
  if not fields then
    redis.call('ZREM', P .. 'nodes', nh)
  elseif active(nh) == 0 and isStale(fields) then
    dropNode(nh)
    evicted = evicted + 1
  end
end
return reply({ r = 'ok', evicted = evicted })
`,
  outstanding: `
return reply({ r = 'ok', count = redis.call('ZCARD', P .. 'deadlines') + redis.call('ZCARD', P .. 'respidx') })
`,
} as const;

export type ScriptName = keyof typeof SCRIPTS;

export const SCRIPT_NAMES = Object.keys(SCRIPTS) as ScriptName[];

export function scriptSource(name: ScriptName): string {
  return `${LUA_LIB}\n${SCRIPTS[name]}`;
}
