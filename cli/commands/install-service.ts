import { spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { homedir, userInfo } from 'node:os'
import { dirname, join, resolve, win32 } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { RunError, UsageError } from '../errors.ts'
import { errnoReason, requireInputDir, requireInputFile } from '../paths.ts'

/** The checkout this command runs from: the service runs its Node 22 and its `cli/bin.ts`. */
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** The service's name: the systemd unit `cis490-node.service`, the Scheduled Task `cis490-node`. */
export const SERVICE_NAME = 'cis490-node'

/** Seconds systemd waits before restarting a failed node (a crash loop stays slow). */
export const RESTART_DELAY_S = 10

/** Seconds a stopping node gets to release its claims and flush its table before SIGKILL. */
export const STOP_TIMEOUT_S = 60

/** Variables of the enrolling shell that the service keeps (tuning of the node and its trainers). */
const FORWARDED_ENV = /^(CIS490_(?!DATA_DIR$)[A-Z0-9_]+|XGBOOST_LIBRARY)$/

/** What a service runs and as whom; paths absolute. */
export interface ServiceSpec {
  /** The Node 22 binary. */
  readonly node: string
  /** `cli/bin.ts` of the checkout. */
  readonly bin: string
  /** The working directory (the checkout). */
  readonly workingDir: string
  readonly dataDir: string
  readonly swarmKey: string
  /** A user unit / a task at the user's logon (true), or a system unit / a task at startup. */
  readonly userService: boolean
  /** Who the service runs as: `User=` of a system unit, the task's principal. */
  readonly user: string
  /** Extra environment of the node. */
  readonly env: Readonly<Record<string, string>>
}

/** `cis490-node start` arguments of the service (after the Node binary). */
function startArgs(spec: ServiceSpec): string[] {
  return [spec.bin, 'start', '--data-dir', spec.dataDir, '--swarm-key', spec.swarmKey]
}

// ---- systemd ---------------------------------------------------------------------------------

/** Escapes `%` specifiers (systemd expands them in most settings). */
function noSpecifiers(value: string): string {
  return value.replaceAll('%', '%%')
}

/**
 * One word of `ExecStart=` or `Environment=`: double-quoted, with C escapes for `\` and `"`,
 * `%` specifiers doubled, and (for ExecStart) `$` variable references doubled.
 */
function systemdQuote(value: string, opts: { dollar: boolean }): string {
  let s = noSpecifiers(value.replaceAll('\\', '\\\\').replaceAll('"', '\\"'))
  if (opts.dollar) s = s.replaceAll('$', '$$$$')
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `"${s}"`
}

/** A POSIX shell word (for the commands printed to copy). */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`
}

/**
 * A path as `systemd-escape --path` writes it: simplified, slashes at the ends dropped,
 * `/` becomes `-`, and every byte outside `[A-Za-z0-9:_.]` (or a leading `.`) becomes `\xNN`.
 */
export function systemdEscapePath(path: string): string {
  const trimmed = path.replace(/\/+/g, '/').replace(/^\/|\/$/g, '')
  if (trimmed === '') return '-'
  let out = ''
  const bytes = Buffer.from(trimmed, 'utf8')
  for (let i = 0; i < bytes.length; i++) {
    const c = String.fromCharCode(bytes[i])
    if (c === '/') out += '-'
    else if (/[A-Za-z0-9:_.]/.test(c) && !(i === 0 && c === '.')) out += c
    else out += `\\x${bytes[i].toString(16).padStart(2, '0')}`
  }
  return out
}

/**
 * The unit's name: `cis490-node.service` for the default data dir, else one per data dir
 * (`cis490-node-<systemd-escape --path DIR>.service`), so that two nodes of one host each
 * get a unit of their own.
 */
export function unitName(dataDir: string, defaultDataDir: string): string {
  if (resolve(dataDir) === resolve(defaultDataDir)) return `${SERVICE_NAME}.service`
  const name = `${SERVICE_NAME}-${systemdEscapePath(dataDir)}.service`
  if (name.length > 255)
    throw new UsageError(
      `--data-dir ${dataDir}: the unit name it gives is ${name.length} characters, over systemd's 255; use a shorter path`,
    )
  return name
}

/** The systemd unit that runs this host's node. */
export function systemdUnit(spec: ServiceSpec): string {
  const exec = [spec.node, ...startArgs(spec)].map((a) => systemdQuote(a, { dollar: true })).join(' ')
  const env = Object.entries(spec.env).map(([k, v]) => `Environment=${systemdQuote(`${k}=${v}`, { dollar: false })}`)
  return [
    `# Written by \`cis490-node install-service\`; run it again to change this unit.`,
    '[Unit]',
    "Description=cis490-node: this host's peer of the fleet",
    `Documentation=${noSpecifiers(`file://${encodeURI(join(spec.workingDir, 'README.md'))}`)}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    ...(spec.userService ? [] : [`User=${noSpecifiers(spec.user)}`]),
    `WorkingDirectory=${noSpecifiers(spec.workingDir)}`,
    ...env,
    `ExecStart=${exec}`,
    'Restart=on-failure',
    `RestartSec=${RESTART_DELAY_S}s`,
    '# SIGTERM to the node alone: it releases its claims, stops its trainers and flushes the table.',
    'KillMode=mixed',
    `TimeoutStopSec=${STOP_TIMEOUT_S}s`,
    '',
    '[Install]',
    `WantedBy=${spec.userService ? 'default.target' : 'multi-user.target'}`,
    '',
  ].join('\n')
}

// ---- Windows ---------------------------------------------------------------------------------

/** A PowerShell single-quoted literal (its typographic single quotes count as quotes too). */
export function powershellQuote(value: string): string {
  return `'${value.replace(/['\u2018\u2019\u201a\u201b]/g, (q) => q + q)}'`
}

/** One argument of a Windows command line, as `CommandLineToArgvW` and the C runtime split it. */
export function windowsArg(value: string): string {
  if (value !== '' && !/[\s"]/.test(value)) return value
  let out = '"'
  let slashes = 0
  for (const c of value) {
    if (c === '\\') {
      slashes++
      continue
    }
    // Backslashes before a quote (a literal one, or the closing one) are doubled.
    out += c === '"' ? `${'\\'.repeat(slashes * 2 + 1)}"` : `${'\\'.repeat(slashes)}${c}`
    slashes = 0
  }
  return `${out}${'\\'.repeat(slashes * 2)}"`
}

/** The PowerShell that registers (or replaces) and starts the Scheduled Task running this host's node. */
export function scheduledTaskScript(spec: ServiceSpec): string {
  const args = startArgs(spec).map(windowsArg).join(' ')
  const env = Object.entries(spec.env).map(
    ([k, v]) => `[Environment]::SetEnvironmentVariable(${powershellQuote(k)}, ${powershellQuote(v)}, 'User')`,
  )
  const trigger = spec.userService
    ? `New-ScheduledTaskTrigger -AtLogOn -User ${powershellQuote(spec.user)}`
    : 'New-ScheduledTaskTrigger -AtStartup'
  const logon = spec.userService ? 'Interactive' : 'S4U'
  return [
    '# Written by `cis490-node install-service --platform windows`; run it again to change the task.',
    spec.userService
      ? "# Registers a task at this user's logon (no elevation needed)."
      : '# Registers a task at startup: run it in an elevated PowerShell.',
    "$ErrorActionPreference = 'Stop'",
    ...(env.length > 0 ? ['# A task action carries no environment: these are set for the user.', ...env] : []),
    `$action = New-ScheduledTaskAction -Execute ${powershellQuote(spec.node)} -Argument ${powershellQuote(args)} -WorkingDirectory ${powershellQuote(spec.workingDir)}`,
    `$trigger = ${trigger}`,
    '# Restart on failure (every minute, the shortest interval), never time out, start when missed.',
    '$settings = New-ScheduledTaskSettingsSet -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) -ExecutionTimeLimit ([TimeSpan]::Zero) -StartWhenAvailable -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -MultipleInstances IgnoreNew',
    `$principal = New-ScheduledTaskPrincipal -UserId ${powershellQuote(spec.user)} -LogonType ${logon} -RunLevel Limited`,
    `Register-ScheduledTask -TaskName ${powershellQuote(SERVICE_NAME)} -Description "cis490-node: this host's peer of the fleet" -Action $action -Trigger $trigger -Settings $settings -Principal $principal -Force | Out-Null`,
    `Start-ScheduledTask -TaskName ${powershellQuote(SERVICE_NAME)}`,
    `Write-Output "registered and started the Scheduled Task ${SERVICE_NAME}"`,
    '',
  ].join('\r\n')
}

// ---- the command -----------------------------------------------------------------------------

interface InstallFlags {
  print?: boolean
  user?: boolean
  dataDir?: string
  swarmKey?: string
  unitDir?: string
  platform?: string
}

type Platform = 'linux' | 'windows'

/** Who ran the command: under `sudo`, the user who ran sudo. */
function invokingUser(platform: Platform): { name: string; home: string; uid: number; gid: number } {
  const me = userInfo()
  const sudo = process.env.SUDO_USER
  if (platform === 'linux' && me.uid === 0 && sudo !== undefined && sudo !== '' && sudo !== 'root') {
    const entry = readPasswd().find((e) => e[0] === sudo)
    if (entry !== undefined) return { name: sudo, uid: Number(entry[2]), gid: Number(entry[3]), home: entry[5] }
  }
  if (platform === 'windows' && process.platform === 'win32') {
    const domain = process.env.USERDOMAIN
    const name = domain !== undefined && domain !== '' ? `${domain}\\${me.username}` : me.username
    return { name, home: me.homedir, uid: -1, gid: -1 }
  }
  return { name: me.username, home: me.homedir || homedir(), uid: me.uid, gid: me.gid }
}

function readPasswd(): string[][] {
  try {
    return readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
  } catch {
    return []
  }
}

/** Refuses values no unit or command line can carry. */
function requirePrintable(flag: string, value: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(value))
    throw new UsageError(
      `${flag} ${JSON.stringify(value)}: contains a control character (a newline?); use another path`,
    )
}

/** The data dir: an existing directory, or one that can be created (its nearest existing parent is a directory). */
function checkDataDir(dir: string): boolean {
  if (existsSync(dir)) {
    requireInputDir('--data-dir', dir, 'the data directory')
    return true
  }
  let parent = dirname(dir)
  while (!existsSync(parent) && dirname(parent) !== parent) parent = dirname(parent)
  let ok = false
  try {
    ok = statSync(parent).isDirectory()
  } catch {}
  if (!ok) throw new UsageError(`--data-dir ${dir}: cannot be created: ${parent} is not a directory`)
  return false
}

/** Whether the mode bits of `st` grant `who` every permission in `bits` (4 read, 2 write, 1 search). */
function allows(
  st: { uid: number; gid: number; mode: number },
  who: { uid: number; gid: number },
  bits: number,
): boolean {
  const shift = st.uid === who.uid ? 6 : st.gid === who.gid ? 3 : 0
  return ((st.mode >> shift) & bits) === bits
}

function nodeBinary(platform: Platform): string {
  const bundled = join(PACKAGE_ROOT, 'node_modules', 'node', 'bin', platform === 'windows' ? 'node.exe' : 'node')
  if (existsSync(bundled)) return bundled
  const [major, minor] = process.versions.node.split('.').map(Number)
  if (major > 22 || (major === 22 && minor >= 18)) return process.execPath
  throw new RunError(`no Node >= 22.18 in ${PACKAGE_ROOT}: run \`npm ci\` there first`)
}

function run(argv: readonly string[]): void {
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit' })
  if (r.error !== undefined) {
    const why =
      (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found (is this a systemd host?)' : r.error.message
    throw new RunError(`${argv.join(' ')}: ${why}`)
  }
  if (r.status !== 0) throw new RunError(`${argv.join(' ')} exited with ${r.status ?? r.signal}`)
}

/** Registers `install-service`: run this host's node at boot (systemd, or a Windows Scheduled Task). */
export function registerInstallServiceCommand(program: Command): void {
  program
    .command('install-service')
    .description("run this host's node as a service: a systemd unit on Linux, a Scheduled Task on Windows")
    .addHelpText(
      'after',
      [
        '',
        'Linux: writes the unit to /etc/systemd/system (run with sudo; the node runs as the user who ran',
        'sudo) or with --user to ~/.config/systemd/user, then `systemctl [--user] daemon-reload` and',
        '`enable --now`. The unit runs `cis490-node start --data-dir DIR --swarm-key FILE` with the Node 22',
        'and cli/bin.ts of this checkout (no global install needed), restarts it on failure after',
        `${RESTART_DELAY_S} s, and gives a stopping node ${STOP_TIMEOUT_S} s. The rest of the settings come from DIR/node.toml.`,
        'Windows: writes DIR/install-service.ps1, which registers the Scheduled Task `cis490-node`',
        '(at startup, or with --user at your logon; restarted on failure); run it as printed.',
        '',
        'Examples:',
        '  sudo npx cis490-node install-service --swarm-key ~/swarm.key',
        '  npx cis490-node install-service --user --print',
      ].join('\n'),
    )
    .option('--print', 'print the unit (or the PowerShell) and write nothing')
    .option('--user', 'a systemd user unit (or a task at your logon) instead of a system service')
    .option('--data-dir <dir>', 'the data dir of the node (default ~/.cis490 of the invoking user, or CIS490_DATA_DIR)')
    .option('--swarm-key <file>', "the fleet's swarm key (default DATA_DIR/swarm.key)")
    .option('--unit-dir <dir>', 'write the unit (or script) here instead, and enable nothing')
    .option('--platform <name>', 'linux or windows (default: this host)')
    .action((opts: InstallFlags) => {
      const platform = opts.platform ?? (process.platform === 'win32' ? 'windows' : process.platform)
      if (platform !== 'linux' && platform !== 'windows')
        throw new UsageError(
          opts.platform !== undefined
            ? `--platform ${JSON.stringify(opts.platform)}: expected linux or windows`
            : `no service installer for ${platform}: pass --platform linux or windows with --print to see one`,
        )
      const pathOf = platform === 'windows' && process.platform === 'win32' ? win32.resolve : resolve
      const who = invokingUser(platform)
      for (const [flag, value] of [
        ['--data-dir', opts.dataDir],
        ['--swarm-key', opts.swarmKey],
        ['--unit-dir', opts.unitDir],
      ] as const)
        if (value !== undefined) {
          if (value.trim() === '') throw new UsageError(`${flag}: expected a path, got an empty string`)
          requirePrintable(flag, value)
        }
      const defaultDataDir = join(who.home, '.cis490')
      const dataDir = pathOf(opts.dataDir ?? process.env.CIS490_DATA_DIR ?? defaultDataDir)
      requirePrintable('--data-dir', dataDir)
      const dataDirExists = checkDataDir(dataDir)
      const swarmKey = pathOf(opts.swarmKey ?? join(dataDir, 'swarm.key'))
      if (opts.swarmKey === undefined && !existsSync(swarmKey))
        throw new UsageError(
          `--swarm-key: none given and no ${swarmKey}: pass --swarm-key FILE (the fleet's key, from \`cis490-node keygen --swarm\`)`,
        )
      requireInputFile('--swarm-key', swarmKey, "the fleet's swarm key")
      if (opts.unitDir !== undefined) requireInputDir('--unit-dir', opts.unitDir, 'the directory to write the unit in')
      if (platform === 'linux' && userInfo().uid === 0 && who.uid !== 0) {
        if (opts.user === true)
          throw new UsageError(`--user: run it without sudo: a user unit belongs to the user who runs it (${who.name})`)
        // Root checks as root; the service runs as the user, who must be able to use these.
        if (!allows(statSync(swarmKey), who, 0o4))
          throw new UsageError(
            `--swarm-key ${swarmKey}: ${who.name} cannot read it (the node runs as ${who.name}); chown it`,
          )
        if (dataDirExists && !allows(statSync(dataDir), who, 0o3))
          throw new UsageError(
            `--data-dir ${dataDir}: ${who.name} cannot write in it (the node runs as ${who.name}); chown it`,
          )
      }
      const env = Object.fromEntries(
        Object.entries(process.env).filter(
          (e): e is [string, string] => FORWARDED_ENV.test(e[0]) && e[1] !== undefined,
        ),
      )
      for (const [k, v] of Object.entries(env)) requirePrintable(`the environment variable ${k}`, v)
      return import('../../node/keys.ts').then(({ loadSwarmKey }) => {
        try {
          loadSwarmKey(swarmKey)
        } catch (err) {
          throw new UsageError(`--swarm-key ${(err as Error).message}`)
        }
        const spec: ServiceSpec = {
          node: nodeBinary(platform),
          bin: join(PACKAGE_ROOT, 'cli', 'bin.ts'),
          workingDir: PACKAGE_ROOT.replace(/[\\/]$/, ''),
          dataDir,
          swarmKey,
          userService: opts.user === true,
          user: who.name,
          env,
        }
        if (platform === 'windows') {
          // Task Scheduler expands %NAME% in a task's arguments and offers no escape for it.
          for (const [flag, path] of [
            ['--data-dir', dataDir],
            ['--swarm-key', swarmKey],
            ['the checkout', PACKAGE_ROOT],
          ] as const)
            if (path.includes('%'))
              throw new UsageError(`${flag} ${path}: a Scheduled Task cannot carry a path with %; use another path`)
          return installWindows(spec, opts, dataDirExists)
        }
        return installLinux(spec, opts, unitName(dataDir, defaultDataDir), who, dataDirExists)
      })
    })
}

function makeDataDir(spec: ServiceSpec, exists: boolean, owner: { uid: number; gid: number } | null): void {
  if (exists) return
  try {
    mkdirSync(spec.dataDir, { recursive: true, mode: 0o700 })
    if (owner !== null) chownSync(spec.dataDir, owner.uid, owner.gid)
  } catch (err) {
    throw new UsageError(`--data-dir ${spec.dataDir}: cannot create it: ${errnoReason(err)}`)
  }
}

function writeOut(flag: string, file: string, text: string, mode: number): void {
  try {
    writeFileSync(file, text, { mode })
  } catch (err) {
    throw new UsageError(`${flag} ${dirname(file)}: cannot write ${file}: ${errnoReason(err)}`)
  }
}

function installLinux(
  spec: ServiceSpec,
  opts: InstallFlags,
  name: string,
  who: { name: string; uid: number; gid: number },
  dataDirExists: boolean,
): void {
  const unit = systemdUnit(spec)
  if (opts.print === true) {
    process.stdout.write(unit)
    return
  }
  const systemctl = spec.userService ? ['systemctl', '--user'] : ['systemctl']
  const configHome = process.env.XDG_CONFIG_HOME || join(homedir(), '.config')
  const unitDir = opts.unitDir ?? (spec.userService ? join(configHome, 'systemd', 'user') : '/etc/systemd/system')
  if (opts.unitDir === undefined && !spec.userService && userInfo().uid !== 0)
    throw new UsageError(
      `writing ${join(unitDir, name)} needs root: run this with sudo (the node then runs as ${who.name}), or pass --user for a user unit, or --print to see the unit`,
    )
  const me = userInfo()
  makeDataDir(spec, dataDirExists, me.uid === 0 && who.uid !== 0 ? who : null)
  if (opts.unitDir === undefined) mkdirSync(unitDir, { recursive: true })
  const file = join(unitDir, name)
  writeOut('--unit-dir', file, unit, 0o644)
  process.stdout.write(`wrote ${file}\n`)
  if (opts.unitDir !== undefined) {
    // systemd loads units from its own directories only: a unit written elsewhere is not enabled.
    const target = spec.userService ? '~/.config/systemd/user/' : '/etc/systemd/system/'
    process.stdout.write(
      `not enabled (systemd does not load units from ${opts.unitDir}); to install it:\n` +
        `  cp ${shellQuote(file)} ${target} && ${systemctl.join(' ')} daemon-reload && ${systemctl.join(' ')} enable --now ${shellQuote(name)}\n`,
    )
    return
  }
  run([...systemctl, 'daemon-reload'])
  run([...systemctl, 'enable', '--now', name])
  const journal = spec.userService ? `journalctl --user -u ${name}` : `journalctl -u ${name}`
  process.stdout.write(
    `enabled and started ${name} (running as ${who.name}; restarts on failure after ${RESTART_DELAY_S} s)\n` +
      `  status: ${systemctl.join(' ')} status ${name}    log: ${journal} -f  (or ${join(spec.dataDir, 'node.log')})\n`,
  )
  if (spec.userService)
    process.stdout.write(`  a user unit starts at boot only with lingering: loginctl enable-linger ${who.name}\n`)
}

function installWindows(spec: ServiceSpec, opts: InstallFlags, dataDirExists: boolean): void {
  const script = scheduledTaskScript(spec)
  if (opts.print === true) {
    process.stdout.write(script)
    return
  }
  makeDataDir(spec, dataDirExists, null)
  const file = join(opts.unitDir ?? spec.dataDir, 'install-service.ps1')
  // A byte-order mark: Windows PowerShell 5.1 reads a script without one in the ANSI code page.
  writeOut(opts.unitDir !== undefined ? '--unit-dir' : '--data-dir', file, `\ufeff${script}`, 0o644)
  process.stdout.write(
    `wrote ${file}; to register and start the task, run${spec.userService ? '' : ' in an elevated PowerShell'}:\n` +
      `  powershell -NoProfile -ExecutionPolicy Bypass -File ${windowsArg(file)}\n`,
  )
}
