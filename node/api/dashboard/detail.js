// One job's detail: every attempt, the metrics and confusion matrices of its bundle (when
// this node trained it), the bundle CID with the command that fetches it, and the tail of
// its training log (when this node ran it). Text only, as everywhere on the page.
import { durationText, f1Text, getJson, h, shortId, timeText } from './dom.js'

/** How much of the training log the page asks for (KiB; the API takes 1..1024). */
const LOG_KIB = 32
/** A CID as the fleet writes them (CIDv1 base32 `b...`, or CIDv0 base58 `Qm...`): letters and digits only. */
const SHELL_SAFE_CID = /^(b[a-z2-7]{20,190}|Qm[1-9A-HJ-NP-Za-km-z]{44})$/

/** Fetches what the detail shows; the metrics and the log are null when this node has none. */
export async function loadDetail(id, { signal } = {}) {
  const path = `/v1/jobs/${encodeURIComponent(id)}`
  const optional = (p) =>
    getJson(p, { signal }).catch((err) => {
      if (err.status === 404) return null
      throw err
    })
  const [job, report, log] = await Promise.all([
    getJson(path, { signal }),
    optional(`${path}/metrics`),
    optional(`${path}/log?kib=${LOG_KIB}`),
  ])
  return { job, report, log }
}

function row(label, value, attrs = {}) {
  return h('tr', {}, h('th', { scope: 'row', text: label }), h('td', { ...attrs, text: value ?? '-' }))
}

function section(title, ...children) {
  return h('section', { class: 'detail-part' }, h('h3', { text: title }), ...children)
}

function summary(job, now) {
  const specText = JSON.stringify(
    {
      hyper: job.spec.hyper,
      split: job.spec.split,
      train_hosts: job.spec.train_hosts,
      seed: job.spec.seed,
      require_cuda: job.spec.require_cuda,
      prefer_cuda: job.spec.prefer_cuda,
      min_vram_gib: job.spec.min_vram_gib,
      min_ram_gib: job.spec.min_ram_gib,
      allowed_hosts: job.spec.allowed_hosts,
    },
    null,
    2,
  )
  return h(
    'div',
    { class: 'detail-summary' },
    h(
      'table',
      { class: 'kv' },
      h(
        'tbody',
        {},
        row('id', job.id, { class: 'mono', 'data-field': 'id' }),
        row('status', job.status, { 'data-field': 'status', 'data-status': job.status }),
        row('attempt', `${job.attempt} / ${job.max_attempts} (generation ${job.generation})`),
        row('priority', String(job.priority)),
        row('owner', job.owner ?? '-', { class: 'mono' }),
        row('host', job.host ?? '-'),
        row('val macro F1', f1Text(job.val_macro_f1)),
        row('test macro F1', f1Text(job.test_macro_f1)),
        row(
          'updated',
          job.updated_at === null ? '-' : `${timeText(job.updated_at)} (${durationText(now - job.updated_at)} ago)`,
        ),
        job.waiting === null ? null : row('why waiting', job.waiting, { 'data-field': 'waiting' }),
        job.error === null ? null : row('error', job.error, { class: 'error-text', 'data-field': 'error' }),
      ),
    ),
    h('details', {}, h('summary', { text: 'spec' }), h('pre', { class: 'mono', text: specText })),
  )
}

function bundlePart(job) {
  if (job.bundle === null) return section('Bundle', h('p', { class: 'muted', text: 'no bundle yet' }))
  const cid = h('p', {}, 'CID ', h('code', { class: 'mono', 'data-field': 'bundle', text: job.bundle }))
  // A peer writes the CID into the table: a command to paste into a shell is shown only for
  // a plain base32/base58 CID, and the directory name keeps only safe characters.
  if (!SHELL_SAFE_CID.test(job.bundle)) {
    return section('Bundle', cid, h('p', { class: 'error-text', text: 'not a CID: no fetch command shown' }))
  }
  const dir = `bundle-${shortId(job.id)}-${job.model}-${job.mode}`.replace(/[^A-Za-z0-9._-]/g, '_')
  return section(
    'Bundle',
    cid,
    h('p', {}, 'fetch it on any host of the fleet:'),
    h('pre', {
      class: 'mono command',
      'data-field': 'fetch-command',
      text: `cis490-node fetch ${job.bundle} --out ${dir}`,
    }),
  )
}

function attemptsPart(attempts) {
  if (attempts.length === 0) return section('Attempts', h('p', { class: 'muted', text: 'no attempt yet' }))
  const head = ['gen', 'attempt', 'owner', 'host', 'claimed', 'started', 'ended', 'outcome', 'error']
  return section(
    'Attempts',
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'attempts' },
        h('thead', {}, h('tr', {}, ...head.map((t) => h('th', { scope: 'col', text: t })))),
        h(
          'tbody',
          {},
          ...attempts.map((a) =>
            h(
              'tr',
              { 'data-outcome': a.outcome },
              h('td', { text: String(a.generation) }),
              h('td', { text: String(a.attempt) }),
              h('td', { class: 'mono', title: a.owner, text: shortId(a.owner) }),
              h('td', { text: a.host || '-' }),
              h('td', { text: timeText(a.claimed_at) }),
              h('td', { text: timeText(a.started_at) }),
              h('td', { text: timeText(a.ended_at) }),
              h('td', { class: `outcome outcome-${a.outcome}`, text: a.outcome }),
              h('td', { class: 'error-text', text: a.error ?? '' }),
            ),
          ),
        ),
      ),
    ),
  )
}

function confusionTable(title, classes, matrix) {
  const max = Math.max(1, ...matrix.flat())
  return h(
    'table',
    { class: 'confusion', 'data-split': title },
    h('caption', { text: `${title}: rows true, columns predicted` }),
    h('thead', {}, h('tr', {}, h('th', {}), ...classes.map((c) => h('th', { scope: 'col', text: c })))),
    h(
      'tbody',
      {},
      ...matrix.map((cells, i) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row', text: classes[i] ?? String(i) }),
          ...cells.map((n, j) =>
            h('td', {
              text: String(n),
              // shade in ten steps by count; the diagonal (right answers) in its own colour
              class: `cell shade-${Math.round((9 * n) / max)}${i === j ? ' diag' : ''}`,
            }),
          ),
        ),
      ),
    ),
  )
}

function metricsPart(job, report) {
  if (report === null) {
    const where = job.host === null ? 'the node that trains it' : `${job.host}'s dashboard`
    return section(
      'Metrics',
      h(
        'p',
        { class: 'muted', 'data-field': 'no-metrics' },
        job.status === 'completed'
          ? `val macro F1 ${f1Text(job.val_macro_f1)}, test macro F1 ${f1Text(job.test_macro_f1)}. This node neither trained it nor stores its bundle: per-class F1 and the confusion matrices are in the bundle (fetch it, or open ${where} or a store peer's).`
          : 'no metrics until the job completes',
      ),
    )
  }
  const m = report.metrics
  const perClass = h(
    'table',
    { class: 'per-class' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col', text: 'class' }),
        h('th', { scope: 'col', text: 'val F1' }),
        h('th', { scope: 'col', text: 'test F1' }),
      ),
    ),
    h(
      'tbody',
      {},
      ...report.classes.map((c) => {
        const f = Object.hasOwn(m.per_class_f1, c) ? m.per_class_f1[c] : { val: null, test: null }
        return h(
          'tr',
          {},
          h('th', { scope: 'row', text: c }),
          h('td', { text: f1Text(f.val) }),
          h('td', { text: f1Text(f.test) }),
        )
      }),
    ),
  )
  return section(
    'Metrics',
    h(
      'p',
      { 'data-field': 'metrics' },
      `macro F1 val ${f1Text(m.val_macro_f1)}, test ${f1Text(m.test_macro_f1)}; accuracy val ${f1Text(m.val_accuracy)}, test ${f1Text(m.test_accuracy)}; rows train ${report.split.train_rows}, val ${report.split.val_rows}, test ${report.split.test_rows} (test hosts: ${report.split.test_hosts.join(', ') || 'none'}; ${report.source === 'run' ? `from run ${report.run.slice(65)}` : "from this node's block store"})`,
    ),
    perClass,
    h(
      'div',
      { class: 'confusions' },
      confusionTable('val', report.classes, m.confusion.val),
      confusionTable('test', report.classes, m.confusion.test),
    ),
  )
}

function logPart(log) {
  if (log === null)
    return section(
      'Training log',
      h('p', { class: 'muted', text: 'this node has not run this job (since it started)' }),
    )
  const note = log.truncated ? `the last ${LOG_KIB} KiB of ${log.size} bytes` : `${log.size} bytes`
  return section(
    'Training log',
    h('p', { class: 'muted', text: `run ${log.run.slice(65)} on this node: ${note}` }),
    h('pre', { class: 'mono log', 'data-field': 'log', text: log.text }),
  )
}

/** Renders a loaded detail into `title` and `body`. */
export function renderDetail(title, body, { job, report, log }, now) {
  title.replaceChildren(
    document.createTextNode(`${job.model} · ${job.mode} `),
    h('span', { class: 'mono muted', text: shortId(job.id) }),
    document.createTextNode(' '),
    h('span', { class: `badge status-${job.status}`, text: job.status }),
  )
  const logEl = body.querySelector('pre.log')
  const atEnd = logEl === null || logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 4
  const specOpen = body.querySelector('details')?.open === true && body.dataset.job === job.id
  body.dataset.job = job.id
  body.replaceChildren(
    summary(job, now),
    bundlePart(job),
    attemptsPart(job.attempts),
    metricsPart(job, report),
    logPart(log),
  )
  if (specOpen) body.querySelector('details').open = true
  const newLog = body.querySelector('pre.log')
  if (newLog !== null && atEnd) newLog.scrollTop = newLog.scrollHeight
}
