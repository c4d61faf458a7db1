'use strict';
// The GraphQL `@token` directive, as a schema transformer for any graphql-js 16/17 server (Apollo
// Server 4/5, graphql-yoga, Mercurius, plain `graphql()`):
//
//   let schema = makeExecutableSchema({ typeDefs: [lunaSec.tokenDirective.typeDefs, typeDefs], resolvers });
//   schema = lunaSec.tokenDirective.transform(schema);
//
// - Output fields marked `@token` (String or ID, through lists and NonNull): the returned tokens get a
//   read grant for the request's session. Every token resolved in one GraphQL request in the same
//   tick goes to the tokenizer in ONE batch grant request (duplicates once).
// - Arguments and input-object fields marked `@token` (through NonNull, lists and nested input
//   objects): every token is verified as a store grant for the session, in one batch request,
//   before the field's resolver runs; the resolver is not called when any check fails.
//
// graphql is an optional peer dependency and is never required at load time: the schema's own
// classes (its constructors) build the new schema, so a schema made with another copy of graphql
// (graphql 17 next to 16, a bundled copy) is rebuilt with that copy. Errors are GraphQLErrors with
// `extensions.code`; their messages never contain a token, a JWT or a session id.
const native = require('../native');
const { isToken } = require('../token');
const { lunaSecError } = require('../errors');

const DIRECTIVE = 'token';
const TYPE_DEFS = 'directive @token(duration: String) on FIELD_DEFINITION | INPUT_FIELD_DEFINITION | ARGUMENT_DEFINITION';

/** `extensions.code` of the errors the directive raises. */
const CODES = Object.freeze({
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  BAD_TOKEN: 'LUNASEC_BAD_TOKEN',
  TOKEN_NOT_GRANTED: 'LUNASEC_TOKEN_NOT_GRANTED',
  TOKENIZER_UNAVAILABLE: 'LUNASEC_TOKENIZER_UNAVAILABLE',
  SESSION_ID_PROVIDER_FAILED: 'LUNASEC_SESSION_ID_PROVIDER_FAILED',
});

const WRAPPED = Symbol('lunasec.tokenDirective.wrapped');

// ---- errors ------------------------------------------------------------------------------------

let GraphQLErrorClass;
function loadGraphQLError() {
  if (GraphQLErrorClass !== undefined) return;
  try {
    GraphQLErrorClass = require('graphql').GraphQLError;
  } catch {
    GraphQLErrorClass = null;
  }
}

/**
 * A GraphQLError (from the app's graphql) with `extensions.code`. Thrown from a resolver, graphql
 * locates it on the field (path, locations) and keeps its extensions; servers that mask unexpected
 * errors (Yoga) let GraphQLErrors through.
 */
function gqlError(message, code, extra) {
  const extensions = { code, ...extra };
  if (GraphQLErrorClass) return new GraphQLErrorClass(message, { extensions });
  const e = new Error(message);
  Object.defineProperty(e, 'name', { value: 'GraphQLError', enumerable: false, writable: true, configurable: true });
  e.extensions = extensions;
  return e;
}

function configError(message) {
  return lunaSecError('ERR_CONFIG_INVALID', message);
}

// ---- schema inspection (no graphql import: the schema's own classes, by their toStringTag) -----

function kindOf(x) {
  return Object.prototype.toString.call(x).slice(8, -1);
}

function namedType(type) {
  let t = type;
  while (t && (kindOf(t) === 'GraphQLList' || kindOf(t) === 'GraphQLNonNull')) t = t.ofType;
  return t;
}

function isTokenLeaf(type) {
  const n = namedType(type);
  return kindOf(n) === 'GraphQLScalarType' && (n.name === 'String' || n.name === 'ID');
}

function checkDuration(duration, where) {
  if (duration === undefined || duration === null) return undefined;
  if (typeof duration !== 'string') throw configError(`@token on ${where}: duration must be a string such as "30m"`);
  try {
    native.parseDurationMs(duration);
  } catch {
    throw configError(`@token on ${where}: duration "${duration}" is not a duration such as "30m" or "1h10m"`);
  }
  return duration;
}

/**
 * Whether a field, input field or argument is marked, and its duration: the SDL directive
 * (`@token(duration: "5m")`), or, for code-first schemas, `extensions.lunasec.token`
 * (`true` or `{ duration }`) or the graphql-tools convention `extensions.directives.token`.
 */
function markOf(def, where) {
  const node = def.astNode;
  if (node && Array.isArray(node.directives)) {
    const d = node.directives.find((x) => x.name && x.name.value === DIRECTIVE);
    if (d) {
      const arg = (d.arguments || []).find((a) => a.name && a.name.value === 'duration');
      let duration;
      if (arg && arg.value.kind === 'StringValue') duration = arg.value.value;
      else if (arg && arg.value.kind !== 'NullValue') throw configError(`@token on ${where}: duration must be a string such as "30m"`);
      return { duration: checkDuration(duration, where) };
    }
  }
  const ext = def.extensions;
  if (ext && typeof ext === 'object') {
    let spec = ext.lunasec && typeof ext.lunasec === 'object' ? ext.lunasec.token : undefined;
    if (spec === undefined && ext.directives && typeof ext.directives === 'object') {
      spec = ext.directives[DIRECTIVE];
      if (Array.isArray(spec)) spec = spec[0];
    }
    if (spec === true) return { duration: undefined };
    if (spec && typeof spec === 'object') return { duration: checkDuration(spec.duration, where) };
  }
  return null;
}

function requireLeaf(type, where) {
  if (!isTokenLeaf(type)) {
    throw configError(`@token on ${where}: its type is ${String(type)}; @token applies to String or ID fields, arguments and input fields (or lists of them)`);
  }
}

/**
 * For every input object type that holds a marked position (directly, or through a nested input
 * object, at any depth; cycles are fine), the fields to look into: `{ name, token: true }` or
 * `{ name, input: <type name> }`.
 */
function inputPlans(typeMap) {
  const direct = new Map();
  const inputs = Object.values(typeMap).filter((t) => kindOf(t) === 'GraphQLInputObjectType' && !t.name.startsWith('__'));
  for (const t of inputs) {
    for (const f of Object.values(t.getFields())) {
      const where = `${t.name}.${f.name}`;
      const mark = markOf(f, where);
      if (!mark) continue;
      requireLeaf(f.type, `input field ${where}`);
      if (!direct.has(t.name)) direct.set(t.name, new Set());
      direct.get(t.name).add(f.name);
    }
  }
  // Fixed point: an input type is relevant when it has a marked field or a field of a relevant type.
  const relevant = new Set(direct.keys());
  let changed = true;
  while (changed) {
    changed = false;
    for (const t of inputs) {
      if (relevant.has(t.name)) continue;
      if (Object.values(t.getFields()).some((f) => relevant.has(namedType(f.type).name))) {
        relevant.add(t.name);
        changed = true;
      }
    }
  }
  const plans = new Map();
  for (const t of inputs) {
    if (!relevant.has(t.name)) continue;
    const marked = direct.get(t.name) || new Set();
    const plan = [];
    for (const f of Object.values(t.getFields())) {
      if (marked.has(f.name)) plan.push({ name: f.name, token: true });
      else if (relevant.has(namedType(f.type).name) && kindOf(namedType(f.type)) === 'GraphQLInputObjectType') plan.push({ name: f.name, input: namedType(f.type).name });
    }
    plans.set(t.name, plan);
  }
  return plans;
}

// ---- values ------------------------------------------------------------------------------------

function isThenable(v) {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
}

function isListLike(v) {
  return Array.isArray(v) || (v !== null && typeof v === 'object' && typeof v[Symbol.iterator] === 'function');
}

/**
 * The value of an output field with its lists materialised (list items may be promises, lists
 * may be any iterable: graphql accepts both), and the tokens in it. Throws BAD_TOKEN for a value
 * that is neither null, '' nor a token.
 */
async function settleOutput(value, tokens) {
  if (isThenable(value)) return settleOutput(await value, tokens);
  if (value === null || value === undefined || value === '') return value;
  if (typeof value === 'string' && isToken(value)) {
    tokens.push(value);
    return value;
  }
  if (isListLike(value) && typeof value !== 'string') {
    const items = Array.isArray(value) ? value : Array.from(value);
    const out = new Array(items.length);
    let pending = null;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (isThenable(item) || isListLike(item)) {
        if (!pending) pending = [];
        pending.push(settleOutput(item, tokens).then((v) => {
          out[i] = v;
        }));
      } else {
        out[i] = settleLeaf(item, tokens);
      }
    }
    if (pending) await Promise.all(pending);
    return out;
  }
  throw gqlError('this field is marked @token but its value is not a LunaSec token', CODES.BAD_TOKEN);
}

function settleLeaf(value, tokens) {
  if (value === null || value === undefined || value === '') return value;
  if (typeof value === 'string' && isToken(value)) {
    tokens.push(value);
    return value;
  }
  throw gqlError('this field is marked @token but its value is not a LunaSec token', CODES.BAD_TOKEN);
}

/** The tokens at the marked positions of a field's arguments. Throws BAD_TOKEN naming the argument path. */
function collectInputTokens(args, argPlan, plans) {
  const tokens = [];
  const seen = new Set();
  const leaf = (v, path) => {
    if (v === null || v === undefined || v === '') return;
    if (Array.isArray(v)) {
      v.forEach((x) => leaf(x, path));
      return;
    }
    if (typeof v === 'string' && isToken(v)) {
      tokens.push(v);
      return;
    }
    throw gqlError(`argument ${path} is marked @token but holds a value that is not a LunaSec token`, CODES.BAD_TOKEN);
  };
  const input = (v, typeName, path) => {
    if (v === null || v === undefined) return;
    if (Array.isArray(v)) {
      v.forEach((x) => input(x, typeName, path));
      return;
    }
    if (typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    for (const f of plans.get(typeName) || []) {
      const child = `${path}.${f.name}`;
      if (f.token) leaf(v[f.name], child);
      else input(v[f.name], f.input, child);
    }
  };
  for (const a of argPlan) {
    if (!args || !(a.name in args)) continue;
    if (a.token) leaf(args[a.name], `"${a.name}"`);
    else input(args[a.name], a.input, `"${a.name}"`);
  }
  return tokens;
}

// ---- per-request batching ----------------------------------------------------------------------

// The tokenizer takes at most this many tokens per grant request; larger sets are split.
const MAX_BATCH = 1000;

function chunks(list) {
  if (list.length <= MAX_BATCH) return [list];
  const out = [];
  for (let i = 0; i < list.length; i += MAX_BATCH) out.push(list.slice(i, i + MAX_BATCH));
  return out;
}

function defer() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * One per GraphQL request (keyed off the context object): read grants and store-grant checks
 * asked for during a tick are sent together when the tick ends (setImmediate), one request per
 * session (and, for read grants, per duration). Results are cached for the request, so a token
 * is granted or checked once.
 */
class RequestBatch {
  constructor(grants) {
    this.grants = grants;
    this.created = new Map(); // duration\0session -> Map(token -> Promise<void>)
    this.verified = new Map(); // session -> Map(token -> Promise<boolean>)
    this.createQueue = new Map();
    this.verifyQueue = new Map();
    this.scheduled = false;
    this.session = undefined; // memoised session promise (getSessionId option)
  }

  #schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush() {
    this.scheduled = false;
    const creates = [...this.createQueue.values()];
    const verifies = [...this.verifyQueue.values()];
    this.createQueue.clear();
    this.verifyQueue.clear();
    for (const b of creates) {
      Promise.all(chunks(b.tokens).map((c) => this.grants.create(b.session, c, b.duration))).then(() => b.done.resolve(), (e) => b.done.reject(e));
    }
    for (const b of verifies) {
      chunks(b.tokens).forEach((c, k) => {
        const results = b.results.slice(k * MAX_BATCH, k * MAX_BATCH + c.length);
        this.grants.verify(b.session, c).then(
          () => results.forEach((r) => r.resolve(true)),
          (e) => {
            if (e && e.errorCode === 'ERR_INVALID_GRANT' && Array.isArray(e.invalid)) {
              const invalid = new Set(e.invalid);
              results.forEach((r, i) => r.resolve(!invalid.has(i)));
            } else {
              results.forEach((r) => r.reject(e));
            }
          },
        );
      });
    }
  }

  /** Resolves when every token has a read grant for `session`. */
  create(session, duration, tokens) {
    const key = `${duration || ''}\u0000${session}`;
    let cache = this.created.get(key);
    if (!cache) this.created.set(key, (cache = new Map()));
    const waits = new Set();
    for (const t of tokens) {
      let p = cache.get(t);
      if (!p) {
        let b = this.createQueue.get(key);
        if (!b) this.createQueue.set(key, (b = { session, duration, tokens: [], done: defer() }));
        b.tokens.push(t);
        p = b.done.promise;
        cache.set(t, p);
        this.#schedule();
      }
      waits.add(p);
    }
    return Promise.all(waits);
  }

  /** Resolves with whether every token has a store grant for `session`. */
  async verify(session, tokens) {
    let cache = this.verified.get(session);
    if (!cache) this.verified.set(session, (cache = new Map()));
    const waits = [];
    for (const t of tokens) {
      let p = cache.get(t);
      if (!p) {
        let b = this.verifyQueue.get(session);
        if (!b) this.verifyQueue.set(session, (b = { session, tokens: [], results: [] }));
        const d = defer();
        b.tokens.push(t);
        b.results.push(d);
        p = d.promise;
        cache.set(t, p);
        this.#schedule();
      }
      waits.push(p);
    }
    return (await Promise.all(waits)).every(Boolean);
  }
}

// ---- the directive -----------------------------------------------------------------------------

function defaultFieldResolver(source, args, context, info) {
  if ((typeof source === 'object' && source !== null) || typeof source === 'function') {
    const property = source[info.fieldName];
    if (typeof property === 'function') return source[info.fieldName](args, context, info);
    return property;
  }
  return undefined;
}

function isObjectLike(x) {
  return x !== null && (typeof x === 'object' || typeof x === 'function');
}

/**
 * `lunaSec.tokenDirective`: `typeDefs` (the directive's SDL) and `transform(schema, options)`.
 */
class TokenDirective {
  #grants;
  #sessionIdProvider;
  #onError;

  constructor({ grants, sessionIdProvider, onError } = {}) {
    this.#grants = grants;
    this.#sessionIdProvider = sessionIdProvider;
    this.#onError = onError;
    /** `directive @token(duration: String) on FIELD_DEFINITION | INPUT_FIELD_DEFINITION | ARGUMENT_DEFINITION` */
    this.typeDefs = TYPE_DEFS;
    /** The `extensions.code` values of the errors the directive raises. */
    this.errorCodes = CODES;
  }

  /**
   * Returns a new schema whose `@token` fields and arguments create and verify grants. The
   * schema given is not modified. Throws a LunaSecError (ERR_CONFIG_INVALID) naming the type and
   * field when `@token` marks something that is not a String or ID (or a list of them).
   *
   * Options:
   * - `getRequest(context)`: the request handed to `auth.sessionIdProvider`. Default
   *   `context.req`, else `context.request` (Yoga's Fetch Request).
   * - `getSessionId(context, info)`: the session id itself (may be async), instead of the provider.
   *   `context.lunaSecSessionId`, when set, always wins.
   * - `onError(error, context)`: called with the underlying LunaSecError when the tokenizer or the
   *   session id provider fails (the SDK logs nothing itself). Default: `auth.onError(error, context.req)`.
   */
  transform(schema, options = {}) {
    if (kindOf(schema) !== 'GraphQLSchema' || typeof schema.toConfig !== 'function') {
      throw configError('tokenDirective.transform(schema) needs a graphql-js GraphQLSchema (graphql 16 or 17)');
    }
    if (options === null || typeof options !== 'object') throw configError('tokenDirective.transform(schema, options): options must be an object');
    for (const k of ['getRequest', 'getSessionId', 'onError']) {
      if (options[k] !== undefined && typeof options[k] !== 'function') throw configError(`tokenDirective.transform: options.${k} must be a function`);
    }
    loadGraphQLError();
    const typeMap = schema.getTypeMap();
    const plans = inputPlans(typeMap);
    const runtime = this.#runtime(options);

    // Marks on interface fields apply to every implementation.
    const interfaceMarks = new Map(); // "Iface.field" -> { out, args: Map(arg -> mark) }
    for (const t of Object.values(typeMap)) {
      if (kindOf(t) !== 'GraphQLInterfaceType' || t.name.startsWith('__')) continue;
      for (const f of Object.values(t.getFields())) {
        const where = `${t.name}.${f.name}`;
        const out = markOf(f, where);
        if (out) requireLeaf(f.type, `field ${where}`);
        const args = new Map();
        for (const a of f.args) {
          const m = markOf(a, `${where}(${a.name}:)`);
          if (m) {
            requireLeaf(a.type, `argument ${where}(${a.name}:)`);
            args.set(a.name, m);
          }
        }
        interfaceMarks.set(where, { out, args });
      }
    }

    const wrapField = (type, fieldName, field, config) => {
      const where = `${type.name}.${fieldName}`;
      const inherited = type.getInterfaces().map((i) => interfaceMarks.get(`${i.name}.${fieldName}`)).filter(Boolean);
      let out = markOf(field, where);
      if (!out) out = (inherited.find((m) => m.out) || {}).out || null;
      if (out) requireLeaf(field.type, `field ${where}`);
      const argPlan = [];
      for (const a of field.args) {
        let m = markOf(a, `${where}(${a.name}:)`);
        if (!m) m = (inherited.find((i) => i.args.has(a.name)) || { args: new Map() }).args.get(a.name) || null;
        if (m) {
          requireLeaf(a.type, `argument ${where}(${a.name}:)`);
          argPlan.push({ name: a.name, token: true });
        } else if (plans.has(namedType(a.type).name) && kindOf(namedType(a.type)) === 'GraphQLInputObjectType') {
          argPlan.push({ name: a.name, input: namedType(a.type).name });
        }
      }
      if ((!out && argPlan.length === 0) || (config.resolve && config.resolve[WRAPPED])) return config.resolve;
      return runtime.wrap(config.resolve || defaultFieldResolver, out, argPlan, plans);
    };

    // Rebuild the composite output types (they reference each other); scalars, enums and input
    // types are shared with the original schema, which is left untouched.
    const rebuilt = new Map();
    const rewire = (type) => {
      const k = kindOf(type);
      if (k === 'GraphQLList' || k === 'GraphQLNonNull') return new type.constructor(rewire(type.ofType));
      return rebuilt.get(type.name) || type;
    };
    const mapFields = (fields, wrapper) => {
      const out = {};
      for (const [name, f] of Object.entries(fields)) out[name] = { ...f, type: rewire(f.type), resolve: wrapper ? wrapper(name, f) : f.resolve };
      return out;
    };
    for (const t of Object.values(typeMap)) {
      if (t.name.startsWith('__')) continue;
      const k = kindOf(t);
      if (k === 'GraphQLObjectType') {
        const c = t.toConfig();
        const originals = t.getFields();
        // Checked now (not lazily) so a misplaced directive fails here, at transform() time.
        const resolvers = new Map(Object.entries(c.fields).map(([name, f]) => [name, wrapField(t, name, originals[name], f)]));
        rebuilt.set(t.name, new t.constructor({ ...c, interfaces: () => c.interfaces.map(rewire), fields: () => mapFields(c.fields, (name) => resolvers.get(name)) }));
      } else if (k === 'GraphQLInterfaceType') {
        const c = t.toConfig();
        rebuilt.set(t.name, new t.constructor({ ...c, interfaces: () => c.interfaces.map(rewire), fields: () => mapFields(c.fields) }));
      } else if (k === 'GraphQLUnionType') {
        const c = t.toConfig();
        rebuilt.set(t.name, new t.constructor({ ...c, types: () => c.types.map(rewire) }));
      }
    }
    const sc = schema.toConfig();
    return new schema.constructor({
      ...sc,
      query: sc.query ? rewire(sc.query) : sc.query,
      mutation: sc.mutation ? rewire(sc.mutation) : sc.mutation,
      subscription: sc.subscription ? rewire(sc.subscription) : sc.subscription,
      types: sc.types.map(rewire),
    });
  }

  /** The resolver wrapper and its per-request state, for one transformed schema. */
  #runtime(options) {
    const grants = this.#grants;
    const provider = this.#sessionIdProvider;
    const getRequest = options.getRequest || ((ctx) => (isObjectLike(ctx) ? ctx.req || ctx.request : undefined));
    const getSessionId = options.getSessionId;
    const configOnError = this.#onError;
    const onError = options.onError || ((err, ctx) => configOnError && configOnError(err, isObjectLike(ctx) ? ctx.req : undefined));
    const report = (err, ctx) => {
      try {
        onError(err, ctx);
      } catch {
        // a failing hook must not change the GraphQL result
      }
    };

    // context -> (execution -> RequestBatch). The execution key (the execution's variable values,
    // a fresh object per graphql execution) keeps a context object reused across requests from
    // sharing caches; a missing context still batches per execution.
    const byContext = new WeakMap();
    const byExecution = new WeakMap();
    const sessionsByRequest = new WeakMap();
    const batchOf = (ctx, info) => {
      const exec = info && isObjectLike(info.variableValues) ? info.variableValues : null;
      let perExec = byExecution;
      if (isObjectLike(ctx)) {
        perExec = byContext.get(ctx);
        if (!perExec) byContext.set(ctx, (perExec = { last: null, map: new WeakMap() }));
        if (!exec) {
          if (!perExec.last) perExec.last = new RequestBatch(grants);
          return perExec.last;
        }
        perExec = perExec.map;
      } else if (!exec) {
        return new RequestBatch(grants);
      }
      let b = perExec.get(exec);
      if (!b) perExec.set(exec, (b = new RequestBatch(grants)));
      return b;
    };

    const normalizeSession = (id) => {
      if (typeof id === 'number' && Number.isFinite(id)) return String(id);
      if (id === null || id === undefined || id === '') {
        throw gqlError('this field needs a logged-in user: the request has no session', CODES.UNAUTHENTICATED);
      }
      if (typeof id !== 'string') {
        throw gqlError('the session id of this request is not usable (it must be a string or a number)', CODES.SESSION_ID_PROVIDER_FAILED);
      }
      return id;
    };

    const providerFailed = (e, ctx) => {
      report(lunaSecError('ERR_SESSION_ID_PROVIDER_FAILED', 'the session id provider threw', e), ctx);
      return gqlError('unable to find the session of this request: the session id provider failed', CODES.SESSION_ID_PROVIDER_FAILED);
    };

    const sessionOf = async (ctx, info, batch) => {
      if (isObjectLike(ctx) && ctx.lunaSecSessionId !== undefined && ctx.lunaSecSessionId !== null) return normalizeSession(ctx.lunaSecSessionId);
      if (getSessionId) {
        if (!batch.session) {
          batch.session = Promise.resolve()
            .then(() => getSessionId(ctx, info))
            .catch((e) => {
              throw providerFailed(e, ctx);
            });
          batch.session.catch(() => {});
        }
        return normalizeSession(await batch.session);
      }
      const req = getRequest(ctx);
      if (!isObjectLike(req)) {
        throw gqlError('this field needs a logged-in user: the GraphQL context has no request (context.req) and no lunaSecSessionId', CODES.UNAUTHENTICATED);
      }
      if (typeof provider !== 'function') {
        throw gqlError('unable to find the session of this request: auth.sessionIdProvider is not configured', CODES.SESSION_ID_PROVIDER_FAILED);
      }
      let p = sessionsByRequest.get(req);
      if (!p) {
        p = Promise.resolve()
          .then(() => provider(req))
          .catch((e) => {
            throw providerFailed(e, ctx);
          });
        p.catch(() => {});
        sessionsByRequest.set(req, p);
      }
      return normalizeSession(await p);
    };

    const unavailable = (e, ctx, what) => {
      report(e, ctx);
      const extra = e && typeof e.errorCode === 'string' ? { lunasecErrorCode: e.errorCode } : undefined;
      return gqlError(`the tokenizer is unavailable: ${what}`, CODES.TOKENIZER_UNAVAILABLE, extra);
    };

    const wrap = (resolve, out, argPlan, plans) => {
      const duration = out ? out.duration : undefined;
      const wrapped = async function lunaSecToken(source, args, ctx, info) {
        let batch = null;
        if (argPlan.length > 0) {
          const tokens = collectInputTokens(args, argPlan, plans);
          if (tokens.length > 0) {
            batch = batchOf(ctx, info);
            const session = await sessionOf(ctx, info, batch);
            let ok;
            try {
              ok = await batch.verify(session, tokens);
            } catch (e) {
              throw unavailable(e, ctx, 'the tokens in the arguments could not be checked');
            }
            if (!ok) {
              throw gqlError('a token in the arguments was not created by this session (no store grant); nothing was written', CODES.TOKEN_NOT_GRANTED);
            }
          }
        }
        const value = await resolve.call(this, source, args, ctx, info);
        if (!out) return value;
        const tokens = [];
        const settled = await settleOutput(value, tokens);
        if (tokens.length === 0) return settled;
        if (!batch) batch = batchOf(ctx, info);
        const session = await sessionOf(ctx, info, batch);
        try {
          await batch.create(session, duration, tokens);
        } catch (e) {
          throw unavailable(e, ctx, 'the read grants for this field could not be created');
        }
        return settled;
      };
      wrapped[WRAPPED] = true;
      return wrapped;
    };

    return { wrap };
  }
}

module.exports = { TokenDirective, TOKEN_DIRECTIVE_TYPE_DEFS: TYPE_DEFS, TOKEN_DIRECTIVE_ERROR_CODES: CODES };
