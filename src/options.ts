// Options live in src/options/ (defaults, flags, values, path checks, sources, resolution). This
// keeps the names this module has always exported where src/ and library callers import them.
export { MODES, ON_DUPLICATE, commandDefaults, defaults } from './options/defaults.js';
export { requireDirectory, requireReadableState } from './options/check-paths.js';
export { resolveOptions } from './options/resolve.js';
export { readConfigFile } from './options/sources.js';
export { parseNumberFlag } from './options/values.js';
export type * from './options/types.js';
