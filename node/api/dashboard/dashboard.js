// The dashboard: one snapshot from /v1/dashboard drawn as the jobs, workers and results
// tables and the chart; server-sent events from /v1/events say when to fetch it again
// (polling when the stream is refused or lost). Read-only.
import { drawChart, testHostsOf } from './chart.js'
import { loadDetail, renderDetail } from './detail.js'
import { durationText, f1Text, getJson, h, replaceChildren, shortId } from './dom.js'

/** Rows drawn at most (the table may hold thousands of jobs; the filters narrow it). */
const MAX_ROWS = 500
/** Leaderboard rows drawn at most (the best first; the chart uses every result). */
const MAX_RESULT_ROWS = 200
/** Polling period when there is no event stream, and the slow refresh for heartbeat ages. */
const POLL_MS = 5000
const SLOW_REFRESH_MS = 15000
/** How often an open detail of a running job is fetched again (its training log grows). */
const LOG_FOLLOW_MS = 3000
const STATUSES = ['pending', 'claimed', 'running', 'completed', 'failed', 'cancelled']

const state = {
  snap: null,
  /** Server clock minus this page's clock, so ages use the node's time. */
  skew: 0,
  sort: { key: null, dir: 1 },
  filters: { status: '', model: '', mode: '' },
  lastStatus: new Map(),
  detailId: null,
  detailAbort: null,
  refreshTimer: null,
  refreshing: null,
  pollTimer: null,
  events: null,
}

const $ = (id) => document.getElementById(id)
const now = () => Date.now() + state.skew

// ---- jobs ------------------------------------------------------------------------------

function noteOf(j) {
  return j.waiting ?? j.error ?? ''
}

const SORT_VALUE = {
  id: (j) => j.id,
  model: (j) => j.model,
  mode: (j) => j.mode,
  status: (j) => STATUSES.indexOf(j.status),
  attempt: (j) => j.attempt,
  host: (j) => j.host ?? '',
  priority: (j) => j.priority,
  age: (j) => (j.updated_at === null ? Number.POSITIVE_INFINITY : now() - j.updated_at),
  note: (j) => noteOf(j),
}

function visibleJobs(jobs) {
  const { status, model, mode } = state.filters
  const rows = jobs.filter(
    (j) =>
      (status === '' || j.status === status) && (model === '' || j.model === model) && (mode === '' || j.mode === mode),
  )
  const { key, dir } = state.sort
  if (key !== null) {
    const value = SORT_VALUE[key]
    rows.sort((a, b) => {
      const x = value(a)
      const y = value(b)
      return (x < y ? -1 : x > y ? 1 : 0) * dir || (a.id < b.id ? -1 : 1)
    })
  }
  return rows
}

function syncOptions(select, values) {
  const current = select.value
  const want = ['', ...values]
  const have = [...select.options].map((o) => o.value)
  if (want.join('\u0000') !== have.join('\u0000')) {
    replaceChildren(select, ...want.map((v) => h('option', { value: v, text: v === '' ? 'all' : v })))
  }
  select.value = want.includes(current) ? current : ''
}

function renderCounts(jobs) {
  const counts = STATUSES.map((s) => [s, jobs.filter((j) => j.status === s).length])
  replaceChildren(
    $('counts'),
    h('span', { class: 'count', text: `${jobs.length} jobs` }),
    ...counts.map(([s, n]) => h('span', { class: `count badge status-${s}`, 'data-status': s, text: `${s} ${n}` })),
  )
}

function renderJobs(jobs) {
  syncOptions($('filter-status'), STATUSES)
  syncOptions($('filter-model'), [...new Set(jobs.map((j) => j.model))].sort())
  syncOptions($('filter-mode'), [...new Set(jobs.map((j) => j.mode))].sort())
  // a filter whose value left the table (its last job went) falls back to "all"
  for (const select of document.querySelectorAll('select[data-filter]'))
    state.filters[select.dataset.filter] = select.value
  const rows = visibleJobs(jobs)
  const t = now()
  const body = $('jobs-table').tBodies[0]
  replaceChildren(
    body,
    ...rows.slice(0, MAX_ROWS).map((j) => {
      const before = state.lastStatus.get(j.id)
      const changed = before !== undefined && before !== j.status
      return h(
        'tr',
        { 'data-id': j.id, 'data-status': j.status, class: changed ? 'changed' : null },
        h(
          'td',
          {},
          h('a', { href: `#job=${encodeURIComponent(j.id)}`, class: 'mono', title: j.id, text: shortId(j.id) }),
        ),
        h('td', { text: j.model }),
        h('td', { text: j.mode }),
        h('td', {}, h('span', { class: `badge status-${j.status}`, text: j.status })),
        h('td', { class: 'num', text: `${j.attempt}/${j.max_attempts}` }),
        h('td', { text: j.host ?? '-' }),
        h('td', { class: 'num', text: String(j.priority) }),
        h('td', {
          class: 'num',
          'data-since': j.updated_at ?? '',
          text: j.updated_at === null ? '-' : durationText(t - j.updated_at),
        }),
        h('td', { class: j.error !== null && j.waiting === null ? 'note error-text' : 'note', text: noteOf(j) }),
      )
    }),
  )
  for (const j of jobs) state.lastStatus.set(j.id, j.status)
  $('jobs-shown').textContent =
    rows.length > MAX_ROWS ? `showing ${MAX_ROWS} of ${rows.length} (narrow the filters)` : `${rows.length} shown`
  for (const th of $('jobs-table').tHead.rows[0].cells) {
    const sorted = th.dataset.key === state.sort.key
    if (sorted) th.setAttribute('aria-sort', state.sort.dir > 0 ? 'ascending' : 'descending')
    else th.removeAttribute('aria-sort')
  }
}

// ---- workers and results ----------------------------------------------------------------

function capabilityText(c) {
  const gpu = c.cuda ? `CUDA ${c.vram_gib} GiB` : 'no CUDA'
  return `${gpu} · ${c.ram_gib} GiB RAM · ${c.cores} cores · ${(c.runtimes ?? []).join(', ') || 'no runtimes'}`
}

function jobLink(id) {
  return h('a', { href: `#job=${encodeURIComponent(id)}`, class: 'mono', title: id, text: shortId(id) })
}

function renderWorkers(workers, selfId) {
  const t = now()
  const rows = [...workers].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0))
  replaceChildren(
    $('workers-table').tBodies[0],
    ...rows.map((w) => {
      const roles = [w.store ? 'store' : null, w.trains === false ? 'holds the table only' : 'trains'].filter(Boolean)
      const running =
        w.running.length === 0 ? ['-'] : w.running.flatMap((id, i) => (i === 0 ? [jobLink(id)] : [' ', jobLink(id)]))
      return h(
        'tr',
        { 'data-peer': w.peer_id, 'data-reachable': String(w.reachable) },
        h(
          'td',
          {},
          w.hostname || '-',
          w.peer_id === selfId ? h('span', { class: 'muted', text: ' (this node)' }) : null,
        ),
        h('td', { class: 'mono', title: w.peer_id, text: `${w.peer_id.slice(0, 8)}…${w.peer_id.slice(-6)}` }),
        h('td', {}, h('span', { class: w.reachable ? 'badge ok' : 'badge gone', text: w.reachable ? 'yes' : 'no' })),
        h('td', { text: roles.join(', ') }),
        h('td', { class: 'num', text: String(w.score) }),
        h('td', { text: capabilityText(w.capability) }),
        h('td', {}, ...running),
        h('td', { class: 'num', 'data-since': w.last_seen, text: `${durationText(t - w.last_seen)} ago` }),
      )
    }),
  )
}

function renderResults(results) {
  $('results-shown').textContent =
    results.length > MAX_RESULT_ROWS ? `the best ${MAX_RESULT_ROWS} of ${results.length} results` : ''
  const hosts = testHostsOf(results)
  const groups = drawChart($('chart'), results)
  $('chart-caption').textContent =
    groups === 0
      ? 'Validation vs test macro F1 appears here as jobs complete.'
      : `Best validation macro F1 of each model and mode, with its test macro F1 on hosts it never trained on. Test hosts: ${hosts.join(', ') || 'none'}.`
  replaceChildren(
    $('results-table').tBodies[0],
    ...results
      .slice(0, MAX_RESULT_ROWS)
      .map((r, i) =>
        h(
          'tr',
          { 'data-job': r.job },
          h('td', { class: 'num', text: String(i + 1) }),
          h('td', { text: r.model }),
          h('td', { text: r.mode }),
          h('td', { class: 'num', text: f1Text(r.val_macro_f1) }),
          h('td', { class: 'num', text: f1Text(r.test_macro_f1) }),
          h('td', { text: (r.test_hosts ?? []).join(', ') || '-' }),
          h('td', { text: r.host ?? '-' }),
          h('td', { class: 'num', text: r.fit_seconds === null ? '-' : `${r.fit_seconds.toFixed(1)}s` }),
          h('td', {}, jobLink(r.job)),
          h('td', { class: 'mono cid', title: r.bundle ?? '', text: r.bundle ?? '-' }),
        ),
      ),
  )
}

function renderAll() {
  const snap = state.snap
  if (snap === null) return
  $('fleet-name').textContent = snap.health.fleet
  $('node-info').textContent = `node ${snap.health.peer_id} · v${snap.health.version}`
  renderCounts(snap.jobs)
  renderJobs(snap.jobs)
  renderWorkers(snap.workers, snap.health.peer_id)
  renderResults(snap.results)
  document.body.dataset.loaded = 'true'
}

/** Updates every "age" cell from its `data-since` (between snapshots). */
function tickAges() {
  const t = now()
  for (const td of document.querySelectorAll('td[data-since]')) {
    const since = Number(td.dataset.since)
    if (td.dataset.since === '' || !Number.isFinite(since)) continue
    const inWorkers = td.closest('#workers-table') !== null
    td.textContent = `${durationText(t - since)}${inWorkers ? ' ago' : ''}`
  }
}

// ---- fetching ---------------------------------------------------------------------------

async function refresh() {
  if (state.refreshing !== null) return state.refreshing
  state.refreshing = (async () => {
    try {
      const snap = await getJson('/v1/dashboard')
      state.skew = snap.now - Date.now()
      state.snap = snap
      renderAll()
      if (state.detailId !== null) await refreshDetail()
      if ($('live').dataset.state === 'error') {
        if (state.events !== null && state.events.readyState === 1 /* OPEN */) setLive('live', 'live')
        else setLive('polling', `polling every ${POLL_MS / 1000}s`)
      }
    } catch (err) {
      setLive('error', `cannot reach this node: ${err.message}`)
    } finally {
      state.refreshing = null
    }
  })()
  return state.refreshing
}

/** Coalesces bursts of events into one fetch. */
function scheduleRefresh() {
  if (state.refreshTimer !== null) return
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null
    void refresh()
  }, 150)
}

function setLive(mode, text) {
  const el = $('live')
  el.dataset.state = mode
  el.textContent = text
}

function startPolling() {
  if (state.pollTimer !== null) return
  state.pollTimer = setInterval(() => void refresh(), POLL_MS)
}

function stopPolling() {
  if (state.pollTimer !== null) clearInterval(state.pollTimer)
  state.pollTimer = null
}

function connectEvents() {
  if (typeof EventSource !== 'function') {
    setLive('polling', `polling every ${POLL_MS / 1000}s`)
    startPolling()
    return
  }
  const es = new EventSource('/v1/events')
  state.events = es
  es.addEventListener('open', () => {
    stopPolling()
    setLive('live', 'live')
    void refresh() // whatever changed while the stream was down
  })
  es.addEventListener('hello', () => setLive('live', 'live'))
  es.addEventListener('jobs', scheduleRefresh)
  es.addEventListener('workers', scheduleRefresh)
  es.addEventListener('error', () => {
    // EventSource retries by itself while CONNECTING; CLOSED means refused (503): poll, retry later
    startPolling()
    if (es.readyState === EventSource.CLOSED) {
      setLive('polling', `polling every ${POLL_MS / 1000}s (no event stream)`)
      state.events = null
      setTimeout(connectEvents, 30_000)
    } else setLive('reconnecting', 'reconnecting…')
  })
}

// ---- the job detail ---------------------------------------------------------------------

async function refreshDetail() {
  const id = state.detailId
  if (id === null) return
  state.detailAbort?.abort()
  const abort = new AbortController()
  state.detailAbort = abort
  try {
    const detail = await loadDetail(id, { signal: abort.signal })
    if (state.detailId !== id) return
    renderDetail($('detail-title'), $('detail-body'), detail, now())
    $('detail').dataset.job = detail.job.id
  } catch (err) {
    if (abort.signal.aborted) return
    $('detail-title').textContent = `job ${shortId(id)}`
    replaceChildren($('detail-body'), h('p', { class: 'error-text', text: err.message }))
  }
}

function openFromHash() {
  const m = /^#job=([0-9a-fA-F]{1,64})$/.exec(location.hash)
  const dialog = $('detail')
  if (m === null) {
    state.detailId = null
    if (dialog.open) dialog.close()
    return
  }
  state.detailId = m[1].toLowerCase()
  if (!dialog.open) {
    replaceChildren($('detail-body'), h('p', { class: 'muted', text: 'loading…' }))
    delete dialog.dataset.job
    dialog.showModal()
  }
  void refreshDetail()
}

// ---- wiring -----------------------------------------------------------------------------

function wire() {
  for (const select of document.querySelectorAll('select[data-filter]')) {
    select.addEventListener('change', () => {
      state.filters[select.dataset.filter] = select.value
      if (state.snap !== null) renderJobs(state.snap.jobs)
    })
  }
  for (const th of $('jobs-table').tHead.rows[0].cells) {
    th.tabIndex = 0
    const sortBy = () => {
      const key = th.dataset.key
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 }
      if (state.snap !== null) renderJobs(state.snap.jobs)
    }
    th.addEventListener('click', sortBy)
    th.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault()
        sortBy()
      }
    })
  }
  $('jobs-table').tBodies[0].addEventListener('click', (e) => {
    const tr = e.target instanceof Element ? e.target.closest('tr[data-id]') : null
    if (tr === null || (e.target instanceof Element && e.target.closest('a') !== null)) return
    location.hash = `job=${tr.dataset.id}`
  })
  $('detail-close').addEventListener('click', () => $('detail').close())
  $('detail').addEventListener('close', () => {
    state.detailId = null
    state.detailAbort?.abort()
    if (location.hash !== '') history.replaceState(null, '', location.pathname + location.search)
  })
  window.addEventListener('hashchange', openFromHash)
  setInterval(tickAges, 1000)
  // a running job's log grows without a table change: follow it while its detail is open
  setInterval(() => {
    const open = state.snap?.jobs.find((j) => j.id === state.detailId)
    if (open !== undefined && (open.status === 'running' || open.status === 'claimed')) void refreshDetail()
  }, LOG_FOLLOW_MS)
  setInterval(() => void refresh(), SLOW_REFRESH_MS)
}

wire()
void refresh().then(openFromHash)
connectEvents()
