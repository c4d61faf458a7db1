// Typings for @lunasec-rs/node-sdk/browser (browser/index.mjs). Protocol: browser/PROTOCOL.md.

/** The frame components the Dedicated Tokenizer serves. */
export type Component = 'input' | 'textarea' | 'paragraph' | 'upload' | 'download';

/** Validators run inside the frame (input and textarea). `CardNumber` checks the Luhn digit. */
export type Validator = 'Email' | 'SSN' | 'EIN' | 'SSN_EIN' | 'CardNumber';

/**
 * The CSS properties a frame accepts from the page (camelCase or kebab-case). Values containing
 * `; { } < > \ @ /*`, `url(` or `expression(` are refused.
 */
export type StyleProperty =
  | 'color' | 'backgroundColor' | 'background' | 'fontFamily' | 'fontSize' | 'fontWeight' | 'fontStyle'
  | 'lineHeight' | 'letterSpacing' | 'textAlign' | 'padding' | 'paddingTop' | 'paddingRight'
  | 'paddingBottom' | 'paddingLeft' | 'border' | 'borderColor' | 'borderWidth' | 'borderStyle'
  | 'borderRadius' | 'boxShadow' | 'outline' | 'width' | 'height' | 'textTransform';

/** The same properties in kebab-case. */
export type KebabStyleProperty =
  | 'color' | 'background-color' | 'background' | 'font-family' | 'font-size' | 'font-weight' | 'font-style'
  | 'line-height' | 'letter-spacing' | 'text-align' | 'padding' | 'padding-top' | 'padding-right'
  | 'padding-bottom' | 'padding-left' | 'border' | 'border-color' | 'border-width' | 'border-style'
  | 'border-radius' | 'box-shadow' | 'outline' | 'width' | 'height' | 'text-transform';

export type StyleDeclarations = { [P in StyleProperty | KebabStyleProperty]?: string | number };

/** Styles applied inside the frame through the CSSOM. */
export interface FrameStyle {
  /**
   * The control's own style. Default: the computed style of the element the frame replaces (colour,
   * font, padding, border, background colour, text alignment; not width or height) or, when mounted
   * in a container, the container's inherited text properties (colour, font, line height, alignment);
   * your properties go on top.
   */
  base?: StyleDeclarations;
  /** Added while the value is invalid. Default: none (the frame's own). */
  invalid?: StyleDeclarations;
  /** Added while the control has the focus. Default: none (the frame's own). */
  focus?: StyleDeclarations;
  /** For the placeholder text. Default: none (the browser's). */
  placeholder?: StyleDeclarations;
}

interface CommonOptions {
  /** The iframe's `title` (its accessible name). Default: `label`, else `'Secure <component> field'`. */
  title?: string;
  /**
   * The label rendered inside the frame and tied to its control. Default: when replacing an input or
   * textarea, the text of its `<label>` (or its `aria-label`); else none.
   */
  label?: string;
  /**
   * Render the label for screen readers only. Default: true when the label is taken from a `<label>` of
   * the replaced element (the page keeps showing it; clicking it focuses the frame), else false.
   */
  labelHidden?: boolean;
  /** Styles for the frame's content. Default: see {@link FrameStyle.base}. */
  style?: FrameStyle;
}

interface FieldOptions extends CommonOptions {
  /**
   * The form field name the form helper uses for this frame's token. Default: the `name` of the
   * replaced element; else none (the frame is validated and tokenized but not put in the form).
   */
  name?: string;
  /** The field must not be empty. Default: the replaced element's `required`; else false. */
  required?: boolean;
  /** Extra `customFields` for the token's metadata. Default: none. */
  metadata?: Record<string, unknown>;
  /** Messages shown inside the frame. Default: the frame's own English texts. */
  errorMessages?: { invalid?: string; required?: string };
}

export interface InputOptions extends FieldOptions {
  component: 'input';
  /** Default: the replaced input's `type` if it is one of these, else `'text'`. */
  type?: 'text' | 'email' | 'tel' | 'password';
  /** Default: the replaced element's `placeholder`; else none. */
  placeholder?: string;
  /** Validation run in the frame. Default: none. */
  validator?: Validator;
  /** A regular expression (source, `u` flag) the whole value must match. Default: none. */
  pattern?: string;
  /** Display format as typed. Default: none (the value as typed). */
  format?: 'ssn' | 'card';
  /** Pre-fill: the frame detokenizes this token (needs a read grant). `''` means empty. Default: none. */
  token?: string;
}

export interface TextareaOptions extends FieldOptions {
  component: 'textarea';
  /** Default: the replaced element's `placeholder`; else none. */
  placeholder?: string;
  /** Validation run in the frame. Default: none. */
  validator?: Validator;
  /** A regular expression (source, `u` flag) the whole value must match. Default: none. */
  pattern?: string;
  /** Pre-fill: the frame detokenizes this token (needs a read grant). `''` means empty. Default: none. */
  token?: string;
}

export interface ParagraphOptions extends CommonOptions {
  component: 'paragraph';
  /** Required: the token whose value the frame shows (needs a read grant). */
  token: string;
  /** A copy-to-clipboard button inside the frame (the iframe gets `allow="clipboard-write"`). Default: false. */
  copyButton?: boolean;
}

export interface UploadOptions extends Omit<FieldOptions, 'metadata'> {
  component: 'upload';
  /** Several files. Default: false. */
  multiple?: boolean;
  /** The file input's `accept` (e.g. `'image/*,.pdf'`). Default: any file. */
  accept?: string;
  /** Extra `customFields` for each file token's metadata (the file name and type are always there). Default: none. */
  metadata?: Record<string, unknown>;
}

export interface DownloadOptions extends CommonOptions {
  component: 'download';
  /** Required: the file token to offer as a download link (needs a read grant). */
  token: string;
}

export type MountOptions = InputOptions | TextareaOptions | ParagraphOptions | UploadOptions | DownloadOptions;

/** A frame's validation state. Never the value. */
export interface FrameState {
  empty: boolean;
  valid: boolean;
  complete: boolean;
}

/** Event names and what their listeners receive. */
export interface FrameEvents {
  /** The frame is usable (its session works and any pre-fill is done). `mount()` resolves at the first one. */
  ready: Record<string, never>;
  /** The validation state changed. */
  change: FrameState;
  blur: Record<string, never>;
  focus: Record<string, never>;
  /** Enter in a single-line input. (A form attached with `attachForm` is then submitted.) */
  submit: Record<string, never>;
  /** Something went wrong after `ready` (e.g. `invalidGrant`, `sessionChanged`, `sessionMissing`). */
  error: LunaSecFrameError;
  /** Bytes moved by an upload or download. */
  progress: { loaded: number; total?: number };
  /** upload: all current tokens, after each file finishes or is removed. */
  tokens: string[];
}

export type FrameEventName = keyof FrameEvents;

/** A mounted frame. */
export interface SecureFrame<C extends Component = Component, O extends MountOptions = MountOptions> {
  /** The iframe element. */
  readonly iframe: HTMLIFrameElement;
  readonly component: C;
  /** The field name the form helper uses (from the options or the replaced element). */
  readonly name: string | undefined;
  readonly required: boolean;
  /** The last state the frame reported (a copy). Before any report: `{ empty: !token, valid: true, complete: false }`. */
  readonly state: FrameState;
  readonly ready: boolean;
  readonly destroyed: boolean;
  /** Adds a listener; returns a function that removes it. Throws `invalidOptions` for an unknown event name. */
  on<E extends FrameEventName>(event: E, listener: (payload: FrameEvents[E]) => void): () => void;
  off<E extends FrameEventName>(event: E, listener: (payload: FrameEvents[E]) => void): void;
  /** Like `on`, for the next event only. */
  once<E extends FrameEventName>(event: E, listener: (payload: FrameEvents[E]) => void): () => void;
  /** Moves the keyboard focus into the frame's control. */
  focus(): Promise<void>;
  /**
   * Sends changed attributes to the frame (validated like `mount`; the component cannot change). The
   * frame applies a new `style` at once; other changes may need a new mount. Resolves on its confirmation.
   */
  update(attributes: Partial<Omit<O, 'component'>>): Promise<void>;
  /** Closes the port, removes the iframe, restores the replaced element; pending calls reject with `destroyed`. */
  destroy(): void;
}

export interface InputFrame extends SecureFrame<'input', InputOptions> {
  /** The value's token, or `''` when the field is empty. */
  tokenize(): Promise<string>;
}

export interface TextareaFrame extends SecureFrame<'textarea', TextareaOptions> {
  /** The value's token, or `''` when the field is empty. */
  tokenize(): Promise<string>;
}

export interface ParagraphFrame extends SecureFrame<'paragraph', ParagraphOptions> {}

export interface UploadFrame extends SecureFrame<'upload', UploadOptions> {
  /** The current tokens, one per uploaded file (a copy). */
  readonly tokens: string[];
  /** The tokens of all files, once uploads in progress finish. */
  tokenize(): Promise<string[]>;
}

export interface DownloadFrame extends SecureFrame<'download', DownloadOptions> {}

export type AnySecureFrame = InputFrame | TextareaFrame | ParagraphFrame | UploadFrame | DownloadFrame;

/** A frame token from the app's backend: a user JWT and its expiry in Unix seconds. */
export interface SessionToken {
  token: string;
  expiresAt: number;
}

export type SessionOption =
  /** POST `/.lunasec/frame-session` on this page's origin (the Express plugin's route). */
  | 'token'
  /** The original redirect flow with `Partitioned` cookies (Chromium and Firefox only). */
  | 'cookie'
  /** Frame-token mode with another same-origin endpoint, e.g. `{ url: '/api/.lunasec/frame-session' }`. */
  | { url: string }
  /** Frame-token mode with your own fetch. Throw a `LunaSecFrameError('sessionMissing')` when logged out. */
  | { getToken: () => SessionToken | Promise<SessionToken> };

export interface SecureFramesOptions {
  /** The Dedicated Tokenizer's URL (https, or http on localhost/127.0.0.1), on another origin than the page. */
  tokenizerUrl: string;
  /**
   * How frames authenticate. Default: `'token'`: a short-lived JWT from `POST /.lunasec/frame-session`
   * (same origin), fetched once for all frames, refreshed 60 s before it expires and when a frame asks.
   */
  session?: SessionOption;
  /** Time-out in ms for the frame to start, to be ready, and to answer a request. Default: 10000. */
  timeout?: number;
  /** Time-out in ms for an upload's `tokenize()`, restarted by each progress report. Default: 120000. */
  uploadTimeout?: number;
}

export interface AttachFormOptions {
  /**
   * Called instead of the native submission, with `{ [name]: token }` (upload: an array of tokens).
   * The hidden inputs are filled too, so `new FormData(form)` works here. Default: none: the form is
   * submitted again natively (with the same submitter), and the app's own submit handlers run then.
   */
  onSubmit?: (values: Record<string, string | string[]>, event: SubmitEvent) => void | Promise<void>;
  /**
   * Called when the submission is stopped: a frame is invalid or required and empty (`code: 'invalid'`),
   * or its tokenize failed; `error.frame` is that frame, which also gets the focus. Default: none.
   */
  onError?: (error: LunaSecFrameError) => void;
}

/** Known `code`s; a frame may report others (its `NotifyOnError` name). */
export type LunaSecFrameErrorCode =
  | 'invalidOptions' | 'invalidElement' | 'unsupportedEnvironment' | 'destroyed' | 'timeout'
  | 'frameLoadFailed' | 'frameGone' | 'notReady' | 'notSupported' | 'badReply' | 'invalid'
  | 'sessionMissing' | 'sessionFetchFailed' | 'cookieSessionFailed' | 'sessionChanged'
  | 'invalidGrant' | 'attributesRejected' | 'tokenizeFailed' | 'focusFailed' | 'frameError';

/** Every error this library throws, rejects with or emits. Messages never contain a token or a JWT. */
export class LunaSecFrameError extends Error {
  constructor(code: LunaSecFrameErrorCode | (string & {}), message?: string);
  /** Same as `code`. */
  name: string;
  readonly code: LunaSecFrameErrorCode | (string & {});
  /** The frame concerned, when a mount failed with an error the frame reported (it stays, showing its message) or a form submission was stopped. */
  frame?: AnySecureFrame;
}

/** Whether `value` is a LunaSec token (`lunasec-` followed by a UUID). */
export function isToken(value: unknown): value is string;

/** Mounts Secure Frames from one Dedicated Tokenizer and shares their session. */
export class SecureFrames {
  /** Throws `LunaSecFrameError` (`invalidOptions`) for a bad option. */
  constructor(options: SecureFramesOptions);
  /**
   * Mounts a frame inside `target` (a container) or in place of it (an `<input>` or `<textarea>`, which is
   * hidden and kept out of the form until `destroy()`). Resolves on `ready`. Rejects with a
   * `LunaSecFrameError`: options (`invalidOptions`), session (`sessionMissing`, …), `timeout`,
   * `frameLoadFailed`, or the error the frame reported before `ready` (e.g. `invalidGrant`; that frame
   * stays, as `error.frame`).
   */
  mount(target: Element, options: InputOptions): Promise<InputFrame>;
  mount(target: Element, options: TextareaOptions): Promise<TextareaFrame>;
  mount(target: Element, options: ParagraphOptions): Promise<ParagraphFrame>;
  mount(target: Element, options: UploadOptions): Promise<UploadFrame>;
  mount(target: Element, options: DownloadOptions): Promise<DownloadFrame>;
  mount(target: Element, options: MountOptions): Promise<AnySecureFrame>;
  /** The live frames (mounted or mounting). */
  readonly frames: AnySecureFrame[];
  /** Token mode: fetches a new frame token now and hands it to every frame. Cookie mode: runs the chain again. */
  refreshSession(): Promise<void>;
  /**
   * Tokenizes every input, textarea and upload frame inside `form` when it is submitted, puts the tokens in
   * hidden inputs named after the frames' `name` (upload: a JSON array), then submits again or calls
   * `onSubmit`. An invalid frame stops the submission and gets the focus. Returns a function that detaches
   * the helper and removes the hidden inputs.
   */
  attachForm(form: HTMLFormElement, options?: AttachFormOptions): () => void;
  /** Destroys every frame, detaches every form, stops refreshing the session. */
  destroy(): void;
}
