// The dashboard's DOM helpers. Everything shown comes from the job table, which untrusted
// peers write to (job errors, hostnames): text only ever enters the page as text nodes
// (textContent), attributes only through setAttribute with names written here, never HTML.

/**
 * Creates an element. `attrs` values are set with setAttribute (`class`, `data-*`, `title`...)
 * except `text`, which becomes the element's only text; children are nodes or strings
 * (strings become text nodes).
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {...(Node | string | null | undefined)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue
    if (k === 'text') el.textContent = String(v)
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children) {
    if (c === null || c === undefined) continue
    el.append(typeof c === 'string' ? document.createTextNode(c) : c)
  }
  return el
}

/** Creates an SVG element with attributes (never text as markup). */
export function svg(tag, attrs = {}, text) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  if (text !== undefined) el.textContent = String(text)
  return el
}

/** Replaces every child of `el`. */
export function replaceChildren(el, ...children) {
  el.replaceChildren(...children.filter((c) => c !== null && c !== undefined))
}

/** The first 12 hex digits of a job id, as the CLI shows it. */
export function shortId(id) {
  return typeof id === 'string' ? id.slice(0, 12) : '-'
}

/** A macro F1 as the CLI prints it, or '-'. */
export function f1Text(x) {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(3) : '-'
}

/** A duration in ms as `3s`, `4m 05s`, `2h 03m`, `3d 4h`. */
export function durationText(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '-'
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`
  const hr = Math.floor(m / 60)
  if (hr < 48) return `${hr}h ${String(m % 60).padStart(2, '0')}m`
  return `${Math.floor(hr / 24)}d ${hr % 24}h`
}

/** An epoch-ms time as local `YYYY-MM-DD HH:MM:SS`, or '-'. */
export function timeText(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '-'
  const d = new Date(ms)
  const p = (n) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

/** GET a path of this API as JSON; throws with the API's `error` text on a refusal. */
export async function getJson(path, { signal } = {}) {
  const res = await fetch(path, { signal, headers: { accept: 'application/json' }, cache: 'no-store' })
  const body = await res.json().catch(() => null)
  if (!res.ok) {
    const err = new Error(body?.error ?? `HTTP ${res.status}`)
    err.status = res.status
    throw err
  }
  return body
}
