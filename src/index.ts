export { Orchestrator, Orchestrator as Ingestor } from './orchestrator/orchestrator.js';
export type {
  OrchestratorDeps,
  OrchestratorDeps as IngestorDeps,
} from './orchestrator/orchestrator.js';
export { resolveOptions, defaults } from './options.js';
export type { IngestorOptions, ResolvedOptions } from './options.js';
export { IngestorEvents } from './events.js';
export type { IngestorEventMap } from './events.js';
export { IngestError, UsageError, ERROR_CODES } from './errors.js';
export { dryRun, formatDryRunEntry } from './commands/dry-run.js';
export type { DryRunEntry, DryRunSummary } from './commands/dry-run.js';
export { createLogger } from './ops/logger.js';
export type { StateStore } from './state/store.js';
export type * from './interfaces.js';
