// Options live in src/options/ (defaults, flags, values, path checks, sources, resolution). This
// keeps the names this module has always exported where src/ and library callers import them.
export { commandDefaults, defaults } from './options/defaults.js';
export { resolveOptions } from './options/resolve.js';
export type * from './options/types.js';
