// Turns the JSON lines written by compare.sh into a markdown report: one row
// per metric, one column per server, each cell `median [min–max]` over the runs.
//
//   node table.mjs results/RUN_ID.jsonl > results/RUN_ID.md

import { readFileSync } from 'node:fs'

const SERVERS = ['canvas-server', 'hocuspocus', 'y-sweet', 'y-websocket-server']

const lines = readFileSync(process.argv[2], 'utf8')
  .split('\n')
  .filter((l) => l.trim().startsWith('{'))
  .map((l) => JSON.parse(l))
const meta = lines.find((l) => l.kind === 'meta') ?? {}
const end = lines.find((l) => l.kind === 'end') ?? {}
const records = lines.filter((l) => l.server && l.case)
const servers = SERVERS.filter((s) => records.some((r) => r.server === s))

/** Why a run's figure of this metric is not trusted (or null). */
const problems = {
  fanout (r) {
    const why = []
    if (r.deliveries < r.deliveries_expected) {
      why.push(`${r.deliveries_expected - r.deliveries} of ${r.deliveries_expected} deliveries missing`)
    }
    if (r.sockets_ended_early?.length) why.push(`${r.sockets_ended_early.length} sockets ended early`)
    if (r.errors?.length) why.push(`client errors: ${r.errors[0]}`)
    if (r.undecodable) why.push(`${r.undecodable} undecodable messages`)
    return why
  },
  connections (r) {
    const why = []
    if (r.failed) why.push(`${r.failed} sockets failed (${r.first_error})`)
    if (r.ended_while_idle) why.push(`${r.ended_while_idle} sockets closed by the server while idle`)
    return why
  },
  warm (r) {
    return r.warm_synced_full_text === false
      ? ['a warm client got less than the whole document in its sync step 2']
      : []
  },
  cold () {
    return []
  },
}

const first = (c) => records.find((r) => r.case === c && !r.error) ?? {}
const fc = first('fanout-closed')
const o50 = first('fanout-open-50')
const o100 = first('fanout-open-100')
const cn = first('connections')
const cl = first('coldload')
const n = (x) => (x === undefined ? '?' : Number(x).toLocaleString('en-US'))

const METRICS = [
  {
    label: `fanout, closed loop (${n(fc.clients)} clients, ${n(fc.writers)} writers, window ${n(fc.window)}): deliveries/s`,
    case: 'fanout-closed',
    value: (r) => r.deliveries_per_s,
    check: problems.fanout,
    digits: 0,
  },
  {
    label: 'fanout, closed loop: server CPU µs per delivery',
    case: 'fanout-closed',
    value: (r) => r.server_cpu_us_per_delivery,
    check: problems.fanout,
    digits: 2,
  },
  {
    label: `fanout, open loop ${n(o50.rate_target)} updates/s over ${n(o50.clients)} clients: p99 latency (ms)`,
    case: 'fanout-open-50',
    value: (r) => r.latency_ms?.p99,
    check: problems.fanout,
    digits: 2,
  },
  {
    label: `fanout, open loop ${n(o100.rate_target)} updates/s over ${n(o100.clients)} clients: p99 latency (ms)`,
    case: 'fanout-open-100',
    value: (r) => r.latency_ms?.p99,
    check: problems.fanout,
    digits: 2,
  },
  {
    label: `connections (${n(cn.sockets)} sockets, ${n(cn.boards)} boards): server RSS per socket (KiB)`,
    case: 'connections',
    value: (r) => r.rss_per_socket_kib,
    check: problems.connections,
    digits: 1,
  },
  {
    label: 'connections: connect + sync p99 (ms)',
    case: 'connections',
    value: (r) => r.connect_sync_ms?.p99,
    check: problems.connections,
    digits: 2,
  },
  {
    label: `cold load (${n(cl.text_len)}-character document): warm p50 (ms)`,
    case: 'coldload',
    value: (r) => r.warm_ms?.p50,
    check: problems.warm,
    digits: 2,
  },
  {
    label: 'cold load: first client after unload, from the store (ms)',
    case: 'coldload',
    // Only a full document loaded back counts: a server that kept nothing
    // (or not all of it) has no figure here.
    value: (r) => (r.cold_synced_full_text ? r.cold_first_ms : undefined),
    missing: (r) =>
      r.cold_synced_full_text === false
        ? 'a client after the unload got less than the whole document in its sync step 2 (nothing stored, or the server answered before reading its store)'
        : null,
    check: problems.cold,
    digits: 2,
  },
]

function fmt (x, digits) {
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function median (sorted) {
  const m = sorted.length >> 1
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2
}

const notes = []
function noteFor (text) {
  let i = notes.indexOf(text)
  if (i < 0) {
    notes.push(text)
    i = notes.length - 1
  }
  return i + 1
}

function cell (metric, server) {
  const runs = records.filter((r) => r.case === metric.case && r.server === server)
  if (runs.length === 0) return '–'
  const values = []
  const marks = new Set()
  for (const r of runs) {
    if (r.skipped) {
      marks.add(noteFor(`${server}: not run: ${r.skipped}`))
      continue
    }
    if (r.error) {
      marks.add(noteFor(`${server}, ${metric.case}, run ${r.run}: ${r.error}`))
      continue
    }
    const v = metric.value(r)
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      const whys = metric.missing ? [metric.missing(r)].filter(Boolean) : metric.check(r)
      for (const why of whys) marks.add(noteFor(`${server}, ${metric.case}, run ${r.run}: ${why}`))
      continue
    }
    for (const why of metric.check(r)) {
      marks.add(noteFor(`${server}, ${metric.case}, run ${r.run}: ${why}`))
    }
    // A fanout that delivered less than half of its updates measured a broken
    // set-up rather than the server.
    if (r.scenario === 'fanout' && r.deliveries < 0.5 * r.deliveries_expected) continue
    values.push(v)
  }
  const sup = marks.size ? ' ' + [...marks].sort((a, b) => a - b).map((m) => `(${m})`).join('') : ''
  if (values.length === 0) return 'n/a' + sup
  values.sort((a, b) => a - b)
  const med = fmt(median(values), metric.digits)
  if (values.length === 1) return med + sup
  const range = `[${fmt(values[0], metric.digits)}–${fmt(values[values.length - 1], metric.digits)}]`
  const short = values.length < runs.length ? ` (${values.length} of ${runs.length} runs)` : ''
  return `${med} ${range}${short}${sup}`
}

const out = []
const v = meta.versions ?? {}
out.push(`# canvas-server and peer y-websocket servers: ${meta.run_id ?? ''}`)
out.push('')
out.push(
  `${meta.runs ?? '?'} run(s) of each scenario on each server${meta.quick ? ' (quick: shorter runs, fewer sockets and clients)' : ''}; ` +
    'each cell is median [min–max] over the runs. Every run starts the server afresh on loopback.'
)
out.push('')
const header = ['metric', ...servers.map((s) => `${s}${v[s] ? ` ${v[s]}` : ''}`)]
out.push(`| ${header.join(' | ')} |`)
out.push(`|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`)
for (const m of METRICS) {
  if (!records.some((r) => r.case === m.case)) continue
  out.push(`| ${[m.label, ...servers.map((s) => cell(m, s))].join(' | ')} |`)
}
out.push('')
out.push(
  `Machine: ${meta.cores ?? '?'} cores (${meta.cpu ?? 'unknown CPU'}), shared by the server and the load generator. ` +
    `Load average (1, 5, 15 min) at the start: ${meta.loadavg_start ?? '?'}; at the end: ${end.loadavg_end ?? '?'}.`
)
const loads = records.map((r) => r.loadavg_1m).filter((x) => typeof x === 'number')
if (loads.length) {
  out.push(
    `1-minute load average just before each run: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}.`
  )
}
if (v.node && v.node !== 'n/a') out.push(`Node ${v.node}, yjs ${v.yjs} for the Node servers.`)
if (meta.loadgen) out.push(`Load generator: \`${meta.loadgen}\`.`)
out.push('')
out.push('n/a: no valid figure; the numbered notes say why.')
if (notes.length) {
  out.push('')
  notes.forEach((text, i) => out.push(`(${i + 1}) ${text}`))
}
process.stdout.write(out.join('\n') + '\n')
