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
export * from './scheduler/index.ts'
