import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileDocumentStore, MemoryDocumentStore } from '../../node/store/index.ts'
import { runDocumentStoreTests } from '../helpers/document-store-suite.ts'

runDocumentStoreTests('MemoryDocumentStore', () => {
  let current: MemoryDocumentStore | undefined
  return {
    open: () => {
      current = current === undefined ? new MemoryDocumentStore() : current.reopen()
      return current
    },
    cleanup: async () => {},
  }
})

runDocumentStoreTests('FileDocumentStore', async () => {
  const root = await mkdtemp(join(tmpdir(), 'cis490-store-'))
  return {
    open: () => new FileDocumentStore(join(root, 'table')),
    cleanup: () => rm(root, { recursive: true, force: true }),
  }
})
