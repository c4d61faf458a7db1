// Compile-only check of browser/index.d.ts, through the package's own `exports` map
// (run with `tsc -p __test__/types-browser`).
import {
  SecureFrames, LunaSecFrameError, isToken,
  type InputFrame, type TextareaFrame, type ParagraphFrame, type UploadFrame, type DownloadFrame,
  type AnySecureFrame, type FrameState, type SessionToken, type MountOptions, type LunaSecFrameErrorCode,
} from '@lunasec-rs/node-sdk/browser';

const frames = new SecureFrames({ tokenizerUrl: 'http://127.0.0.1:37766' });
new SecureFrames({ tokenizerUrl: 'https://tokenizer.example.com', session: 'cookie', timeout: 5000, uploadTimeout: 60000 });
new SecureFrames({ tokenizerUrl: 'https://tokenizer.example.com', session: { url: '/api/.lunasec/frame-session' } });
new SecureFrames({
  tokenizerUrl: 'https://tokenizer.example.com',
  session: { getToken: async (): Promise<SessionToken> => ({ token: 'jwt', expiresAt: 1 }) },
});
// @ts-expect-error: tokenizerUrl is required
new SecureFrames({});
// @ts-expect-error: not a session mode
new SecureFrames({ tokenizerUrl: 'x', session: 'cookies' });

async function use(form: HTMLFormElement, el: HTMLElement): Promise<void> {
  const ssn: InputFrame = await frames.mount(el, {
    component: 'input', label: 'SSN', labelHidden: true, validator: 'SSN', format: 'ssn', type: 'tel', name: 'ssn', required: true,
    placeholder: '000-00-0000', pattern: '^[0-9-]+$', title: 'Social security number', metadata: { field: 'ssn' },
    errorMessages: { invalid: 'Not an SSN', required: 'Required' },
    style: { base: { color: '#333', 'font-size': 16, padding: '4px' }, invalid: { borderColor: 'red' }, focus: { outline: '2px solid blue' }, placeholder: { color: '#999' } },
  });
  const offChange = ssn.on('change', ({ empty, valid, complete }: FrameState) => { void [empty, valid, complete]; });
  offChange();
  ssn.once('ready', () => {});
  ssn.on('blur', () => {});
  ssn.on('focus', () => {});
  ssn.on('submit', () => {});
  ssn.on('error', (err: LunaSecFrameError) => { const code: string = err.code; void code; });
  const onProgress = ({ loaded, total }: { loaded: number; total?: number }): void => { void [loaded, total]; };
  ssn.on('progress', onProgress);
  ssn.off('progress', onProgress);
  // @ts-expect-error: not an event
  ssn.on('changed', () => {});
  const token: string = await ssn.tokenize();
  await ssn.focus();
  await ssn.update({ label: 'Social security number', validator: 'SSN_EIN' });
  // @ts-expect-error: an input has no copy button
  await ssn.update({ copyButton: true });
  const iframe: HTMLIFrameElement = ssn.iframe;
  const state: FrameState = ssn.state;
  const name: string | undefined = ssn.name;
  const flags: boolean[] = [ssn.ready, ssn.destroyed, ssn.required];
  void [token, iframe, state, name, flags];

  const note: TextareaFrame = await frames.mount(el, { component: 'textarea', token: '', validator: 'Email' });
  const noteToken: string = await note.tokenize();
  void noteToken;

  const p: ParagraphFrame = await frames.mount(el, { component: 'paragraph', token, copyButton: true });
  // @ts-expect-error: a paragraph cannot be tokenized
  await p.tokenize();
  // @ts-expect-error: a paragraph needs a token
  await frames.mount(el, { component: 'paragraph' });
  // @ts-expect-error: not a component
  await frames.mount(el, { component: 'select' });
  // @ts-expect-error: validators are case-sensitive
  await frames.mount(el, { component: 'input', validator: 'ssn' });

  const up: UploadFrame = await frames.mount(el, { component: 'upload', multiple: true, accept: 'image/*,.pdf', name: 'doc' });
  up.on('tokens', (tokens: string[]) => { void tokens; });
  const current: string[] = up.tokens;
  const all: string[] = await up.tokenize();
  void [current, all];

  const d: DownloadFrame = await frames.mount(el, { component: 'download', token, label: 'ID document' });
  d.destroy();

  const opts: MountOptions = Math.random() > 0.5 ? { component: 'input' } : { component: 'upload' };
  const any: AnySecureFrame = await frames.mount(el, opts);
  if (any.component === 'upload') { const t: string[] = any.tokens; void t; }
  const live: AnySecureFrame[] = frames.frames;
  void live;

  try {
    await frames.mount(el, { component: 'paragraph', token });
  } catch (err) {
    if (err instanceof LunaSecFrameError) {
      const c: LunaSecFrameErrorCode | string = err.code;
      const n: string = err.name;
      err.frame?.destroy();
      void [c, n];
    }
  }

  const detach: () => void = frames.attachForm(form, {
    onSubmit: async (values: Record<string, string | string[]>, event: SubmitEvent) => { void [values, event]; },
    onError: (err: LunaSecFrameError) => { void err.frame; },
  });
  detach();
  frames.attachForm(form)();
  await frames.refreshSession();
  const ok: boolean = isToken(token);
  const e = new LunaSecFrameError('sessionMissing', 'logged out');
  void [ok, e];
  ssn.destroy();
  frames.destroy();
}
void use;
