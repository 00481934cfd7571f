import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * The dashboard page's policy: its own scripts, styles and images only, no inline code,
 * no frames, no forms, requests back to this API only.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** The files the dashboard is made of, by URL path, with their content types: nothing else is served. */
const ASSETS: ReadonlyMap<string, { file: string; type: string }> = new Map([
  ['/', { file: 'index.html', type: 'text/html; charset=utf-8' }],
  ['/dashboard.css', { file: 'dashboard.css', type: 'text/css; charset=utf-8' }],
  ['/dashboard.js', { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' }],
  ['/dom.js', { file: 'dom.js', type: 'text/javascript; charset=utf-8' }],
  ['/chart.js', { file: 'chart.js', type: 'text/javascript; charset=utf-8' }],
  ['/detail.js', { file: 'detail.js', type: 'text/javascript; charset=utf-8' }],
  ['/favicon.svg', { file: 'favicon.svg', type: 'image/svg+xml' }],
])

/** A route pattern matching exactly the dashboard's paths. */
export const DASHBOARD_PATHS = new RegExp(
  `^(${[...ASSETS.keys()].map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$`,
)

/** Headers every dashboard file is served with. */
const HEADERS = {
  'Content-Security-Policy': DASHBOARD_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
}

const cache = new Map<string, string>()

/**
 * One dashboard file by its URL path (one of `DASHBOARD_PATHS`), read from the package
 * once; null for any other path.
 */
export function dashboardAsset(
  path: string,
): { contentType: string; text: string; headers: Record<string, string> } | null {
  const asset = ASSETS.get(path)
  if (asset === undefined) return null
  let text = cache.get(asset.file)
  if (text === undefined) {
    text = readFileSync(fileURLToPath(new URL(asset.file, import.meta.url)), 'utf8')
    cache.set(asset.file, text)
  }
  return { contentType: asset.type, text, headers: HEADERS }
}
