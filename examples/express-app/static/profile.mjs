// The profile page: mounts the Secure Frames (served by the tokenizer), saves the tokens they give,
// and shows the saved values again through paragraph and download frames. This script never sees a
// value: the frames keep them, and hand out tokens.
import { SecureFrames } from '/lunasec/browser.mjs';

const main = document.getElementById('main');
const form = document.getElementById('profile-form');
const saveButton = document.getElementById('save');
const statusEl = document.getElementById('status');
const errorsEl = document.getElementById('errors');
const savedEmpty = document.getElementById('saved-empty');
const saved = document.getElementById('saved');
const savedSsn = document.getElementById('saved-ssn');
const savedNote = document.getElementById('saved-note');
const savedDocuments = document.getElementById('saved-documents');

const params = new URLSearchParams(location.search);
const mode = params.get('session') === 'cookie' ? 'cookie' : 'token';
// Tests shorten the read grants (e.g. ?grant=2s); the app's default is 15 minutes.
const grant = params.get('grant');

/** Where the page is, for people (the status line) and for tests (data-profile-state on <body>). */
function setState(state, text) {
  document.body.dataset.profileState = state;
  if (text !== undefined) statusEl.textContent = text;
}

function showError(text) {
  if ([...errorsEl.children].some((el) => el.textContent === text)) return; // e.g. one per frame for an ended session
  const p = document.createElement('p');
  p.className = 'error';
  p.textContent = text;
  errorsEl.append(p);
}

function clearErrors() {
  errorsEl.replaceChildren();
}

/** A sentence for a person. Error messages from the library never carry a token or a value. */
function describe(err, what) {
  const name = (err && (err.code || err.name)) || 'error';
  switch (name) {
    case 'sessionMissing':
      return 'Your session has ended: log in again.';
    case 'sessionChanged':
      return `${what}: your session changed (you logged out, or logged in as someone else). Reload the page.`;
    case 'invalidGrant':
      return `${what} is not available to this session (or the permission to show it has expired).`;
    case 'cookieSessionFailed':
      return 'The cookie session could not be set up in this browser (it blocks the tokenizer\'s cookies). Use the frame token mode.';
    case 'invalid':
      return `Check the form: ${err.message}.`;
    default:
      return `${what}: ${err && err.message ? err.message : name}`;
  }
}

let frames;
try {
  frames = new SecureFrames({ tokenizerUrl: main.dataset.tokenizerUrl, session: mode });
} catch (err) {
  setState('error', '');
  showError(describe(err, 'The secure fields could not start'));
}

const EDIT = [
  ['ssn-slot', 'Social Security number', { component: 'input', name: 'ssn', validator: 'SSN', format: 'ssn', placeholder: '123-45-6789', errorMessages: { invalid: 'Enter an SSN like 123-45-6789.' } }],
  ['note-slot', 'Note', { component: 'textarea', name: 'note', placeholder: 'Anything you would rather keep private' }],
  ['documents-slot', 'ID document', { component: 'upload', name: 'documents', multiple: true }],
];
let editFrames = [];
let shownFrames = [];

/** Mounts one frame; reports its errors in the page. Resolves the frame, or null when it failed. */
async function mount(el, label, options, collect) {
  try {
    const frame = await frames.mount(el, { label, ...options });
    frame.on('error', (err) => showError(describe(err, label)));
    collect.push(frame);
    return frame;
  } catch (err) {
    if (err && err.frame) {
      // The frame stays and shows its own short message; keep it to destroy it later.
      collect.push(err.frame);
      err.frame.on('error', (e) => showError(describe(e, label)));
    }
    showError(describe(err, label));
    return null;
  }
}

async function mountEditForm() {
  for (const f of editFrames) f.destroy();
  editFrames = [];
  saveButton.disabled = true;
  const mounted = await Promise.all(EDIT.map(([id, label, options]) => mount(document.getElementById(id), label, options, editFrames)));
  saveButton.disabled = mounted.some((f) => f === null);
  return mounted.every((f) => f !== null);
}

function notSet(el) {
  const p = document.createElement('p');
  p.className = 'muted';
  p.textContent = 'Not set.';
  el.replaceChildren(p);
}

/** Fetches the saved tokens (the app creates read grants for this session) and shows them through frames. */
async function showSaved() {
  for (const f of shownFrames) f.destroy();
  shownFrames = [];
  let res;
  let out = null;
  try {
    res = await fetch(`/api/profile${grant ? `?grant=${encodeURIComponent(grant)}` : ''}`, { credentials: 'same-origin', cache: 'no-store' });
    out = await res.json().catch(() => null);
  } catch {
    res = null;
  }
  if (!res || !res.ok || !out || out.success !== true) {
    savedEmpty.hidden = false;
    savedEmpty.textContent = 'The saved values could not be loaded.';
    showError(`The saved profile could not be loaded${out && out.error && out.error.message ? `: ${out.error.message}` : res ? ` (HTTP ${res.status})` : ''}.`);
    return false;
  }
  const profile = out.profile;
  if (!profile || (!profile.ssn && !profile.note && profile.documents.length === 0)) {
    saved.hidden = true;
    savedEmpty.hidden = false;
    savedEmpty.textContent = 'Nothing saved yet.';
    return true;
  }
  savedEmpty.hidden = true;
  saved.hidden = false;
  savedSsn.replaceChildren();
  savedNote.replaceChildren();
  savedDocuments.replaceChildren();
  const jobs = [];
  if (profile.ssn) jobs.push(mount(savedSsn, 'Social Security number', { component: 'paragraph', token: profile.ssn, copyButton: true, title: 'Saved Social Security number' }, shownFrames));
  else notSet(savedSsn);
  if (profile.note) jobs.push(mount(savedNote, 'Note', { component: 'paragraph', token: profile.note, title: 'Saved note' }, shownFrames));
  else notSet(savedNote);
  if (profile.documents.length === 0) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'None.';
    savedDocuments.append(li);
  }
  profile.documents.forEach((token, i) => {
    const li = document.createElement('li');
    li.className = 'frame-slot';
    savedDocuments.append(li);
    jobs.push(mount(li, `ID document ${i + 1}`, { component: 'download', token, title: `Download ID document ${i + 1}` }, shownFrames));
  });
  const results = await Promise.all(jobs);
  return results.every((f) => f !== null);
}

async function save(values) {
  setState('saving', 'Saving…');
  saveButton.disabled = true;
  try {
    const body = {
      ssn: typeof values.ssn === 'string' ? values.ssn : '',
      note: typeof values.note === 'string' ? values.note : '',
      documents: Array.isArray(values.documents) ? values.documents : [],
    };
    let res;
    let out = null;
    try {
      res = await fetch('/api/profile', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' });
      out = await res.json().catch(() => null);
    } catch {
      res = null;
    }
    if (!res || !res.ok) {
      setState('error', 'Not saved.');
      if (res && res.status === 401) showError(describe({ name: 'sessionMissing' }, 'Not saved'));
      else showError(`Not saved: ${out && out.error && out.error.message ? out.error.message : res ? `HTTP ${res.status}` : 'the app could not be reached'}.`);
      return;
    }
    // Fresh, empty fields (what was typed is gone with the old frames), then the saved values.
    const [formOk, shownOk] = await Promise.all([mountEditForm(), showSaved()]);
    setState(formOk && shownOk ? 'saved' : 'error', 'Saved.');
  } finally {
    if (editFrames.length === EDIT.length) saveButton.disabled = false;
  }
}

async function start() {
  setState('loading', 'Loading the secure fields…');
  const [formOk, shownOk] = await Promise.all([mountEditForm(), showSaved()]);
  // Runs before the form helper's own listener (registered next): a new attempt clears the old messages.
  form.addEventListener('submit', () => {
    clearErrors();
    setState('submitting', 'Checking the form…');
  }, true);
  frames.attachForm(form, {
    onSubmit: (values) => save(values),
    onError: (err) => {
      setState('error', 'Not saved.');
      showError(describe(err, 'Not saved'));
    },
  });
  setState(formOk && shownOk ? 'ready' : 'error', formOk ? 'Ready.' : 'Some secure fields could not be loaded.');
}

if (frames) start();
