-- wrk script: POST valid sipas-counter responses, each with a fresh UUID, to /api/v1/responses.
-- Environment: BENCH_TARGETS "UNIT:COUNTER,UNIT:COUNTER,…", BENCH_VERSION (questionnaire version),
-- BENCH_IDS_DIR (each thread writes the ids acknowledged with 201 to ids_<n>.txt there),
-- BENCH_AUTHORIZATIONS (Authorization headers, API keys for submit_responses, separated by ","; each
-- request takes one at random, as many partner apps would).
-- done() prints one line "BENCH_JSON {…}" with the counts and latency percentiles (microseconds).

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("thread_number", counter)
   table.insert(threads, thread)
end

local targets = {}
local authorizations = {}
local version = tonumber(os.getenv("BENCH_VERSION") or "1")
local ids_file = nil
created, other, non201 = 0, 0, 0

function init(args)
   for pair in string.gmatch(os.getenv("BENCH_TARGETS") or "", "[^,]+") do
      local unit, counter_code = string.match(pair, "([^:]+):([^:]+)")
      table.insert(targets, {unit, counter_code})
   end
   math.randomseed(os.time() * 1000 + thread_number * 7919 + math.floor(os.clock() * 1e6))
   local dir = os.getenv("BENCH_IDS_DIR")
   if dir then
      ids_file = io.open(dir .. "/ids_" .. thread_number .. ".txt", "w")
   end
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   for header in string.gmatch(os.getenv("BENCH_AUTHORIZATIONS") or "", "[^,]+") do
      table.insert(authorizations, header)
   end
end

local function hex(n)
   local parts = {}
   for i = 1, n do
      parts[i] = string.format("%x", math.random(0, 15))
   end
   return table.concat(parts)
end

local function uuid4()
   local variant = string.format("%x", math.random(8, 11))
   return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-" .. variant .. hex(3) .. "-" .. hex(12)
end

function request()
   local target = targets[math.random(1, #targets)]
   local answers = {}
   for item = 24, 39 do
      table.insert(answers, string.format('"c9_%d":%d', item, math.random(3, 5)))
   end
   table.insert(answers, string.format('"overall":%d', math.random(3, 5)))
   table.insert(answers, '"comment":"Cán bộ hướng dẫn nhiệt tình, thủ tục nhanh gọn."')
   local body = string.format(
      '{"id":"%s","questionnaire":"sipas-counter","version":%d,"unit":"%s","counter":"%s",'
         .. '"channel":"web","locale":"vi","answers":{%s}}',
      uuid4(), version, target[1], target[2], table.concat(answers, ",")
   )
   local headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = authorizations[math.random(1, #authorizations)],
   }
   return wrk.format(nil, "/api/v1/responses", headers, body)
end

function response(status, headers, body)
   if status == 201 then
      created = created + 1
      if ids_file then
         local id = string.match(body, '"id"%s*:%s*"([0-9a-f%-]+)"')
         ids_file:write(id or "?", "\n")
      end
   else
      non201 = non201 + 1
   end
end

function done(summary, latency, requests)
   local total_created, total_non201 = 0, 0
   for _, thread in ipairs(threads) do
      total_created = total_created + (thread:get("created") or 0)
      total_non201 = total_non201 + (thread:get("non201") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"created":%d,"non201":%d,'
         .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
         .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
      summary.requests, summary.duration, total_created, total_non201,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max
   ))
end
