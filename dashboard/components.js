// Shared pieces: the html tag, action buttons, confirmation dialogs, tables, badges.
import { h } from './vendor/preact.mjs';
import { useEffect, useLayoutEffect, useRef, useState } from './vendor/hooks.mjs';
import htm from './vendor/htm.mjs';
import { post } from './api.js';
import { toast, store, subscribe } from './store.js';
import { baseName, dateTime, isoTime, ago, shown } from './format.js';

export const html = htm.bind(h);

/** Re-renders the calling component on every (coalesced) change of the store. */
export function useStore() {
  const [, setTick] = useState(0);
  useEffect(() => subscribe(() => setTick((n) => n + 1)), []);
  return store;
}

let idCounter = 0;
/** A stable id for aria attributes. */
export function useId(prefix = 'id') {
  const ref = useRef(null);
  if (ref.current === null) {
    idCounter += 1;
    ref.current = `${prefix}-${idCounter}`;
  }
  return ref.current;
}

/** Runs an action (POST) and tells its outcome in the live region. */
export async function runAction({ path, body, success }) {
  const r = await post(path, body);
  if (r.ok) toast(typeof success === 'function' ? success(r.data) : success, 'ok');
  else toast(r.message, 'error');
  return r;
}

/**
 * A button that POSTs to `path`; disabled while the call runs. `describedBy` names the file
 * (screen readers hear which file a "Retry" is for).
 */
export function ActionButton({ label, path, body, success, describedBy, onDone, kind = '' }) {
  const [busy, setBusy] = useState(false);
  const click = async () => {
    if (busy) return;
    setBusy(true);
    try {
      const r = await runAction({ path, body, success: success || `${label}: done.` });
      if (onDone) onDone(r);
    } finally {
      setBusy(false);
    }
  };
  return html`<button
    type="button"
    class=${`btn ${kind}`}
    disabled=${busy}
    aria-busy=${busy ? 'true' : undefined}
    aria-describedby=${describedBy}
    onClick=${click}
  >
    ${label}
  </button>`;
}

/**
 * Cancel for a file in flight (its pending id), confirmed: it throws away the work done on the
 * file (the copy stops and is removed); the file is held until released.
 */
export function CancelButton({ file, describedBy, onDone }) {
  const [open, setOpen] = useState(false);
  if (!file || !file.id) return null;
  const confirm = async () => {
    const r = await runAction({
      path: `/v1/files/${encodeURIComponent(file.id)}/cancel`,
      success: `Cancelled ${file.source}: it is held until released.`,
    });
    if (onDone) onDone(r);
  };
  return html`<button
      type="button"
      class="btn"
      aria-describedby=${describedBy}
      onClick=${() => setOpen(true)}
    >
      Cancel
    </button>
    <${ConfirmDialog}
      open=${open}
      title=${`Cancel ${baseName(file.source)}?`}
      onClose=${() => setOpen(false)}
      onConfirm=${confirm}
    >
      <p>
        Its reading stops and its partial copy is removed. The file stays where it is in the input,
        held: it is not taken again until released (Pending, Release).
      </p>
    <//>`;
}

/**
 * A modal confirmation (native <dialog>: focus is trapped, Escape closes it). `onConfirm` may
 * return a promise: the buttons are disabled until it settles, then the dialog closes. Its
 * content exists only while it is open: a closed dialog's heading is not one of the page's.
 */
export function ConfirmDialog({ open, title, children, onConfirm, onClose, confirmLabel }) {
  const ref = useRef(null);
  const titleId = useId('dlg');
  const [busy, setBusy] = useState(false);
  // A layout effect: the dialog is modal as soon as the click that opened it has rendered.
  useLayoutEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  const confirm = async (event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    try {
      await onConfirm();
    } finally {
      setBusy(false);
      onClose();
    }
  };
  return html`<dialog
    ref=${ref}
    class="dialog"
    aria-labelledby=${titleId}
    onClose=${() => open && onClose()}
  >
    ${
      open
        ? html`<form method="dialog" onSubmit=${confirm}>
            <h2 id=${titleId}>${title}</h2>
            <div class="dialog-body">${children}</div>
            <div class="dialog-actions">
              <button type="button" class="btn" onClick=${() => onClose()} disabled=${busy}>
                Back
              </button>
              <button
                type="submit"
                class="btn primary"
                disabled=${busy}
                aria-busy=${busy ? 'true' : undefined}
              >
                ${confirmLabel || 'Confirm'}
              </button>
            </div>
          </form>`
        : null
    }
  </dialog>`;
}

/** A table that scrolls sideways inside its own box on a narrow screen. */
export function TableBox({ label, children }) {
  const box = useRef(null);
  // Each cell is given its column's name: a narrow screen shows rows stacked, each value
  // beside its name (style.css).
  useLayoutEffect(() => {
    const table = box.current && box.current.querySelector('table');
    if (!table) return;
    const names = [...table.querySelectorAll('thead th')].map((th) => th.textContent.trim());
    for (const row of table.tBodies[0] ? table.tBodies[0].rows : []) {
      for (let i = 0; i < row.cells.length; i++) {
        const name = names[i] || '';
        const cell = row.cells[i];
        if (cell.dataset.label !== name) cell.dataset.label = name;
      }
    }
  });
  return html`<div class="table-box" role="region" aria-label=${label} tabindex="0" ref=${box}>
    ${children}
  </div>`;
}

export function Badge({ kind, children }) {
  return html`<span class=${`badge badge-${kind}`}>${children}</span>`;
}

/** A time as "3 s ago", with the full date in its title. */
export function When({ time }) {
  const iso = isoTime(time);
  if (!iso) return html`<span>—</span>`;
  return html`<time datetime=${iso} title=${dateTime(time)}>${ago(time)}</time>`;
}

/** A path shown by its base name, the full path beside it in smaller type. */
export function PathCell({ path, id }) {
  return html`<span class="path" id=${id}>
    <span class="path-name">${baseName(path)}</span>${' '}
    <span class="path-full">${shown(path) || '—'}</span>
  </span>`;
}

export function Panel({ title, id, actions, children, className = '' }) {
  const autoId = useId('panel');
  const headingId = id || autoId;
  return html`<section class=${`panel ${className}`} aria-labelledby=${headingId}>
    <div class="panel-head">
      <h2 id=${headingId}>${title}</h2>
      ${actions ? html`<div class="panel-actions">${actions}</div>` : null}
    </div>
    ${children}
  </section>`;
}

export function Notice({ kind = 'info', children }) {
  return html`<p class=${`notice notice-${kind}`}>${children}</p>`;
}

/**
 * Fetches with `load()` now, whenever `key` changes (a route, a reconnection), and again when
 * `signal` changes (an event said the data changed): then at most once every 2 s.
 */
export function useLoader(load, key, signal) {
  const [state, setState] = useState({ loading: true, result: null });
  const last = useRef({ at: 0, timer: null, alive: true, gen: 0 });
  const run = () => {
    const l = last.current;
    l.at = Date.now();
    l.gen += 1;
    const gen = l.gen;
    Promise.resolve(load()).then(
      (result) => {
        if (l.alive && gen === l.gen) setState({ loading: false, result });
      },
      (error) => {
        if (l.alive && gen === l.gen) {
          setState({ loading: false, result: { ok: false, message: String(error) } });
        }
      },
    );
  };
  useEffect(() => {
    last.current.alive = true;
    setState((s) => ({ loading: true, result: s.result }));
    run();
    return () => {
      last.current.alive = false;
      clearTimeout(last.current.timer);
      last.current.timer = null;
    };
  }, [key]);
  const firstSignal = useRef(true);
  useEffect(() => {
    if (firstSignal.current) {
      firstSignal.current = false;
      return;
    }
    const l = last.current;
    if (l.timer !== null) return;
    const wait = Math.max(0, l.at + 2000 - Date.now());
    l.timer = setTimeout(() => {
      l.timer = null;
      if (l.alive) run();
    }, wait);
  }, [signal]);
  return { ...state, reload: run };
}
