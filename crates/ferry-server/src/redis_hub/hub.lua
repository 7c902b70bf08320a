-- ferry's signaling hub in Redis (docs/architecture.md, "Scale-out").
--
-- Every hub operation of every instance is one call of this script. Redis runs scripts one at a
-- time, so an operation is one critical section for the whole cluster, exactly like the embedded
-- hub's lock. The messages an operation causes are PUBLISHed before it returns, one batch per
-- instance channel, in the order the operations ran; an instance delivers each batch in order.
-- So a room's listing reaches a peer before any event of that room that it does not include,
-- whichever instances the peers are on.
--
-- ARGV: op, instance id, LAN room size, code room TTL (ms), then the op's own arguments.
-- Keys are built here (one Redis, not a cluster): see the key list in docs/deployment.md.

local P = 'ferry:'
local OP, INST = ARGV[1], ARGV[2]
local LAN_SIZE = tonumber(ARGV[3])
local TTL_MS = tonumber(ARGV[4])
local MAX_CODE_ROOMS_PER_PEER = 8
local MAX_PEERS_PER_CODE_ROOM = 64
local A = {}
for i = 5, #ARGV do A[#A + 1] = ARGV[i] end

local out, order = {}, {}
local function emit(inst, item)
  local l = out[inst]
  if not l then
    l = {}
    out[inst] = l
    order[#order + 1] = inst
  end
  l[#l + 1] = item
end
local function flush()
  for _, inst in ipairs(order) do
    redis.call('PUBLISH', P .. 'to:' .. inst, cjson.encode(out[inst]))
  end
end

local function pkey(id) return P .. 'peer:' .. id end
local function rkey(rk) return P .. 'room:' .. rk end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function nameplate(code) return string.sub(code, 1, math.floor(#code / 2)) end
local function is_lan(rk) return string.sub(rk, 1, 4) == 'lan:' end
local function is_code(rk) return string.sub(rk, 1, 5) == 'code:' end
local function is_paired(rk) return string.sub(rk, 1, 5) == 'pair:' end
local function kind_of(rk)
  if is_lan(rk) then return 'lan' elseif is_paired(rk) then return 'paired' end
  return 'code'
end
-- 'code:' and 'pair:' are both five characters: the public id follows.
local function public_id(rk)
  if is_lan(rk) then return 'lan' end
  return string.sub(rk, 6)
end
local function lan_rk(net, shard) return 'lan:' .. shard .. ':' .. net end
local function parse_lan(rk)
  local shard, net = string.match(rk, '^lan:(%d+):(.*)$')
  return net, tonumber(shard)
end

local function info(id)
  local h = redis.call('HMGET', pkey(id), 'name', 'client', 'device')
  local i = { id = id, name = h[1], client = h[2] }
  -- Absent (false) or empty: not said, so not on the wire.
  if h[3] and h[3] ~= '' then i.device = h[3] end
  return i
end
local function is_current(id, conn)
  local h = redis.call('HMGET', pkey(id), 'inst', 'conn')
  return h[1] == INST and h[2] == conn
end
local function rooms_of(id)
  local r = {}
  local lan = redis.call('HGET', pkey(id), 'lan')
  if lan then r[1] = lan end
  for _, c in ipairs(redis.call('SMEMBERS', pkey(id) .. ':codes')) do r[#r + 1] = 'code:' .. c end
  for _, c in ipairs(redis.call('SMEMBERS', pkey(id) .. ':pairs')) do r[#r + 1] = 'pair:' .. c end
  return r
end

-- Queues `item` for each target on the instance that holds it.
local function send(targets, item)
  local by, seen = {}, {}
  for _, t in ipairs(targets) do
    local i = redis.call('HGET', pkey(t), 'inst')
    if i then
      if not by[i] then
        by[i] = {}
        seen[#seen + 1] = i
      end
      table.insert(by[i], t)
    end
  end
  for _, i in ipairs(seen) do
    local it = {}
    for k, v in pairs(item) do it[k] = v end
    it.to = by[i]
    emit(i, it)
  end
end

local function listing(rk, viewer, crowded)
  local peers = {}
  for _, m in ipairs(redis.call('SMEMBERS', rkey(rk))) do
    if m ~= viewer then peers[#peers + 1] = info(m) end
  end
  return { id = public_id(rk), kind = kind_of(rk), peers = peers, crowded = crowded }
end

local function room_mates(id)
  local seen, mates = {}, {}
  for _, rk in ipairs(rooms_of(id)) do
    for _, m in ipairs(redis.call('SMEMBERS', rkey(rk))) do
      if m ~= id and not seen[m] then
        seen[m] = true
        mates[#mates + 1] = m
      end
    end
  end
  return mates
end

local function shares_room(id, to)
  if to == id then return false end
  for _, rk in ipairs(rooms_of(id)) do
    if redis.call('SISMEMBER', rkey(rk), to) == 1 then return true end
  end
  return false
end

-- The LAN shard a new peer of `net` goes into, and whether the network is crowded.
local function lan_shard(net)
  local nk = P .. 'lan:' .. net
  local open = redis.call('ZRANGE', nk .. ':open', 0, 0)
  local shard
  if #open > 0 then
    shard = tonumber(open[1])
  else
    shard = redis.call('HINCRBY', nk, 'shards', 1) - 1
    redis.call('ZADD', nk .. ':open', shard, shard)
  end
  local members = tonumber(redis.call('HGET', nk, 'members')) or 0
  return lan_rk(net, shard), members + 1 > LAN_SIZE
end

local function join(rk, id)
  if is_code(rk) then
    local code = string.sub(rk, 6)
    local ck = P .. 'code:' .. code
    if redis.call('EXISTS', ck) == 0 then
      redis.call('HSET', ck, 'wrong', 0)
      redis.call('ZADD', P .. 'codes', 0, code)
      redis.call('SADD', P .. 'np:' .. nameplate(code), code)
    end
    redis.call('HDEL', ck, 'empty_since')
    redis.call('ZREM', P .. 'codes_empty', code)
  end
  if redis.call('SADD', rkey(rk), id) == 0 then return end
  local others = {}
  for _, m in ipairs(redis.call('SMEMBERS', rkey(rk))) do
    if m ~= id then others[#others + 1] = m end
  end
  if is_lan(rk) then
    redis.call('HSET', pkey(id), 'seq', redis.call('INCR', P .. 'seq'))
    -- A quiet peer is announced later (op 'announce'), to those who were there before it.
    if redis.call('HGET', pkey(id), 'quiet') == '1' then others = {} end
    local net, shard = parse_lan(rk)
    local nk = P .. 'lan:' .. net
    redis.call('HINCRBY', nk, 'members', 1)
    if redis.call('SCARD', rkey(rk)) >= LAN_SIZE then redis.call('ZREM', nk .. ':open', shard) end
  elseif is_code(rk) then
    local fk = P .. 'code:' .. string.sub(rk, 6) .. ':former'
    if redis.call('SCARD', fk) < 4 * MAX_PEERS_PER_CODE_ROOM then redis.call('SADD', fk, id) end
  end
  send(others, { k = 'joined', room = public_id(rk), peer = info(id) })
end

local function leave(rk, id)
  if redis.call('SREM', rkey(rk), id) == 0 then return end
  local others = redis.call('SMEMBERS', rkey(rk))
  if is_lan(rk) then
    local ph = redis.call('HMGET', pkey(id), 'quiet', 'seq')
    if ph[1] == '1' then
      -- A quiet peer was seen only by those who arrived after it (in their listing).
      local seq, saw = tonumber(ph[2]) or 0, {}
      for _, o in ipairs(others) do
        if (tonumber(redis.call('HGET', pkey(o), 'seq')) or 0) > seq then saw[#saw + 1] = o end
      end
      others = saw
    end
    local net, shard = parse_lan(rk)
    local nk = P .. 'lan:' .. net
    local left = redis.call('HINCRBY', nk, 'members', -1)
    redis.call('ZADD', nk .. ':open', shard, shard)
    if left <= 0 then redis.call('DEL', nk, nk .. ':open') end
  elseif is_code(rk) and #others == 0 then
    -- Code rooms linger when empty so that a link stays valid a while.
    local code, t = string.sub(rk, 6), now_ms()
    redis.call('HSET', P .. 'code:' .. code, 'empty_since', t)
    redis.call('ZADD', P .. 'codes_empty', t, code)
  end
  send(others, { k = 'left', room = public_id(rk), id = id })
end

local function remove_peer(id)
  for _, rk in ipairs(rooms_of(id)) do leave(rk, id) end
  local inst = redis.call('HGET', pkey(id), 'inst')
  if inst then redis.call('SREM', P .. 'inst:' .. inst .. ':peers', id) end
  redis.call('DEL', pkey(id), pkey(id) .. ':codes', pkey(id) .. ':pairs')
end

-- Makes `id` this instance's, replacing (and closing) a connection it had anywhere.
local function register(id, conn, client, name, net, quiet, device)
  local old = redis.call('HMGET', pkey(id), 'inst', 'conn')
  if old[1] then
    remove_peer(id)
    emit(old[1], { k = 'close', to = { id }, conn = old[2] })
  end
  local rk, crowded = lan_shard(net)
  redis.call('HSET', pkey(id), 'inst', INST, 'conn', conn, 'name', name, 'client', client,
    'lan', rk, 'quiet', quiet, 'seq', 0, 'device', device)
  redis.call('SADD', P .. 'inst:' .. INST .. ':peers', id)
  return rk, crowded
end

local function live_code_room(code)
  local h = redis.call('HMGET', P .. 'code:' .. code, 'wrong', 'empty_since', 'closed')
  if not h[1] then return nil end
  -- An expired room that the sweep has not reached yet is gone all the same.
  if h[2] and now_ms() - tonumber(h[2]) >= TTL_MS then return nil end
  return { closed = h[3] == '1' }
end

-- Counts a wrong code against the live rooms sharing its nameplate; returns those it closed.
local function count_wrong_guess(wrong, limit)
  local closed = {}
  for _, code in ipairs(redis.call('SMEMBERS', P .. 'np:' .. nameplate(wrong))) do
    local ck = P .. 'code:' .. code
    if #code == #wrong and redis.call('EXISTS', ck) == 1 then
      local n = redis.call('HINCRBY', ck, 'wrong', 1)
      if n >= limit and redis.call('HGET', ck, 'closed') ~= '1' then
        redis.call('HSET', ck, 'closed', '1')
        closed[#closed + 1] = code
        send(redis.call('SMEMBERS', rkey('code:' .. code)), { k = 'closed', room = code })
      end
    end
  end
  return closed
end

local function drop_code_room(code)
  redis.call('DEL', P .. 'code:' .. code, P .. 'code:' .. code .. ':former')
  redis.call('ZREM', P .. 'codes', code)
  redis.call('ZREM', P .. 'codes_empty', code)
  local np = P .. 'np:' .. nameplate(code)
  redis.call('SREM', np, code)
end

local result = 'ok'

if OP == 'connect' then
  -- id, conn, client, name, net, quiet, device
  local id, conn = A[1], A[2]
  local rk, crowded = register(id, conn, A[3], A[4], A[5], A[6], A[7])
  emit(INST, { k = 'welcome', to = { id }, conn = conn, lists = { listing(rk, id, crowded) } })
  join(rk, id)

elseif OP == 'resync' then
  -- id, conn, client, name, net, quiet, device, room... ('code:K7H3QD', 'pair:<id>'): after Redis came back (or lost events while it
  -- was away), re-assert a local peer and send it a fresh welcome listing all its rooms.
  local id, conn = A[1], A[2]
  local owner = redis.call('HGET', pkey(id), 'inst')
  if owner and owner ~= INST then
    -- It reconnected through another instance meanwhile: that connection is the peer now.
    flush()
    return { 'elsewhere' }
  end
  if not is_current(id, conn) then
    local rk = register(id, conn, A[3], A[4], A[5], A[6], A[7])
    join(rk, id)
    for i = 8, #A do
      local set = is_paired(A[i]) and ':pairs' or ':codes'
      redis.call('SADD', pkey(id) .. set, string.sub(A[i], 6))
      join(A[i], id)
    end
  end
  local lists = {}
  for _, rk in ipairs(rooms_of(id)) do lists[#lists + 1] = listing(rk, id, false) end
  emit(INST, { k = 'welcome', to = { id }, conn = conn, lists = lists })

elseif OP == 'prune' then
  -- id...: this instance's peers now; any other Redis thinks it has are gone.
  local keep = {}
  for _, id in ipairs(A) do keep[id] = true end
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'inst:' .. INST .. ':peers')) do
    if not keep[id] then
      if redis.call('HGET', pkey(id), 'inst') == INST then remove_peer(id) end
      redis.call('SREM', P .. 'inst:' .. INST .. ':peers', id)
    end
  end

elseif OP == 'disconnect' then
  if is_current(A[1], A[2]) then remove_peer(A[1]) end

elseif OP == 'create' then
  -- id, conn, max code rooms, candidate code...
  local id, conn = A[1], A[2]
  if not is_current(id, conn) then
    result = { 'err', 'replaced' }
  elseif redis.call('SCARD', pkey(id) .. ':codes') >= MAX_CODE_ROOMS_PER_PEER then
    result = { 'err', 'too-many-rooms' }
  elseif redis.call('ZCARD', P .. 'codes') >= tonumber(A[3]) then
    result = { 'err', 'server-full' }
  else
    local code
    for i = 4, #A do
      if not code and redis.call('EXISTS', P .. 'code:' .. A[i]) == 0 then code = A[i] end
    end
    if not code then
      result = { 'err', 'server-full' }
    else
      join('code:' .. code, id)
      redis.call('SADD', pkey(id) .. ':codes', code)
      emit(INST, { k = 'listing', to = { id }, conn = conn, list = listing('code:' .. code, id, false) })
      result = { 'ok', code }
    end
  end

elseif OP == 'join' then
  -- id, conn, code, wrong guesses per room
  local id, conn, code = A[1], A[2], A[3]
  local already_in = redis.call('SISMEMBER', pkey(id) .. ':codes', code) == 1
  if not is_current(id, conn) then
    result = { 'err', 'replaced' }
  elseif not already_in and redis.call('SCARD', pkey(id) .. ':codes') >= MAX_CODE_ROOMS_PER_PEER then
    result = { 'err', 'too-many-rooms' }
  else
    local room = live_code_room(code)
    local admitted = room and (not room.closed
      or redis.call('SISMEMBER', P .. 'code:' .. code .. ':former', id) == 1)
    if not admitted then
      result = { 'err', 'not-found' }
      for _, c in ipairs(count_wrong_guess(code, tonumber(A[4]))) do result[#result + 1] = c end
    elseif not already_in and redis.call('SCARD', rkey('code:' .. code)) >= MAX_PEERS_PER_CODE_ROOM then
      result = { 'err', 'full' }
    else
      emit(INST, { k = 'listing', to = { id }, conn = conn, list = listing('code:' .. code, id, false) })
      if not already_in then
        join('code:' .. code, id)
        redis.call('SADD', pkey(id) .. ':codes', code)
      end
    end
  end

elseif OP == 'leave' then
  -- id, conn, kind ('code' or 'pair'), room: a code room or a paired room
  local id, conn, kind, room = A[1], A[2], A[3], A[4]
  local set = kind == 'pair' and ':pairs' or ':codes'
  if not is_current(id, conn) then
    result = { 'err', 'replaced' }
  elseif redis.call('SISMEMBER', pkey(id) .. set, room) == 0 then
    result = { 'err', 'not-in-room' }
  else
    leave(kind .. ':' .. room, id)
    redis.call('SREM', pkey(id) .. set, room)
    emit(INST, { k = 'room-left', to = { id }, room = room })
  end

elseif OP == 'join-pair' then
  -- id, conn, max paired rooms per peer, max peers per paired room, room id...: each room is
  -- joined (made by its first member) or listed again. Reply: the first refusal ('' or
  -- 'too-many-paired' or 'paired-full'), the room it concerns (or ''), then every room the peer
  -- is in now among those named.
  local id, conn = A[1], A[2]
  local per_peer, per_room = tonumber(A[3]), tonumber(A[4])
  if not is_current(id, conn) then
    result = { 'err', 'replaced' }
  else
    local refusal, about, joined = '', '', {}
    for i = 5, #A do
      local room, rk = A[i], 'pair:' .. A[i]
      local already_in = redis.call('SISMEMBER', pkey(id) .. ':pairs', room) == 1
      local refused
      if not already_in and redis.call('SCARD', pkey(id) .. ':pairs') >= per_peer then
        refused = 'too-many-paired'
      elseif not already_in and redis.call('SCARD', rkey(rk)) >= per_room then
        refused = 'paired-full'
      else
        emit(INST, { k = 'listing', to = { id }, conn = conn, list = listing(rk, id, false) })
        if not already_in then
          join(rk, id)
          redis.call('SADD', pkey(id) .. ':pairs', room)
        end
        joined[#joined + 1] = room
      end
      if refused and refusal == '' then refusal, about = refused, room end
    end
    result = { refusal, about }
    for _, r in ipairs(joined) do result[#result + 1] = r end
  end

elseif OP == 'name' then
  -- id, conn, name
  local id, conn = A[1], A[2]
  if not is_current(id, conn) then
    result = { 'err', 'replaced' }
  else
    redis.call('HSET', pkey(id), 'name', A[3])
    local targets = room_mates(id)
    targets[#targets + 1] = id
    send(targets, { k = 'updated', peer = info(id) })
  end

elseif OP == 'signal' then
  -- id, conn, to, message (JSON, stamped by the caller)
  local id, conn, to = A[1], A[2], A[3]
  if not is_current(id, conn) then
    result = { 'err', 'replaced' }
  elseif not shares_room(id, to) then
    result = { 'err', 'no-peer' }
  else
    send({ to }, { k = 'raw', m = A[4] })
  end

elseif OP == 'relay' then
  -- id, conn, to, message for id, message for to, relay id, ttl (ms): relay-ready for both;
  -- the session lives on this instance, which the other peer's instance finds here.
  local id, conn, to = A[1], A[2], A[3]
  if not is_current(id, conn) then
    result = { 'err', 'replaced' }
  elseif not shares_room(id, to) then
    result = { 'err', 'no-peer' }
  else
    redis.call('SET', P .. 'relay:' .. A[6], INST, 'PX', A[7])
    send({ id }, { k = 'raw', m = A[4] })
    send({ to }, { k = 'raw', m = A[5] })
  end

elseif OP == 'mate' then
  -- id, conn, to: do they share a room?
  if not is_current(A[1], A[2]) then
    result = { 'err', 'replaced' }
  elseif not shares_room(A[1], A[3]) then
    result = { 'err', 'no-peer' }
  end

elseif OP == 'announce' then
  -- id, conn: a quiet peer's time has come; tell the LAN room mates that arrived before it.
  local id, conn = A[1], A[2]
  local ph = redis.call('HMGET', pkey(id), 'quiet', 'seq', 'lan')
  if is_current(id, conn) and ph[1] == '1' then
    redis.call('HSET', pkey(id), 'quiet', '0')
    local seq, earlier = tonumber(ph[2]) or 0, {}
    for _, m in ipairs(redis.call('SMEMBERS', rkey(ph[3]))) do
      if m ~= id and (tonumber(redis.call('HGET', pkey(m), 'seq')) or 0) < seq then
        earlier[#earlier + 1] = m
      end
    end
    send(earlier, { k = 'joined', room = 'lan', peer = info(id) })
  end

elseif OP == 'heartbeat' then
  -- dead after (ms): this instance is alive; instances silent for longer are gone, and so is
  -- their peers' presence; code rooms empty for longer than the TTL expire.
  -- url: where the other instances reach this one (relays and pipes), '' if nowhere.
  local now, dead_after = now_ms(), tonumber(A[1])
  redis.call('ZADD', P .. 'instances', now, INST)
  if A[2] and A[2] ~= '' then redis.call('HSET', P .. 'urls', INST, A[2]) end
  local gone = 0
  for _, d in ipairs(redis.call('ZRANGEBYSCORE', P .. 'instances', '-inf', now - dead_after)) do
    if d ~= INST then
      for _, id in ipairs(redis.call('SMEMBERS', P .. 'inst:' .. d .. ':peers')) do
        if redis.call('HGET', pkey(id), 'inst') == d then
          remove_peer(id)
          gone = gone + 1
        end
      end
      redis.call('DEL', P .. 'inst:' .. d .. ':peers')
      redis.call('ZREM', P .. 'instances', d)
      redis.call('HDEL', P .. 'urls', d)
    end
  end
  local expired = 0
  for _, code in ipairs(redis.call('ZRANGEBYSCORE', P .. 'codes_empty', '-inf', now - TTL_MS)) do
    if redis.call('SCARD', rkey('code:' .. code)) == 0 then
      drop_code_room(code)
      expired = expired + 1
    end
  end
  result = { gone, expired, redis.call('ZCARD', P .. 'codes') }

elseif OP == 'leave-instance' then
  -- A graceful shutdown: this instance's peers go at once rather than after `dead after`.
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'inst:' .. INST .. ':peers')) do
    if redis.call('HGET', pkey(id), 'inst') == INST then remove_peer(id) end
  end
  redis.call('DEL', P .. 'inst:' .. INST .. ':peers')
  redis.call('ZREM', P .. 'instances', INST)
  redis.call('HDEL', P .. 'urls', INST)

elseif OP == 'claim-pipe' then
  -- path, ttl (ms): the instance that holds the path's parties. The first party's instance
  -- claims it; parties arriving elsewhere are carried to it (redis_hub/forward.rs).
  local key = P .. 'pipe:' .. A[1]
  local owner = redis.call('GET', key)
  local url = owner and owner ~= INST and redis.call('HGET', P .. 'urls', owner)
  if url then
    result = { 'other', url }
  else
    redis.call('SET', key, INST, 'PX', A[2])
    result = { 'me' }
  end

elseif OP == 'hold-pipes' then
  -- ttl (ms), path...: this instance still has parties on these paths.
  for i = 2, #A do
    local key = P .. 'pipe:' .. A[i]
    if redis.call('GET', key) == INST then redis.call('PEXPIRE', key, A[1]) end
  end

elseif OP == 'find-relay' then
  -- relay id: the instance that authorized the session, if another one.
  local owner = redis.call('GET', P .. 'relay:' .. A[1])
  local url = owner and owner ~= INST and redis.call('HGET', P .. 'urls', owner)
  if url then result = { 'other', url } else result = { 'none' } end

else
  return redis.error_reply('unknown op ' .. tostring(OP))
end

flush()
return result
