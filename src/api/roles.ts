import type { X509Certificate } from 'node:crypto';
import { readFlagFile } from '../options/check-paths.js';
import { FlagValueError } from '../options/values.js';

/** What a client may do: `user` reads and streams; `admin` does everything. */
export type Role = 'admin' | 'user';

/** A role as the roles file gives it: `none` takes away the role the OU would give. */
export type MappedRole = Role | 'none';

const MAPPED_ROLES: readonly MappedRole[] = ['admin', 'user', 'none'];

/**
 * `--api-roles`: certificate subjects (normalized, see `normalizeSubject`) and common names
 * mapped to roles. A subject's entry wins over a CN's, and either over the OU.
 */
export interface RoleMap {
  readonly subjects: ReadonlyMap<string, MappedRole>;
  readonly names: ReadonlyMap<string, MappedRole>;
}

/** Who called: the certificate's subject (as logs show it) and the role it has, if any. */
export interface Identity {
  readonly subject: string;
  readonly role: Role | undefined;
}

/** One `KEY=value` of a subject: the key upper case, both sides trimmed. */
function component(part: string): string | undefined {
  const at = part.indexOf('=');
  if (at <= 0) return undefined;
  return `${part.slice(0, at).trim().toUpperCase()}=${part.slice(at + 1).trim()}`;
}

/**
 * A subject as one string, `O=Example, OU=ops, CN=alice`, in the certificate's order, from any
 * of the ways operators meet it: `/O=Example/OU=ops/CN=alice` (`openssl req -subj`),
 * `O = Example, OU = ops, CN = alice` (`openssl x509 -noout -subject`), or one component a line
 * (Node.js). Undefined when a part is not `KEY=value`.
 */
export function normalizeSubject(text: string): string | undefined {
  const trimmed = text.trim();
  const parts = trimmed.startsWith('/')
    ? trimmed.slice(1).split('/')
    : trimmed.split(trimmed.includes('\n') ? '\n' : ',');
  const components = parts.map(component);
  if (components.length === 0 || components.some((c) => c === undefined)) return undefined;
  return components.join(', ');
}

/**
 * Reads `--api-roles`: a JSON object whose keys are certificate subjects (any key with an `=`)
 * or common names, and whose values are `admin`, `user` or `none`. Each problem is a usage
 * error naming the flag, the file and the key.
 */
export function readRoles(file: string): RoleMap {
  const bad = (problem: string) =>
    new FlagValueError('api-roles', `${JSON.stringify(file)} ${problem}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFlagFile('api-roles', file).toString('utf8'));
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw bad(`is not valid JSON (${error.message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw bad('must hold a JSON object of subjects or CNs to roles');
  }
  const subjects = new Map<string, MappedRole>();
  const names = new Map<string, MappedRole>();
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!MAPPED_ROLES.includes(value as MappedRole)) {
      throw bad(
        `gives ${JSON.stringify(key)} the role ${JSON.stringify(value)}: roles are ${MAPPED_ROLES.join(', ')}`,
      );
    }
    if (!key.includes('=')) {
      names.set(key, value as MappedRole);
      continue;
    }
    const subject = normalizeSubject(key);
    if (subject === undefined) {
      throw bad(`has the key ${JSON.stringify(key)}, which is not a subject (KEY=value, ...)`);
    }
    subjects.set(subject, value as MappedRole);
  }
  return Object.freeze({ subjects, names });
}

/** The values of one attribute (`OU`) in a normalized subject. */
function attribute(subject: string, key: string): string[] {
  return subject
    .split(', ')
    .filter((c) => c.startsWith(`${key}=`))
    .map((c) => c.slice(key.length + 1));
}

/** The role of an OU: `admin` if any OU says so, else `user` if any does. */
function roleOfUnits(units: readonly string[]): Role | undefined {
  if (units.includes('admin')) return 'admin';
  if (units.includes('user')) return 'user';
  return undefined;
}

/** Who a client certificate (already verified by the TLS handshake) is, and its role. */
export function identify(certificate: X509Certificate, roles: RoleMap | undefined): Identity {
  const subject = normalizeSubject(certificate.subject) ?? certificate.subject;
  const mapped =
    roles?.subjects.get(subject) ??
    attribute(subject, 'CN')
      .map((cn) => roles?.names.get(cn))
      .find((r) => r !== undefined);
  const role = mapped === undefined ? roleOfUnits(attribute(subject, 'OU')) : mapped;
  return { subject, role: role === 'none' ? undefined : role };
}

/** Whether `role` may make a call that needs `needed` (`admin` may do what `user` may). */
export function allows(role: Role | undefined, needed: Role): boolean {
  return role === 'admin' || (role === 'user' && needed === 'user');
}
