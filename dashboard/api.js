// Calls to the control API (same origin; the browser presents the client certificate).

/** A call's answer: { ok, status, data, message } (the API's `message` when it failed). */
async function call(path, init) {
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error && error.name === 'AbortError') throw error;
    return { ok: false, status: 0, data: null, message: 'The daemon cannot be reached.' };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.ok) return { ok: true, status: response.status, data, message: '' };
  return { ok: false, status: response.status, data, message: messageOf(response, data) };
}

function messageOf(response, data) {
  if (data && typeof data.message === 'string' && data.message !== '') return data.message;
  return `${response.status} ${response.statusText || 'error'}`.trim();
}

/** GET a JSON document. Never throws, but for an abort through `signal`. */
export function getJSON(path, { signal } = {}) {
  return call(path, { headers: { accept: 'application/json' }, signal });
}

/** POST an action; `body` (an object) is sent as JSON. Never throws. */
export function post(path, body) {
  const init = { method: 'POST', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return call(path, init);
}

/** A file's pending id: "p" and the first 22 base64url characters of SHA-256(path). */
export async function pendingIdOf(source) {
  if (!globalThis.crypto || !crypto.subtle) return null;
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(source));
  let binary = '';
  for (const b of new Uint8Array(digest)) binary += String.fromCharCode(b);
  const b64 = btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `p${b64.slice(0, 22)}`;
}
