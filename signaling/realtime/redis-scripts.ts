// Lua scripts of the Redis hub: each runs in one step on Redis, so that presence (and the busy
// marks of issue 15) are read and changed without another node changing them in between.
// Key layout: see redis-hub.ts.

/** The scripts that must see and change presence in one step. */
export interface Scripts {
  /**
   * Sets this node's socket count for a user (KEYS presence, node-users; ARGV node id, lease
   * prefix, count, username), dropping entries of nodes whose lease is gone. Returns
   * [had sockets here before, has now, live nodes elsewhere, stale entries dropped].
   */
  tincanSync(
    presence: string,
    nodeUsers: string,
    node: string,
    leasePrefix: string,
    count: number,
    username: string,
  ): Promise<[number, number, number, number]>
  /** KEYS presence; ARGV dead node id, lease prefix → 1 when the entry was removed and left the user offline. */
  tincanReap(presence: string, dead: string, leasePrefix: string): Promise<number>
  /** KEYS presence hashes; ARGV lease prefix → 1 or 0 per key. */
  tincanOnline(numKeys: number, ...keysThenPrefix: string[]): Promise<number[]>
  /**
   * KEYS presence; ARGV channel, message, lease prefix, busy prefix, this node's id → -1 when
   * every other live node holding the user has marked them busy (nothing is published), else
   * the number of subscribers that got the message.
   */
  tincanRelay(
    presence: string,
    channel: string,
    message: string,
    leasePrefix: string,
    busyPrefix: string,
    node: string,
  ): Promise<number>
  /** KEYS presence; ARGV lease prefix → the user's sockets on live nodes. */
  tincanSockets(presence: string, leasePrefix: string): Promise<number>
}

export const syncLua = `
local live, stale = 0, 0
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  if id ~= ARGV[1] then
    if redis.call('EXISTS', ARGV[2] .. id) == 1 then live = live + 1
    else redis.call('HDEL', KEYS[1], id); stale = stale + 1 end
  end
end
local before = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local now = tonumber(ARGV[3])
if now > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], now)
  redis.call('SADD', KEYS[2], ARGV[4])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[2], ARGV[4])
end
return {before > 0 and 1 or 0, now > 0 and 1 or 0, live, stale}
`

export const reapLua = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[2] .. id) == 1 then return 0 end
end
return 1
`

export const onlineLua = `
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = 0
  for _, id in ipairs(redis.call('HKEYS', key)) do
    if redis.call('EXISTS', ARGV[1] .. id) == 1 then out[i] = 1; break end
  end
end
return out
`

export const relayLua = `
local live, busy = 0, 0
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  if id ~= ARGV[5] and redis.call('EXISTS', ARGV[3] .. id) == 1 then
    live = live + 1
    if redis.call('EXISTS', ARGV[4] .. id) == 1 then busy = busy + 1 end
  end
end
if live > 0 and busy == live then return -1 end
return redis.call('PUBLISH', ARGV[1], ARGV[2])
`

export const socketsLua = `
local n = 0
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if redis.call('EXISTS', ARGV[1] .. entries[i]) == 1 then n = n + tonumber(entries[i + 1]) end
end
return n
`

export const leaveLua = `
redis.call('DEL', KEYS[1])
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
`
