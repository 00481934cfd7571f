export { type ClaimCounts, ClaimTracker, type ClaimTrackerComponents } from './claim-tracker.ts'
export {
  type BlockCounts,
  type CoreCounts,
  DEFAULT_NODE_METRICS_INIT,
  DEFAULT_RUN_BUCKETS,
  type MetricSources,
  type NetCounts,
  NodeMetrics,
  type NodeMetricsInit,
  type TrainerRunOutcome,
  type TrainerRunReport,
} from './node-metrics.ts'
