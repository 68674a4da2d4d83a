import type { FastifySchemaValidationError } from 'fastify';

/** Where a value failed its schema (fastify's `validationContext`). */
export type SchemaErrorDataVar = 'body' | 'headers' | 'params' | 'querystring';

/**
 * What ajv adds to an error with `verbose` (server.ts turns it on): the value and the schema
 * it failed, so that a message can say what was expected (the schema's `description`) and what
 * came.
 */
interface VerboseError extends FastifySchemaValidationError {
  data?: unknown;
  parentSchema?: { description?: string; properties?: Record<string, unknown> };
}

/** A value as a message quotes it: JSON, cut short (a hostile value may be long). */
function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

const WHERE: Record<SchemaErrorDataVar, string> = {
  querystring: 'query parameter',
  params: 'path parameter',
  body: 'field of the body',
  headers: 'header',
};

/**
 * One line for the first schema error of a request, naming the parameter: `limit must be an
 * integer from 1 to 1000, got "0"`, `"foo" is not a query parameter of this call (it takes
 * status, since, ...)`, `the body must be a JSON object`.
 */
export function describeValidation(
  errors: readonly FastifySchemaValidationError[],
  context: SchemaErrorDataVar,
): string {
  const error = errors[0] as VerboseError | undefined;
  if (error === undefined) return `a ${WHERE[context]} is not valid`;
  const name = error.instancePath.slice(1).replaceAll('/', '.');
  if (error.keyword === 'additionalProperties') {
    const extra = String(error.params.additionalProperty);
    const known = Object.keys(error.parentSchema?.properties ?? {});
    const takes = known.length === 0 ? 'it takes none' : `it takes ${known.join(', ')}`;
    return `${quote(extra)} is not a ${WHERE[context]} of this call (${takes})`;
  }
  if (error.keyword === 'required') {
    return `${String(error.params.missingProperty)} is required`;
  }
  if (name === '') {
    return context === 'body' ? 'the body must be a JSON object' : `the ${context} are not valid`;
  }
  const expected = error.parentSchema?.description ?? error.message ?? 'valid';
  return `${name} must be ${expected}, got ${quote(error.data)}`;
}
