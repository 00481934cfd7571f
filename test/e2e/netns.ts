import { spawnSync } from 'node:child_process'
import { readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Every namespace, temp dir and process this harness makes carries this prefix and the
 * pid of the test process that made it, so a sweep removes only what dead runs left.
 */
export const E2E_PREFIX = 'c4e2e'

/** The subnet inside the namespaces (never configured in the machine's own namespace). */
const SUBNET = '10.249.0'
const BRIDGE = 'br0'

/** One host of the topology: a namespace with `eth0` on the bridge and loopback up. */
export interface NetnsHost {
  readonly name: string
  readonly ns: string
  readonly address: string
  /** The bridge's end of this host's veth pair (in the bridge namespace). */
  readonly port: string
}

/** Runs `ip ARGS` and throws with its stderr when it fails. */
export function ip(args: readonly string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 20_000 })
  if (r.error !== undefined) throw new Error(`ip ${args.join(' ')}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`)
  return r.stdout
}

function tc(ns: string, args: readonly string[]): void {
  ip(['netns', 'exec', ns, 'tc', ...args])
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Kills every process inside a namespace (SIGKILL), then deletes it; never throws. */
function killAndDelete(ns: string): void {
  for (let i = 0; i < 5; i++) {
    const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
    const pids = (r.stdout ?? '').split(/\s+/).filter(Boolean).map(Number)
    if (pids.length === 0) break
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    spawnSync('sleep', ['0.1'])
  }
  spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' })
}

/**
 * Why network namespaces cannot be made here, or null when they can (root or
 * CAP_NET_ADMIN, `ip` present, veth and bridge links allowed).
 */
export function netnsUnavailable(): string | null {
  const probe = `${E2E_PREFIX}-${process.pid}-probe`
  try {
    ip(['netns', 'add', probe])
    ip(['-n', probe, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1'])
    ip(['-n', probe, 'link', 'add', 'b0', 'type', 'bridge'])
    return null
  } catch (err) {
    const uid = typeof process.getuid === 'function' ? process.getuid() : -1
    return `${(err as Error).message} (uid ${uid}: network namespaces need root or CAP_NET_ADMIN, and iproute2)`
  } finally {
    killAndDelete(probe)
  }
}

/**
 * Removes what runs of this harness whose process is gone left behind: their namespaces
 * (after killing every process inside) and their temp dirs.
 */
export function sweepLeftovers(): { namespaces: string[]; dirs: string[] } {
  const mine = new RegExp(`^${E2E_PREFIX}-(\\d+)-`)
  const namespaces: string[] = []
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? ''
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0]
    const m = mine.exec(ns)
    if (m === null || pidAlive(Number(m[1]))) continue
    killAndDelete(ns)
    namespaces.push(ns)
  }
  const dirs: string[] = []
  for (const name of readdirSync(tmpdir())) {
    const m = mine.exec(name)
    if (m === null || pidAlive(Number(m[1]))) continue
    rmSync(join(tmpdir(), name), { recursive: true, force: true })
    dirs.push(name)
  }
  return { namespaces, dirs }
}

/**
 * A LAN made of network namespaces: one namespace per host, each with `eth0` (a veth
 * pair) on a bridge that lives in a namespace of its own, loopback up and a multicast
 * route, so mDNS (224.0.0.251) flows between the hosts and nothing touches the machine's
 * own interfaces.
 */
export class NetnsLan {
  readonly hosts = new Map<string, NetnsHost>()
  readonly bridgeNs: string
  private destroyed = false

  private constructor() {
    this.bridgeNs = `${E2E_PREFIX}-${process.pid}-br`
  }

  /** Creates the bridge namespace and one namespace per host name (`10.249.0.11`, `.12`, ...). */
  static create(names: readonly string[]): NetnsLan {
    const lan = new NetnsLan()
    try {
      ip(['netns', 'add', lan.bridgeNs])
      ip(['-n', lan.bridgeNs, 'link', 'set', 'lo', 'up'])
      // No IGMP snooping: the bridge floods multicast to every port, as a plain switch does.
      ip(['-n', lan.bridgeNs, 'link', 'add', BRIDGE, 'type', 'bridge', 'mcast_snooping', '0'])
      ip(['-n', lan.bridgeNs, 'link', 'set', BRIDGE, 'up'])
      names.forEach((name, i) => {
        lan.addHost(name, `${SUBNET}.${11 + i}`)
      })
      return lan
    } catch (err) {
      lan.destroy()
      throw err
    }
  }

  private addHost(name: string, address: string): void {
    const ns = `${E2E_PREFIX}-${process.pid}-${name}`
    const port = `v-${name}`.slice(0, 15)
    ip(['netns', 'add', ns])
    this.hosts.set(name, { name, ns, address, port })
    // The veth pair is born inside the bridge namespace, its host end moved straight into `ns`.
    ip(['-n', this.bridgeNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
    ip(['-n', this.bridgeNs, 'link', 'set', port, 'master', BRIDGE])
    ip(['-n', this.bridgeNs, 'link', 'set', port, 'up'])
    ip(['-n', ns, 'link', 'set', 'lo', 'up'])
    ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0'])
    ip(['-n', ns, 'link', 'set', 'eth0', 'multicast', 'on', 'up'])
    // Without a default route a send to 224.0.0.251 is "network unreachable".
    ip(['-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0'])
  }

  host(name: string): NetnsHost {
    const h = this.hosts.get(name)
    if (h === undefined) throw new Error(`no host ${name} in the LAN`)
    return h
  }

  /** Pulls the host's cable: its port on the bridge goes down (no traffic either way). */
  cut(name: string): void {
    ip(['-n', this.bridgeNs, 'link', 'set', this.host(name).port, 'down'])
  }

  /** Plugs the cable back in. */
  plug(name: string): void {
    ip(['-n', this.bridgeNs, 'link', 'set', this.host(name).port, 'up'])
  }

  /**
   * Drops every frame the bridge sends to the host (its ingress), while what the host
   * sends still reaches the others: a one-way partition.
   *
   * @remarks A `pfifo` of limit 0 on the bridge's port drops every packet it is asked to
   * queue; it needs no classifier or action module (this kernel has neither matchall nor
   * gact) and no iptables/nftables.
   */
  dropIngress(name: string): void {
    tc(this.bridgeNs, ['qdisc', 'replace', 'dev', this.host(name).port, 'root', 'pfifo', 'limit', '0'])
  }

  /** Undoes {@link dropIngress}. */
  restoreIngress(name: string): void {
    tc(this.bridgeNs, ['qdisc', 'del', 'dev', this.host(name).port, 'root'])
  }

  /** Kills every process in the host's namespace (a power cut), leaving the namespace. */
  killAll(name: string): void {
    const r = spawnSync('ip', ['netns', 'pids', this.host(name).ns], { encoding: 'utf8' })
    for (const pid of (r.stdout ?? '').split(/\s+/).filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
  }

  /** Kills every process inside the namespaces and deletes them; synchronous, idempotent, never throws. */
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    for (const h of this.hosts.values()) killAndDelete(h.ns)
    killAndDelete(this.bridgeNs)
  }
}
