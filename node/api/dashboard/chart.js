// Validation vs test macro F1 per model and feature mode, as an inline SVG bar chart:
// the gap between the bars is how well a model generalises to hosts it never saw.
import { f1Text, shortId, svg } from './dom.js'

const W = 760
const H = 300
const M = { top: 16, right: 12, bottom: 58, left: 40 }

/**
 * The best result (highest val macro F1, as the leaderboard sorts) of each model and mode.
 * @param {Array<{job: string, model: string, mode: string, val_macro_f1: number|null, test_macro_f1: number|null, test_hosts: string[]}>} results
 */
export function bestPerModelMode(results) {
  const best = new Map()
  for (const r of results) {
    const key = `${r.model}\u0000${r.mode}`
    if (!best.has(key)) best.set(key, r) // results arrive best val first
  }
  return [...best.values()].sort((a, b) =>
    a.model === b.model ? (a.mode < b.mode ? -1 : 1) : a.model < b.model ? -1 : 1,
  )
}

/** The test hosts of the results, once each, sorted. */
export function testHostsOf(results) {
  return [...new Set(results.flatMap((r) => r.test_hosts ?? []))].sort()
}

/**
 * Draws the chart into `el` (replacing what was there).
 * @returns {number} how many model/mode groups it drew
 */
export function drawChart(el, results) {
  const groups = bestPerModelMode(results)
  if (groups.length === 0) {
    el.replaceChildren(svg('svg', { viewBox: `0 0 ${W} 60`, class: 'chart-svg', 'data-groups': 0 }))
    el.firstChild.append(svg('text', { x: W / 2, y: 34, 'text-anchor': 'middle', class: 'axis' }, 'no results yet'))
    return 0
  }
  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'chart-svg',
    'data-groups': groups.length,
    preserveAspectRatio: 'xMidYMid meet',
  })
  const plotW = W - M.left - M.right
  const plotH = H - M.top - M.bottom
  const y = (v) => M.top + plotH * (1 - Math.max(0, Math.min(1, v)))
  for (let t = 0; t <= 5; t++) {
    const v = t / 5
    root.append(svg('line', { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), class: 'grid' }))
    root.append(svg('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, v.toFixed(1)))
  }
  root.append(
    svg(
      'text',
      {
        x: 12,
        y: M.top + plotH / 2,
        class: 'axis',
        transform: `rotate(-90 12 ${M.top + plotH / 2})`,
        'text-anchor': 'middle',
      },
      'macro F1',
    ),
  )
  const band = plotW / groups.length
  const barW = Math.max(4, Math.min(28, band * 0.32))
  groups.forEach((g, i) => {
    const cx = M.left + band * (i + 0.5)
    const bars = [
      ['val', g.val_macro_f1, cx - barW - 1],
      ['test', g.test_macro_f1, cx + 1],
    ]
    const group = svg('g', { class: 'bar-group', 'data-model': g.model, 'data-mode': g.mode })
    for (const [which, value, x] of bars) {
      if (typeof value !== 'number') continue
      const rect = svg('rect', {
        x,
        y: y(value),
        width: barW,
        height: Math.max(0, y(0) - y(value)),
        class: `bar bar-${which}`,
      })
      rect.append(
        svg(
          'title',
          {},
          `${g.model} · ${g.mode}: ${which} macro F1 ${f1Text(value)} (job ${shortId(g.job)}; test hosts: ${(g.test_hosts ?? []).join(', ') || 'none'})`,
        ),
      )
      group.append(rect)
      group.append(
        svg(
          'text',
          { x: x + barW / 2, y: y(value) - 3, 'text-anchor': 'middle', class: 'bar-label' },
          f1Text(value).slice(1),
        ),
      )
    }
    group.append(svg('text', { x: cx, y: H - M.bottom + 16, 'text-anchor': 'middle', class: 'axis model' }, g.model))
    group.append(svg('text', { x: cx, y: H - M.bottom + 30, 'text-anchor': 'middle', class: 'axis muted' }, g.mode))
    root.append(group)
  })
  const legendY = H - 12
  root.append(svg('rect', { x: M.left, y: legendY - 9, width: 10, height: 10, class: 'bar bar-val' }))
  root.append(
    svg('text', { x: M.left + 14, y: legendY, class: 'axis' }, 'validation (held-out episodes of the training hosts)'),
  )
  root.append(svg('rect', { x: M.left + 330, y: legendY - 9, width: 10, height: 10, class: 'bar bar-test' }))
  root.append(svg('text', { x: M.left + 344, y: legendY, class: 'axis' }, 'test (hosts never trained on)'))
  el.replaceChildren(root)
  return groups.length
}
