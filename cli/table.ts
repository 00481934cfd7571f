import { padVisible, visibleWidth } from './colour.ts'

/**
 * Formats rows as a left-aligned text table with a header line.
 * @remarks Cells may carry colour escape codes: columns are padded by visible width.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(visibleWidth(h), ...rows.map((r) => visibleWidth(r[i] ?? ''))))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : padVisible(c, widths[i])))
      .join('  ')
      .trimEnd()
  return `${[line(header), ...rows.map(line)].join('\n')}\n`
}
