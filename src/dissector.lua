
-- Decoder (fixed template of ctiscope; reads the tables above).
local cti = Proto("cti", "Cisco CTI Server Protocol")
local HEADER_LEN = 8
local RESYNC_MAX_LENGTH = 12492
local CANDIDATES = {24, 20, 19, 15}
local DEFAULT_PORTS = "42027,43027"

cti.prefs.ports = Pref.range("Server ports", DEFAULT_PORTS, "TCP ports of CTI servers", 65535)
cti.prefs.version = Pref.uint("Protocol version", 0,
  "Protocol version to decode with; 0: the OPEN_REQ's, else inferred, else " .. DEFAULT_VERSION)

-- 32-bit AND without a bit library (Lua 5.2 to 5.4).
local function band(a, b)
  local r, bit = 0, 1
  for _ = 1, 32 do
    if a % 2 == 1 and b % 2 == 1 then r = r + bit end
    a = math.floor(a / 2); b = math.floor(b / 2); bit = bit * 2
    if a == 0 or b == 0 then break end
  end
  return r
end

-- ProtoFields.
local PF = {}
local all_fields = {}
local VS = {}
for i, t in ipairs(VT) do
  if t.kind ~= "mask" then VS[i] = t.v end
end
for i, f in ipairs(FIELDS) do
  local name, kind, vt = f[1], f[2], f[3]
  local abbr = "cti." .. name
  local p
  if kind == "U" then
    if vt ~= 0 and VT[vt].kind == "mask" then
      p = ProtoField.uint32(abbr, name, base.HEX)
    else
      p = ProtoField.uint32(abbr, name, base.DEC, VS[vt])
    end
  elseif kind == "I" then
    p = ProtoField.int32(abbr, name, base.DEC, VS[vt])
  elseif kind == "L" then
    p = ProtoField.int64(abbr, name, base.DEC)
  elseif kind == "T" then
    p = ProtoField.absolute_time(abbr, name, base.UTC)
  elseif kind == "B" then
    p = ProtoField.bytes(abbr, name)
  else
    p = ProtoField.string(abbr, name)
  end
  PF[i] = p
  all_fields[#all_fields + 1] = p
end
local RAW = #FIELDS
local F_UNKNOWN_TAG, F_BODY, F_TRAILING, F_TRUNCATED = RAW - 4, RAW - 3, RAW - 2, RAW - 1
local f_type = ProtoField.uint32("cti.type", "MessageType", base.DEC, TYPES)
local f_length = ProtoField.uint32("cti.length", "MessageLength", base.DEC)
local f_version = ProtoField.uint32("cti.version", "Protocol version used", base.DEC)
local f_version_source = ProtoField.string("cti.version_source", "Version source")
local f_tag = ProtoField.uint16("cti.tag", "Floating tag", base.DEC)
local f_request_in = ProtoField.framenum("cti.request_in", "Request in", base.NONE, frametype and frametype.REQUEST or nil)
local f_response_in = ProtoField.framenum("cti.response_in", "Response in", base.NONE, frametype and frametype.RESPONSE or nil)
local f_latency = ProtoField.relative_time("cti.latency", "Latency")
local f_fixed_version = ProtoField.uint32("cti.fixed_part_version", "Fixed part of protocol version", base.DEC)
for _, p in ipairs({f_type, f_length, f_version, f_version_source, f_tag, f_request_in, f_response_in, f_latency, f_fixed_version}) do
  all_fields[#all_fields + 1] = p
end
cti.fields = all_fields

local EXPERT = {}
local experts = {}
for _, a in ipairs(ANOMALIES) do
  -- The severity of ctiscope's finding for the code.
  local sev = ({ error = expert.severity.ERROR, warn = expert.severity.WARN, note = expert.severity.NOTE })[a[3]]
  local e = ProtoExpert.new("cti." .. a[1], a[2], expert.group.MALFORMED, sev)
  EXPERT[a[1]] = e
  experts[#experts + 1] = e
end
-- A message decoded with another version's fixed part (ctiscope's layout-variant note).
local e_variant = ProtoExpert.new("cti.layout_variant", "fixed part of another protocol version", expert.group.PROTOCOL, expert.severity.NOTE)
experts[#experts + 1] = e_variant
cti.experts = experts

local f_tcp_stream = Field.new("tcp.stream")

-- Per-TCP-stream state: the version seen, inferred; invoke ids pending.
local convs = {}
-- Per-frame memory for a second pass (GUI): version chosen per PDU.
local frame_versions = {}
local pairs_req, pairs_resp = {}, {}

local function conv_key(pinfo)
  local s = f_tcp_stream()
  if s then return tostring(s.value) end
  return tostring(pinfo.src) .. ":" .. pinfo.src_port .. "-" .. tostring(pinfo.dst) .. ":" .. pinfo.dst_port
end

local function tlv_width(version)
  if version < TWO_BYTE_FLOATING_SINCE then return 1 end
  return 2
end

local function fixed_size(m, version)
  local n = 0
  for _, f in ipairs(m.fixed) do
    if f.since <= version then n = n + f.size end
  end
  return n
end

local function layout(ty, version)
  local i
  if version <= 24 then i = BY24[ty] else i = BY25[ty] end
  if i then return MSG[i] end
  return nil
end

-- The distinct fixed parts of a message over the versions ctiscope takes variants from,
-- in version order: {first version, last version, size}; empty when it has only one.
local groups_of = {}
local function fixed_groups(m)
  local g = groups_of[m]
  if g then return g end
  g = {}
  for v = VARIANT_FIRST, VARIANT_LAST do
    local size = fixed_size(m, v)
    local last = g[#g]
    if last and last[3] == size then last[2] = v else g[#g + 1] = {v, v, size} end
  end
  if #g < 2 then g = {} end
  groups_of[m] = g
  return g
end

local function floating_name(m, tag)
  local s = m.fl[tag]
  if s then return FIELDS[s.f][1] .. " (tag " .. tag .. ")" end
  return "tag " .. tag
end

-- Why the floating part does not walk cleanly after a fixed part of fsize bytes, with the
-- connection's version (floating headers, required fields); nil when it does: it ends at
-- the message end, every tag is a field of the message, the required fields are there.
local function misfit(buf, m, version, fsize)
  local blen = buf:len()
  local off = HEADER_LEN + fsize
  if off > blen then return "the message is shorter than that fixed part" end
  local w = tlv_width(version)
  local seen = {}
  while off < blen do
    if off + 2 * w > blen then return "the floating fields after it do not end at the message end" end
    local tag, len
    if w == 1 then tag, len = buf(off, 1):uint(), buf(off + 1, 1):uint()
    else tag, len = buf(off, 2):uint(), buf(off + 2, 2):uint() end
    if not m.fl[tag] then
      return "the floating fields after it meet tag " .. tag .. ", which is not a field of " .. m.name
    end
    seen[tag] = true
    off = off + 2 * w + len
  end
  if off ~= blen then return "the floating fields after it do not end at the message end" end
  for _, r in ipairs(m.req) do
    if r[3] <= version and version <= r[4] and not seen[r[1]] then
      return "the floating fields after it lack the required " .. floating_name(m, r[1])
    end
  end
  return nil
end

-- The fixed part to decode with, as ctiscope chooses it: the connection's version's when
-- the floating part walks cleanly after it, else the nearest other version's that does
-- (each distinct fixed part at the version of its range closest to the connection's),
-- else the connection's again. Returns the version and, for another one, the sentence
-- ctiscope gives.
local function choose_fixed(buf, m, version)
  local groups = fixed_groups(m)
  if #groups == 0 then return version, nil end
  local own = fixed_size(m, version)
  local why = misfit(buf, m, version, own)
  if why == nil then return version, nil end
  local others = {}
  for _, g in ipairs(groups) do
    if g[3] ~= own then
      if g[2] < version then others[#others + 1] = g[2] else others[#others + 1] = g[1] end
    end
  end
  table.sort(others, function(a, b)
    local da, db = math.abs(a - version), math.abs(b - version)
    if da ~= db then return da < db end
    return a < b
  end)
  for _, fv in ipairs(others) do
    if misfit(buf, m, version, fixed_size(m, fv)) == nil then
      local lo, hi = math.min(fv, version), math.max(fv, version)
      local names = {}
      for _, f in ipairs(m.fixed) do
        if f.since > lo and f.since <= hi then names[#names + 1] = FIELDS[f.f][1] end
      end
      local how = "with"
      if fv < version then how = "without" end
      return fv, "fixed part of protocol version " .. fv .. " (" .. how .. " " .. table.concat(names, ", ") ..
        "): with the fixed part of version " .. version .. ", " .. why
    end
  end
  return version, nil
end

-- How well the floating part walks at a version (ctiscope's inference).
local function walk_score(buf, m, version)
  local blen = buf:len()
  local off = HEADER_LEN + fixed_size(m, version)
  if off > blen then return nil end
  local w = tlv_width(version)
  local allowed, known, total = 0, 0, 0
  while off < blen do
    if off + 2 * w > blen then return nil end
    local tag, len
    if w == 1 then tag, len = buf(off, 1):uint(), buf(off + 1, 1):uint()
    else tag, len = buf(off, 2):uint(), buf(off + 2, 2):uint() end
    off = off + 2 * w + len
    total = total + 1
    if TAGS[tag] then known = known + 1 end
    if m.fl[tag] then allowed = allowed + 1 end
  end
  if off ~= blen or known < total then return nil end
  return allowed * 100000 + known
end

local function infer_version(buf, ty)
  local scores = {}
  local best
  for i, v in ipairs(CANDIDATES) do
    local m = layout(ty, v)
    local s = m and walk_score(buf, m, v) or nil
    scores[i] = s
    if s and (best == nil or s > best) then best = s end
  end
  if best == nil then return nil end
  local all_same = true
  for i = 1, #CANDIDATES do
    if scores[i] ~= best then all_same = false end
  end
  if all_same then return nil end
  for i, v in ipairs(CANDIDATES) do
    if scores[i] == best then return v end
  end
  return nil
end

local function choose_version(buf, ty, conv)
  if cti.prefs.version ~= 0 then return cti.prefs.version, "forced" end
  if ty == 3 then
    -- OPEN_REQ: its VersionNumber sets the connection's version, itself included.
    local m = layout(3, DEFAULT_VERSION)
    local off = HEADER_LEN
    for _, f in ipairs(m.fixed) do
      if FIELDS[f.f][1] == "VersionNumber" then
        if off + 4 <= buf:len() then conv.seen = buf(off, 4):uint() end
        break
      end
      off = off + f.size
    end
  end
  if conv.seen then return conv.seen, "seen" end
  if conv.inferred == nil then conv.inferred = infer_version(buf, ty) end
  if conv.inferred then return conv.inferred, "inferred" end
  return DEFAULT_VERSION, "assumed"
end

-- Anomalies of the message being dissected: as ctiscope, at most MAX_ANOMALIES, the last of
-- them a too_many_anomalies when there are more.
local MAX_ANOMALIES = 64
local anomaly_count = 0
local function anomaly(item, pinfo, code, text)
  anomaly_count = anomaly_count + 1
  if anomaly_count < MAX_ANOMALIES then
    item:add_proto_expert_info(EXPERT[code], code .. ": " .. text)
  elseif anomaly_count == MAX_ANOMALIES then
    item:add_proto_expert_info(EXPERT["too_many_anomalies"], "too_many_anomalies: more anomalies than are kept per message")
  end
end

local function mask_names(vt, v)
  local names = {}
  local keys = {}
  for k in pairs(VT[vt].v) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if k ~= 0 and band(v, k) == k then names[#names + 1] = VT[vt].v[k] end
  end
  return table.concat(names, "|")
end

local function mask_bits(vt)
  local t = VT[vt]
  if t.all == nil then
    local all = 0
    for k in pairs(t.v) do
      for b = 0, 31 do
        local bit = 2 ^ b
        if band(k, bit) ~= 0 and band(all, bit) == 0 then all = all + bit end
      end
    end
    t.all = all
  end
  return t.all
end

-- Check a number against its value table (unknown_enum_value, unknown_mask_bits).
local function check_value(item, pinfo, name, vt, v)
  if vt == 0 then return end
  local t = VT[vt]
  if v < 0 then v = v + 4294967296 end
  if t.kind == "enum" then
    if t.v[v] == nil then
      anomaly(item, pinfo, "unknown_enum_value", name .. " = " .. v .. " is not a " .. t.name .. " value")
    end
  elseif t.kind == "mask" then
    local unknown = v - band(v, mask_bits(vt))
    if unknown ~= 0 then
      anomaly(item, pinfo, "unknown_mask_bits", string.format("%s = 0x%08x has bits that %s does not name", name, v, t.name))
    end
  end
end

local function read_number(buf, off, ty)
  if ty == "c" then return buf(off, 1):int()
  elseif ty == "C" then return buf(off, 1):uint()
  elseif ty == "s" then return buf(off, 2):int()
  elseif ty == "S" or ty == "b" then return buf(off, 2):uint()
  elseif ty == "i" then return buf(off, 4):int()
  else return buf(off, 4):uint() end
end

local SIZES = {c = 1, C = 1, s = 2, S = 2, b = 2, i = 4, I = 4, t = 4, task = 12}

-- Add a number (or a time, a task id) under field fi; returns the item and its text for the summary.
local function add_number(tree, pinfo, fi, ty, range, buf, off, vt)
  local kind = FIELDS[fi][2]
  local name = FIELDS[fi][1]
  if ty == "task" then
    local v = buf(off, 4):int() .. "," .. buf(off + 4, 4):int() .. "," .. buf(off + 8, 4):int()
    return tree:add(PF[fi], range, v), v
  end
  local v = read_number(buf, off, ty)
  local item
  if kind == "T" then
    item = tree:add(PF[fi], range, NSTime.new(v, 0))
  elseif kind == "S" then
    item = tree:add(PF[fi], range, tostring(v))
  elseif kind == "L" then
    item = tree:add(PF[fi], range, Int64.new(v))
  else
    item = tree:add(PF[fi], range, v)
  end
  local text = tostring(v)
  if vt ~= 0 then
    local t = VT[vt]
    local n = v
    if n < 0 then n = n + 4294967296 end
    if t.kind == "mask" then
      local names = mask_names(vt, n)
      item:append_text(" (" .. names .. ")")
      text = string.format("0x%x", n)
    elseif t.v[n] then
      if kind ~= "U" and kind ~= "I" then item:append_text(" (" .. t.v[n] .. ")") end
      text = t.v[n]
    end
    if ty ~= "t" then check_value(item, pinfo, name, vt, v) end
  end
  return item, text
end

local function add_raw(tree, name, range)
  local item = tree:add(PF[RAW], range)
  item:prepend_text(name .. " (raw) ")
  return item
end

-- The text of bytes [off, off+len) as UTF-8 (invalid bytes replaced).
local function text_at(buf, off, len)
  if len <= 0 then return "" end
  return buf(off, len):string(ENC_UTF_8)
end

local function nul_at(buf, off, len)
  for i = off, off + len - 1 do
    if buf(i, 1):uint() == 0 then return i end
  end
  return nil
end

-- Decode one floating value of type ty in data [ds, ds+dlen); returns the item and text.
local function add_floating_value(tree, pinfo, buf, fi, ty, arr, off, ds, dlen, vt, range)
  local name = FIELDS[fi][1]
  if ty == "str" then
    local p = nul_at(buf, ds, dlen)
    local len = dlen
    if p then len = p - ds end
    local v = text_at(buf, ds, len)
    local item = tree:add(PF[fi], range, v)
    if not p then
      if dlen > 0 then
        anomaly(item, pinfo, "string_without_nul", name .. " has no terminating NUL")
      else
        anomaly(item, pinfo, "string_without_nul", name .. " is empty: not even its terminating NUL")
      end
    end
    return item, v
  elseif ty == "u" then
    local item
    if FIELDS[fi][2] == "B" then
      item = tree:add(PF[fi], buf(ds, dlen))
    else
      item = add_raw(tree, name, buf(ds, dlen))
    end
    return item, nil
  elseif ty == "nv" or ty == "na" then
    local p, idx = ds, nil
    local rest = dlen
    if ty == "na" then
      if dlen >= 1 then idx = buf(ds, 1):uint(); p = ds + 1; rest = dlen - 1 end
    end
    local ne = nul_at(buf, p, rest)
    local ve
    if ne then ve = nul_at(buf, ne + 1, rest - (ne + 1 - p)) end
    if ne and ve and (ty == "nv" or idx ~= nil) then
      local v = text_at(buf, p, ne - p)
      if idx then v = v .. "[" .. idx .. "]" end
      v = v .. "=" .. text_at(buf, ne + 1, ve - ne - 1)
      return tree:add(PF[fi], range, v), v
    end
    local item = add_raw(tree, name, buf(ds, dlen))
    local tyname = "NAMEDVAR"
    if ty == "na" then tyname = "NAMEDARRAY" end
    anomaly(item, pinfo, "bad_named_variable", name .. " is not index/name/value NUL-terminated as " .. tyname .. " requires")
    return item, nil
  end
  local size = SIZES[ty]
  if dlen == size then
    return add_number(tree, pinfo, fi, ty, range, buf, ds, vt)
  elseif arr and dlen % size == 0 then
    return add_raw(tree, name, buf(ds, dlen)), nil
  end
  local item = add_raw(tree, name, buf(ds, dlen))
  anomaly(item, pinfo, "bad_field_length", name .. " is " .. dlen .. " bytes, a " .. ty .. " is " .. size)
  return item, nil
end

local function decode_message(buf, pinfo, root, conv)
  local blen = buf:len()
  local ty = buf(4, 4):uint()
  local key = pinfo.number .. ":" .. buf:offset()
  local version, vsource
  if pinfo.visited and frame_versions[key] then
    version, vsource = frame_versions[key][1], frame_versions[key][2]
  else
    version, vsource = choose_version(buf, ty, conv)
    frame_versions[key] = {version, vsource}
  end
  local tname = TYPES[ty] or "UNKNOWN"
  anomaly_count = 0
  local tree = root:add(cti, buf(), "CTI " .. tname)
  tree:add(f_length, buf(0, 4))
  tree:add(f_type, buf(4, 4))
  tree:add(f_version, version):set_generated()
  tree:add(f_version_source, vsource):set_generated()
  local maxsize = 4329
  if version >= 16 then maxsize = 12500 end
  if blen > maxsize then
    anomaly(tree, pinfo, "message_too_large", "message of " .. blen .. " bytes exceeds the guide's " .. maxsize .. "-byte maximum")
  end
  local m = layout(ty, version)
  local info = {tname}
  if m == nil then
    if TYPES[ty] then
      anomaly(tree, pinfo, "layout_unknown", "no source documents the body of " .. tname)
    else
      anomaly(tree, pinfo, "unknown_message_type", "MessageType " .. ty .. " is not defined by any source")
    end
    if blen > HEADER_LEN then tree:add(PF[F_BODY], buf(HEADER_LEN)) end
    return table.concat(info, " "), m, nil
  end
  local fixed_version, variant = choose_fixed(buf, m, version)
  if variant then
    local item = tree:add(f_fixed_version, fixed_version):set_generated()
    item:add_proto_expert_info(e_variant, variant)
  end
  local shown = {}
  -- Count fields: the first value of each field, at message level, with its item.
  local declared = {}
  local tagcount = {}
  local off = HEADER_LEN
  local short = false
  for _, f in ipairs(m.fixed) do
    if f.since <= fixed_version then
      if off + f.size > blen then
        if not short then
          anomaly(tree, pinfo, "fixed_part_short", "body has " .. (blen - HEADER_LEN) .. " bytes, the fixed part of " .. m.name .. " needs " .. fixed_size(m, fixed_version))
          short = true
        end
        if off < blen then
          add_raw(tree, FIELDS[f.f][1], buf(off))
          off = blen
        end
      else
        local item, text = add_number(tree, pinfo, f.f, f.ty, buf(off, f.size), buf, off, f.vt)
        if shown[f.f] == nil then shown[f.f] = text end
        if declared[f.f] == nil and (f.size == 1 or f.size == 2 or f.size == 4) then
          declared[f.f] = {buf(off, f.size):uint(), item}
        end
        off = off + f.size
      end
    end
  end
  local seen = {}
  local function check_required()
    for _, r in ipairs(m.req) do
      if r[3] <= version and version <= r[4] and not seen[r[1]] then
        anomaly(tree, pinfo, "required_missing", "required field " .. r[2] .. " (tag " .. r[1] .. ") is absent")
      end
    end
  end
  if off >= blen then
    if not short then check_required() end
  elseif m.nfl == 0 then
    anomaly(tree, pinfo, "trailing_bytes", (blen - off) .. " bytes after the fixed part; " .. m.name .. " has no floating part")
    tree:add(PF[F_TRAILING], buf(off))
  else
    local w = tlv_width(version)
    local named = 0
    local gcur, gindex, gseen, gcounts, gtree = 0, 0, {}, {}, nil
    while off < blen do
      if off + 2 * w > blen then
        local item = tree:add(PF[F_TRUNCATED], buf(off))
        anomaly(item, pinfo, "floating_header_truncated", (blen - off) .. " bytes left at the end, too few for a floating field's tag and length")
        break
      end
      local tag, len
      if w == 1 then tag, len = buf(off, 1):uint(), buf(off + 1, 1):uint()
      else tag, len = buf(off, 2):uint(), buf(off + 2, 2):uint() end
      local ds = off + 2 * w
      local dlen = math.min(len, blen - ds)
      local range = buf(off, 2 * w + dlen)
      local s = m.fl[tag]
      local parent = tree
      if s and s.g ~= 0 then
        local is_record = m.groups[s.g] == "Record"
        if gcur ~= s.g or s.first or (not is_record and gseen[tag]) then
          gindex = gcounts[s.g] or 0
          gcounts[s.g] = gindex + 1
          gcur = s.g
          gseen = {}
          gtree = tree:add(cti, buf(off), m.groups[s.g] .. " [" .. gindex .. "]")
        end
        gseen[tag] = true
        parent = gtree
      elseif s then
        gcur = 0
      end
      tagcount[tag] = (tagcount[tag] or 0) + 1
      local item
      if s then
        local text
        item, text = add_floating_value(parent, pinfo, buf, s.f, s.ty, s.arr, off, ds, dlen, s.vt, range)
        if s.g == 0 and declared[s.f] == nil and (dlen == 1 or dlen == 2 or dlen == 4) then
          declared[s.f] = {buf(ds, dlen):uint(), item}
        end
        if shown[s.f] == nil and text then shown[s.f] = text end
        if s.ty == "nv" or s.ty == "na" then named = named + dlen end
        if s.max ~= 0 and dlen > s.max then
          anomaly(item, pinfo, "value_too_long", FIELDS[s.f][1] .. " is " .. dlen .. " bytes, its maximum is " .. s.max)
        end
        if s.uniq and seen[tag] then
          anomaly(item, pinfo, "duplicate_field", FIELDS[s.f][1] .. " (tag " .. tag .. ") appears more than once; it is not a list member")
        end
        -- A version the connection stated defines its tags; an inferred or assumed one
        -- only stands for a layout.
        local since, till = TAG_SINCE[tag] or 0, TAG_UNTIL[tag]
        if (vsource == "seen" or vsource == "forced") and (version < since or (till and version > till)) then
          anomaly(item, pinfo, "tag_not_allowed", "tag " .. tag .. " (" .. FIELDS[s.f][1] .. ") is not defined at protocol version " .. version .. " (" .. TAG_DEFINED[tag] .. "); decoded all the same")
        end
      else
        local t = TAGS[tag]
        if t == nil then
          item = tree:add(PF[F_UNKNOWN_TAG], buf(ds, dlen))
          anomaly(item, pinfo, "unknown_tag", "floating tag " .. tag .. " is not defined by any source")
        else
          item = add_floating_value(tree, pinfo, buf, t.f, t.ty, false, off, ds, dlen, t.vt, range)
          anomaly(item, pinfo, "tag_not_allowed", "tag " .. tag .. " (" .. FIELDS[t.f][1] .. ") is not a field of " .. m.name)
          if t.max > 0 and dlen > t.max then
            anomaly(item, pinfo, "value_too_long", FIELDS[t.f][1] .. " is " .. dlen .. " bytes, its maximum is " .. t.max)
          end
        end
      end
      if dlen < len then
        anomaly(item, pinfo, "floating_past_end", "tag " .. tag .. " declares " .. len .. " bytes but only " .. dlen .. " remain in the message")
      end
      item:add(f_tag, buf(off, w), tag):set_generated()
      seen[tag] = true
      off = ds + dlen
    end
    if named > NAMED_DATA_BUDGET then
      anomaly(tree, pinfo, "named_data_too_much", "NAMEDVAR and NAMEDARRAY data total " .. named .. " bytes")
    end
    check_required()
    for _, c in ipairs(m.cnt) do
      local d = declared[c.f]
      if d ~= nil then
        local v, item = d[1], d[2]
        local name = FIELDS[c.f][1]
        if c.max >= 0 and v > c.max then
          anomaly(item, pinfo, "count_over_max", name .. " = " .. v .. ", above the documented maximum of " .. c.max)
        end
        local present = 0
        if c.rec then
          present = tagcount[183] or 0
        else
          for _, t in ipairs(c.mem) do present = math.max(present, tagcount[t] or 0) end
        end
        -- NumFltSkillGroups 0 means one set in the fixed part (AGENT_STATE_EVENT).
        if v ~= present and not (name == "NumFltSkillGroups" and v == 0 and present <= 1) then
          anomaly(item, pinfo, "count_mismatch", name .. " = " .. v .. " but " .. present .. " are present")
        end
      end
    end
  end
  for _, fi in ipairs(m.sum) do
    if shown[fi] ~= nil then info[#info + 1] = FIELDS[fi][1] .. "=" .. shown[fi] end
  end
  return table.concat(info, " "), m, tree
end

-- Request/confirm pairing by InvokeID per connection.
local INVOKE_ID
for i, f in ipairs(FIELDS) do
  if f[1] == "InvokeID" then INVOKE_ID = i end
end

local function pair(buf, pinfo, tree, m, ckey)
  if m == nil or tree == nil or m.fixed[1] == nil or m.fixed[1].f ~= INVOKE_ID or buf:len() < 12 then return end
  local invoke = buf(8, 4):uint()
  local k = ckey .. ":" .. invoke
  if not pinfo.visited then
    if m.role == "Request" then
      pairs_req[k] = {frame = pinfo.number, time = pinfo.abs_ts}
    elseif m.role == "Confirm" then
      local r = pairs_req[k]
      if r and r.response == nil then
        r.response = pinfo.number
        pairs_resp[pinfo.number .. ":" .. buf:offset()] = {frame = r.frame, time = r.time}
      end
    end
  end
  if m.role == "Request" then
    local r = pairs_req[k]
    if r and r.frame == pinfo.number and r.response then
      tree:add(f_response_in, r.response):set_generated()
    end
  else
    local p = pairs_resp[pinfo.number .. ":" .. buf:offset()]
    if p then
      tree:add(f_request_in, p.frame):set_generated()
      local d = pinfo.abs_ts - p.time
      local secs = math.floor(d)
      tree:add(f_latency, NSTime.new(secs, math.floor((d - secs) * 1e9 + 0.5))):set_generated()
    end
  end
end

local last_info_frame = -1

local function dissect_pdu(buf, pinfo, root)
  local ckey = conv_key(pinfo)
  local conv = convs[ckey]
  if conv == nil then conv = {}; convs[ckey] = conv end
  local info, m, tree = decode_message(buf, pinfo, root, conv)
  pair(buf, pinfo, tree, m, ckey)
  pinfo.cols.protocol = "CTI"
  if last_info_frame ~= pinfo.number then
    pinfo.cols.info:set(info)
    last_info_frame = pinfo.number
  else
    pinfo.cols.info:append(" | " .. info)
  end
  return buf:len()
end

local function pdu_length(buf, pinfo, offset)
  return buf(offset, 4):uint() + HEADER_LEN
end

function cti.dissector(buf, pinfo, root)
  return dissect_tcp_pdus(buf, root, HEADER_LEN, pdu_length, dissect_pdu, true)
end

local function plausible(buf, off)
  local len, ty = buf(off, 4):uint(), buf(off + 4, 4):uint()
  return len <= RESYNC_MAX_LENGTH and TYPES[ty] ~= nil, len
end

-- Heuristic: a plausible header confirmed by the next header or by the data ending there.
local function heuristic(buf, pinfo, root)
  if buf:len() < HEADER_LEN then return false end
  local ok, len = plausible(buf, 0)
  if not ok then return false end
  local e = HEADER_LEN + len
  if buf:len() ~= e then
    if buf:len() < e + HEADER_LEN or not plausible(buf, e) then return false end
  end
  pinfo.conversation = cti
  cti.dissector(buf, pinfo, root)
  return true
end

local registered_ports
local function register_ports()
  local tcp = DissectorTable.get("tcp.port")
  if registered_ports then tcp:remove(registered_ports, cti) end
  registered_ports = cti.prefs.ports
  tcp:add(registered_ports, cti)
end

function cti.prefs_changed()
  register_ports()
end

function cti.init()
  convs = {}
  frame_versions = {}
  pairs_req, pairs_resp = {}, {}
  last_info_frame = -1
end

register_ports()
cti:register_heuristic("tcp", heuristic)
