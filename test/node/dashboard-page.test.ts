import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { encodeRecord, type UnsignedRecord } from '../../crdt/index.ts'
import { ApiServer } from '../../node/api/index.ts'
import { browserSkipReason, launchChromium, watchPage } from '../helpers/browser.ts'
import { apiFixture, type Fixture, memoryLogger, T0 } from './api-fixture.ts'

const HOSTILE_ERROR = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> & "quoted"'
const HOSTILE_HOST = '<b id="pwned">evil-box</b>'

// The page in a real browser against the API over the fixture fleet (19 jobs in every state),
// with a peer's hostname and a job's error written to hurt: they must show as text.
describe('dashboard page (chromium, fixture fleet)', { skip: browserSkipReason(), timeout: 180_000 }, () => {
  let fx: Fixture
  let server: ApiServer
  let browser: Browser
  let page: Page
  let watch: { errors: string[] }

  before(async () => {
    browser = await launchChromium()
    fx = await apiFixture()
    const cpu = fx.peers.cpu
    const put = (r: object) => fx.fleet.log.push(encodeRecord(r as UnsignedRecord, cpu))
    // needsCuda: one attempt on the hostile host failed with a hostile error
    put({ t: 'claim', j: fx.ids.needsCuda, at: T0 + 7000, g: 0, r: 1, score: 1, host: HOSTILE_HOST })
    put({ t: 'fail', j: fx.ids.needsCuda, at: T0 + 8000, g: 0, r: 1, error: HOSTILE_ERROR })
    fx.fleet.peerWorkers.push({ ...fx.fleet.peerWorkers[0], peer_id: cpu.id, hostname: HOSTILE_HOST })
    server = new ApiServer(
      { view: fx.fleet, logger: memoryLogger() },
      { host: '127.0.0.1', port: 0, events: { maxClients: 1, pollMs: 100, heartbeatMs: 1000 } },
    )
    await server.start()
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    watch = watchPage(page)
    await page.goto(`${server.url}/`)
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 })
  })
  after(async () => {
    await browser?.close()
    await server?.stop()
  })

  it('draws every job, the workers, the leaderboard and the chart', async () => {
    assert.equal(await page.locator('#jobs-table tbody tr').count(), 19)
    assert.equal(await page.locator('#workers-table tbody tr').count(), 4)
    assert.equal(await page.locator('#results-table tbody tr').count(), 2)
    // two completed jobs of two model/mode pairs: two groups of bars
    assert.equal(await page.locator('#chart svg').getAttribute('data-groups'), '2')
    assert.equal(await page.locator('#chart rect.bar-val').count(), 3) // 2 groups + the legend swatch
    const running = page.locator(`#jobs-table tr[data-id="${fx.ids.running}"]`)
    assert.equal(await running.getAttribute('data-status'), 'running')
    assert.equal(await running.locator('td').nth(5).textContent(), 'cpu-box')
    assert.equal(await running.locator('td').nth(4).textContent(), '1/3')
    const cuda = page.locator(`#jobs-table tr[data-id="${fx.ids.needsCuda}"]`)
    assert.match((await cuda.locator('td.note').textContent()) ?? '', /needs CUDA/)
  })

  it('shows hostile hostnames and errors as text, never as markup', async () => {
    const hostCell = page.locator(`#workers-table tr[data-peer="${fx.peers.cpu.id}"] td`).first()
    await hostCell.waitFor()
    assert.ok(((await page.locator('#workers-table').textContent()) ?? '').includes(HOSTILE_HOST))
    assert.equal(await page.locator('#pwned').count(), 0)
    await page.locator(`#jobs-table tr[data-id="${fx.ids.needsCuda}"] td`).nth(1).click()
    await page.waitForSelector(`#detail[data-job="${fx.ids.needsCuda}"]`)
    const failed = page.locator('#detail table.attempts tr[data-outcome="failed"]')
    assert.equal(await failed.locator('td.error-text').textContent(), HOSTILE_ERROR)
    assert.equal(await failed.locator('td').nth(3).textContent(), HOSTILE_HOST)
    assert.equal(await page.locator('#detail img, #detail script, #pwned').count(), 0)
    assert.equal(await page.evaluate('window.__pwned'), undefined)
    await page.locator('#detail-close').click()
    await page.locator('#detail').waitFor({ state: 'hidden' })
  })

  it('shows no shell command for a bundle "CID" that is not one (a peer wrote it)', async () => {
    await page.locator(`#jobs-table tr[data-id="${fx.ids.done1}"] td`).nth(1).click()
    await page.waitForSelector(`#detail[data-job="${fx.ids.done1}"]`)
    assert.equal(await page.locator('#detail [data-field="bundle"]').textContent(), 'bafy-gpu-box-0.91')
    assert.equal(await page.locator('#detail [data-field="fetch-command"]').count(), 0)
    assert.match((await page.locator('#detail').textContent()) ?? '', /not a CID: no fetch command shown/)
    await page.locator('#detail-close').click()
    await page.locator('#detail').waitFor({ state: 'hidden' })
  })

  it('sorts by a column and filters by status, model and mode', async () => {
    const ids = () =>
      page.locator('#jobs-table tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')))
    await page.locator('#jobs-table th[data-key="priority"]').click()
    const asc = await page.locator('#jobs-table tbody tr td:nth-child(7)').allTextContents()
    assert.deepEqual(
      asc.map(Number),
      [...asc.map(Number)].sort((a, b) => a - b),
    )
    assert.equal(await page.locator('#jobs-table th[data-key="priority"]').getAttribute('aria-sort'), 'ascending')
    await page.locator('#jobs-table th[data-key="priority"]').click()
    const desc = await page.locator('#jobs-table tbody tr td:nth-child(7)').allTextContents()
    assert.deepEqual(
      desc.map(Number),
      [...desc.map(Number)].sort((a, b) => b - a),
    )

    await page.selectOption('#filter-status', 'completed')
    assert.deepEqual((await ids()).sort(), [fx.ids.done1, fx.ids.done2].sort())
    await page.selectOption('#filter-status', '')
    await page.selectOption('#filter-mode', 'oracle')
    assert.equal((await ids()).length, 12)
    await page.selectOption('#filter-mode', '')
    await page.selectOption('#filter-model', 'gbt')
    assert.deepEqual((await ids()).sort(), [fx.ids.done1, fx.ids.needsCuda].sort())
    await page.selectOption('#filter-model', '')
    assert.equal((await ids()).length, 19)
  })

  it('a change in the table reaches the page over /v1/events, without a reload', async () => {
    await page.evaluate('window.__sameDocument = true')
    assert.equal(await page.locator('#live').getAttribute('data-state'), 'live')
    const op = fx.operator
    fx.fleet.log.push(encodeRecord({ t: 'cancel', j: fx.ids.fillers[0], at: T0 + 50_000, g: 0 }, op))
    await page.waitForSelector(`#jobs-table tr[data-id="${fx.ids.fillers[0]}"][data-status="cancelled"]`, {
      timeout: 15_000,
    })
    assert.equal(await page.evaluate('window.__sameDocument'), true)
    assert.match((await page.locator('#counts').textContent()) ?? '', /cancelled 2/)
  })

  it('a page refused an event stream (one client at most here) polls, and still sees changes', async () => {
    const second = await browser.newPage()
    try {
      await second.goto(`${server.url}/`)
      await second.waitForSelector('body[data-loaded="true"]')
      await second.waitForSelector('#live[data-state="polling"]', { timeout: 15_000 })
      await second.evaluate('window.__sameDocument = true')
      fx.fleet.log.push(encodeRecord({ t: 'cancel', j: fx.ids.fillers[2], at: T0 + 51_000, g: 0 }, fx.operator))
      await second.waitForSelector(`#jobs-table tr[data-id="${fx.ids.fillers[2]}"][data-status="cancelled"]`, {
        timeout: 15_000,
      })
      assert.equal(await second.evaluate('window.__sameDocument'), true)
      assert.equal(await page.locator('#live').getAttribute('data-state'), 'live', 'the first page keeps its stream')
    } finally {
      await second.close()
    }
  })

  it('loads under its Content-Security-Policy without a violation or an error', () => {
    assert.deepEqual(watch.errors, [])
  })
})
