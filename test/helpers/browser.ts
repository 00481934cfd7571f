import { existsSync } from 'node:fs'
import { type Browser, chromium, type Page } from 'playwright-core'

/** Debian's chromium (`apt-get install chromium`; `.ci/run` installs it). */
export const CHROMIUM = process.env.CIS490_CHROMIUM ?? '/usr/bin/chromium'

/**
 * Why the browser tests cannot run here, or false when they can.
 * @remarks Only outside CI: under `CI=true` a missing chromium is a failure (see `launchChromium`),
 * never a skip, so CI cannot pass without having run them.
 */
export function browserSkipReason(): string | false {
  if (existsSync(CHROMIUM) || process.env.CI === 'true') return false
  return `no chromium at ${CHROMIUM} (apt-get install -y chromium); under CI=true this test fails instead`
}

/** Launches headless chromium as the CI does; throws loudly when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`chromium is missing at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does)`)
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking'],
    timeout: 60_000,
  })
}

/**
 * What went wrong inside a page: uncaught errors, console errors (CSP violations among them).
 * @param expected404 - paths whose 404 is an answer the page expects (chromium logs each as an error)
 */
export function watchPage(
  page: Page,
  expected404: RegExp = /^\/v1\/jobs\/[0-9a-f]+\/(log|metrics)$/,
): { errors: string[] } {
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`))
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return
    const url = msg.location().url
    const path = url === '' ? '' : new URL(url).pathname
    if (/status of 404/.test(msg.text()) && expected404.test(path)) return
    errors.push(`console: ${msg.text()} (${url})`)
  })
  return { errors }
}
