export * from './scheduler/index.ts'
