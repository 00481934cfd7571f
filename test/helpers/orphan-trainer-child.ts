// A stand-in for a node that crashes while training: it starts one run through a real
// ProcessTrainer whose "trainer" is a silent process that never exits by itself (a real
// trainer in a long silent phase), prints the trainer's pid once the pid file is written,
// and waits to be SIGKILLed. Usage: node orphan-trainer-child.ts RUNS_DIR JOB_ID
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import pino from 'pino'
import type { RunRequest } from '../../node/peer/index.ts'
import { ProcessTrainer } from '../../node/worker/process-trainer.ts'

/** argv of the stand-in trainer: it ignores its arguments and runs until killed. */
const SILENT_TRAINER = [process.execPath, '-e', 'setInterval(() => {}, 1000)']

const [runsDir, job] = process.argv.slice(2)
const trainer = new ProcessTrainer(
  { logger: pino({ level: 'silent' }), onExit: () => {} },
  { runsDir, datasetDir: runsDir, command: SILENT_TRAINER },
)
const spec = { id: job, model: 'knn', mode: 'realistic' } as unknown as RunRequest['spec']
trainer.start({ job: job as RunRequest['job'], generation: 0, round: 0, attempt: 1, spec })
const pidFile = join(runsDir, `${job}-g0-r0`, 'pid')
for (;;) {
  const pid = await readFile(pidFile, 'utf8').catch(() => '')
  if (pid !== '') {
    process.stdout.write(`${pid}\n`)
    break
  }
  await new Promise((r) => setTimeout(r, 20))
}
setInterval(() => {}, 1000)
