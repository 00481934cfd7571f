export {
  generateKey,
  generateSwarmKey,
  KeyFileError,
  loadPrivateKey,
  loadSwarmKey,
  parseSwarmKey,
  publicKeyText,
  SWARM_KEY_HEADER,
  savePrivateKey,
  writeFileAtomic,
  writeFileAtomicAsync,
} from './keys.ts'
export * from './peer/index.ts'
export * from './scheduler/index.ts'
export * from './sync/index.ts'
