import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { browserSkipReason, launchChromium, watchPage } from '../helpers/browser.ts'
import { runCliProcess } from '../helpers/cli.ts'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'
import { NodeFleet, type TestNode } from '../helpers/node-fleet.ts'

/** Screenshots land here (ignored by git); CI keeps them as artifacts. */
const ARTIFACTS = fileURLToPath(new URL('../../artifacts/', import.meta.url))

const SPLIT = 'split = { test_hosts = ["k-gamingcom"] }'
const TRAINED = [
  ['knn', 'realistic', 'hyper = { k = 3 }'],
  ['knn', 'oracle', 'hyper = { k = 3 }'],
  ['gbt', 'oracle', 'hyper = { num_boost_round = 5, nthread = 1 }'],
]
const JOBS = [
  ...TRAINED.map(([model, mode, hyper]) => `[[jobs]]\nmodel = "${model}"\nmode = "${mode}"\n${hyper}\n${SPLIT}\n`),
  // no host here has CUDA: it waits (and says why) until the operator cancels it
  `[[jobs]]\nmodel = "mlp"\nmode = "realistic"\nrequire_cuda = true\npriority = 200\n${SPLIT}\n`,
].join('\n')

type Row = { id: string; model: string; mode: string; status: string; host: string | null; bundle: string | null }

// Two real nodes (a: operator, b: store, denies gbt) train three jobs; the dashboard of a,
// in headless chromium, follows them without a reload, and shows the cancel an operator
// makes through the signed CLI.
describe('dashboard of a running fleet (chromium)', { skip: browserSkipReason(), timeout: 420_000 }, () => {
  let fleet: NodeFleet
  let a: TestNode
  let b: TestNode
  let browser: Browser
  let page: Page
  let watch: { errors: string[] }
  let failed = false
  const row = (id: string) => page.locator(`#jobs-table tr[data-id="${id}"]`)
  const jobs = async () => (await fleet.get(a, '/v1/jobs')) as Row[]
  // polled from here: the page's CSP forbids the string evaluation page.waitForFunction polls with
  const pageUntil = (what: string, check: () => Promise<boolean>) => fleet.until(`the page: ${what}`, check, 30_000)

  before(async () => {
    browser = await launchChromium() // first: a missing chromium fails at once
    fleet = await NodeFleet.create({
      jobs: 0,
      dataset: 'data',
      jobsToml: JOBS,
      extraManifest: '[hosts.b]\ndeny_jobs = ["gbt"]\n',
    })
    await makeSyntheticDataset(join(fleet.files.dir, 'data'))
    a = await fleet.start('a', {
      args: ['--manifest', fleet.files.manifest, '--operator-key', fleet.files.operatorKey],
    })
    b = await fleet.start('b', { args: ['--manifest', fleet.files.manifest, '--store'] })
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
    watch = watchPage(page)
    await page.goto(`http://${a.api}/`)
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 })
    await page.evaluate('window.__sameDocument = true')
  })
  after(async () => {
    try {
      if (failed && page !== undefined) {
        mkdirSync(ARTIFACTS, { recursive: true })
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-failure.png'), fullPage: true }).catch(() => {})
      }
    } finally {
      await browser?.close()
      await fleet?.close()
    }
  })
  const step = (name: string, fn: () => Promise<void>) =>
    it(name, async () => {
      try {
        await fn()
      } catch (err) {
        failed = true
        throw err
      }
    })

  step('shows the jobs and both workers, live', async () => {
    await pageUntil('4 job rows', async () => (await page.locator('#jobs-table tbody tr').count()) === 4)
    await pageUntil(
      'two reachable workers',
      async () => (await page.locator('#workers-table tbody tr[data-reachable="true"]').count()) === 2,
    )
    const hosts = await page.locator('#workers-table tbody tr td:first-child').allTextContents()
    assert.deepEqual(hosts, ['a (this node)', 'b'])
    assert.equal(await page.locator('#live').getAttribute('data-state'), 'live')
    const cuda = (await jobs()).find((j) => j.model === 'mlp') as Row
    await pageUntil('why the CUDA job waits', async () =>
      /needs CUDA/.test((await row(cuda.id).locator('td.note').textContent()) ?? ''),
    )
  })

  step('follows the jobs to completed without a reload, and draws the results', async () => {
    await fleet.until(
      'three jobs completed',
      async () => (await jobs()).filter((j) => j.status === 'completed').length === 3,
      300_000,
    )
    await pageUntil(
      'three completed rows',
      async () => (await page.locator('#jobs-table tbody tr[data-status="completed"]').count()) === 3,
    )
    assert.equal(await page.evaluate('window.__sameDocument'), true, 'the page was never reloaded')
    await pageUntil(
      'three groups of bars',
      async () => (await page.locator('#chart svg').getAttribute('data-groups')) === '3',
    )
    const groups = await page
      .locator('#chart g.bar-group')
      .evaluateAll((gs) => gs.map((g) => `${g.getAttribute('data-model')}/${g.getAttribute('data-mode')}`))
    assert.deepEqual(groups.sort(), ['gbt/oracle', 'knn/oracle', 'knn/realistic'])
    assert.equal(await page.locator('#chart g.bar-group rect.bar').count(), 6, 'a val and a test bar each')
    assert.match((await page.locator('#chart-caption').textContent()) ?? '', /Test hosts: k-gamingcom\./)
    const testHosts = await page.locator('#results-table tbody tr td:nth-child(6)').allTextContents()
    assert.deepEqual(testHosts, ['k-gamingcom', 'k-gamingcom', 'k-gamingcom'])
    const gbtHost = await row((await jobs()).find((j) => j.model === 'gbt')?.id ?? '')
      .locator('td')
      .nth(5)
      .textContent()
    assert.equal(gbtHost, 'a', 'b denies gbt')
    assert.match(
      (await page.locator('#workers-table tbody tr:nth-child(2) td:nth-child(4)').textContent()) ?? '',
      /store/,
    )
  })

  step('filters by status', async () => {
    await page.selectOption('#filter-status', 'pending')
    assert.deepEqual(await page.locator('#jobs-table tbody tr td:nth-child(2)').allTextContents(), ['mlp'])
    await page.selectOption('#filter-status', 'completed')
    assert.equal(await page.locator('#jobs-table tbody tr').count(), 3)
    await page.selectOption('#filter-status', '')
    assert.equal(await page.locator('#jobs-table tbody tr').count(), 4)
  })

  step('opens a job: attempts, metrics, confusion matrices, bundle and its fetch command, training log', async () => {
    const gbt = (await jobs()).find((j) => j.model === 'gbt') as Row
    await row(gbt.id).locator('td').nth(1).click()
    await page.waitForSelector(`#detail[data-job="${gbt.id}"]`, { timeout: 15_000 })
    const done = page.locator('#detail table.attempts tr[data-outcome="completed"]')
    assert.equal(await done.count(), 1)
    assert.equal(await done.locator('td').nth(3).textContent(), 'a')
    assert.equal(await page.locator('#detail [data-field="bundle"]').textContent(), gbt.bundle)
    assert.match(
      (await page.locator('#detail [data-field="fetch-command"]').textContent()) ?? '',
      new RegExp(`^cis490-node fetch ${gbt.bundle} --out \\S+$`),
    )
    // a trained it: bundle.json's metrics are here, 3 classes
    assert.match((await page.locator('#detail [data-field="metrics"]').textContent()) ?? '', /macro F1 val 0?\.\d{3}/)
    assert.equal(await page.locator('#detail table.per-class tbody tr').count(), 3)
    assert.equal(await page.locator('#detail table.confusion').count(), 2)
    assert.equal(await page.locator('#detail table.confusion[data-split="test"] tbody tr').count(), 3)
    const log = (await page.locator('#detail [data-field="log"]').textContent()) ?? ''
    assert.ok(log.trim().length > 0, 'the training log of the run on a')
    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-detail.png') })
    await page.locator('#detail-close').click()
  })

  step('a cancel made through the signed CLI shows up without a reload', async () => {
    const cuda = (await jobs()).find((j) => j.model === 'mlp') as Row
    const r = runCliProcess(['cancel', cuda.id.slice(0, 12), '--key', fleet.files.operatorKey, '--api', a.api])
    assert.equal(r.code, 0, r.stderr)
    await page.waitForSelector(`#jobs-table tr[data-id="${cuda.id}"][data-status="cancelled"]`, { timeout: 30_000 })
    assert.equal(await page.evaluate('window.__sameDocument'), true)
    assert.match((await page.locator('#counts').textContent()) ?? '', /cancelled 1/)
    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true })
  })

  step("b's dashboard shows the gbt job's metrics from its block store (a trained it)", async () => {
    const gbt = (await jobs()).find((j) => j.model === 'gbt') as Row
    await fleet.until(
      'b stores the gbt bundle',
      async () => (await fetch(`http://${b.api}/v1/jobs/${gbt.id}/metrics`)).status === 200,
      120_000,
    )
    const pageB = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
    const watchB = watchPage(pageB)
    try {
      await pageB.goto(`http://${b.api}/#job=${gbt.id}`)
      await pageB.waitForSelector(`#detail[data-job="${gbt.id}"]`, { timeout: 30_000 })
      assert.match(
        (await pageB.locator('#detail [data-field="metrics"]').textContent()) ?? '',
        /from this node's block store/,
      )
      assert.equal(await pageB.locator('#detail table.confusion').count(), 2)
      assert.equal(await pageB.locator('#detail [data-field="log"]').count(), 0, 'b never ran it')
      assert.deepEqual(watchB.errors, [])
    } finally {
      await pageB.close()
    }
  })

  step('no error and no CSP violation in the page', async () => {
    assert.deepEqual(watch.errors, [])
  })
})
