'use strict';
// The typings match the runtime: every value the package exports is declared in lib/index.d.ts and
// every value declared there is exported (classes only for what the package exports; the rest are
// interfaces); the ES module entry exports the same names; declared methods exist; ERROR_CODES'
// type is the runtime table. Parsed with the TypeScript compiler API.
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');
const sdk = require('../lib');

const DTS = path.join(__dirname, '..', 'lib', 'index.d.ts');
const source = ts.createSourceFile(DTS, fs.readFileSync(DTS, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);

const isExported = (node) => (ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Export) !== 0;

/** Top-level exported declarations: `{ values: Map<name, node>, types: Set<name> }`. */
function declared() {
  const values = new Map();
  const types = new Set();
  for (const node of source.statements) {
    if (ts.isExportDeclaration(node) || ts.isExportAssignment(node)) {
      throw new Error(`lib/index.d.ts: unexpected ${ts.SyntaxKind[node.kind]} (the test reads declarations only)`);
    }
    if (!isExported(node)) continue;
    if (ts.isClassDeclaration(node) || ts.isFunctionDeclaration(node) || ts.isEnumDeclaration(node)) values.set(node.name.text, node);
    else if (ts.isVariableStatement(node)) for (const d of node.declarationList.declarations) values.set(d.name.text, d);
    else if (ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) types.add(node.name.text);
  }
  return { values, types };
}

test('every runtime export is declared as a value, and every declared value is exported', () => {
  const { values } = declared();
  expect([...values.keys()].sort()).toEqual(Object.keys(sdk).sort());
});

test('the ES module entry exports the same names as the CommonJS one', async () => {
  const esm = await import(path.join(__dirname, '..', 'lib', 'index.mjs'));
  expect(Object.keys(esm).filter((k) => k !== 'default').sort()).toEqual(Object.keys(sdk).sort());
  for (const k of Object.keys(sdk)) expect(esm[k]).toBe(sdk[k]);
  expect(esm.default).toBe(sdk);
});

test('declared classes are runtime classes, functions functions; classes the package does not export are interfaces', () => {
  const { values, types } = declared();
  for (const [name, node] of values) {
    if (ts.isClassDeclaration(node) || ts.isFunctionDeclaration(node)) expect([name, typeof sdk[name]]).toEqual([name, 'function']);
    else expect([name, typeof sdk[name]]).toEqual([name, expect.not.stringMatching(/^undefined$/)]);
  }
  for (const name of ['Grants', 'Tokenizer', 'StrictTokenizer']) {
    expect(types.has(name)).toBe(true);
    expect(values.has(name)).toBe(false);
    expect(sdk[name]).toBeUndefined();
  }
});

test('the methods declared on exported classes exist at run time', () => {
  const { values } = declared();
  for (const [name, node] of values) {
    if (!ts.isClassDeclaration(node)) continue;
    for (const m of node.members) {
      if (!ts.isMethodDeclaration(m)) continue;
      const isStatic = (ts.getCombinedModifierFlags(m) & ts.ModifierFlags.Static) !== 0;
      const target = isStatic ? sdk[name] : sdk[name].prototype;
      expect([`${name}${isStatic ? '.' : '#'}${m.name.text}`, typeof target[m.name.text]]).toEqual([`${name}${isStatic ? '.' : '#'}${m.name.text}`, 'function']);
    }
  }
});

test('classes that a LunaSec instantiates have private constructors in the typings', () => {
  const { values } = declared();
  for (const name of ['KeyService', 'AuthenticationJWT', 'LunaSecExpressAuthPlugin']) {
    const ctor = values.get(name).members.find(ts.isConstructorDeclaration);
    expect([name, ctor && (ts.getCombinedModifierFlags(ctor) & ts.ModifierFlags.Private) !== 0]).toEqual([name, true]);
  }
});

test('ERROR_CODES is typed as it is: the same keys and literal tuples as the runtime table', () => {
  const decl = declared().values.get('ERROR_CODES');
  expect(ts.isTypeLiteralNode(decl.type)).toBe(true);
  const typed = {};
  for (const member of decl.type.members) {
    expect(member.modifiers && member.modifiers.some((m) => m.kind === ts.SyntaxKind.ReadonlyKeyword)).toBe(true);
    const tuple = member.type.kind === ts.SyntaxKind.TypeOperator ? member.type.type : member.type;
    typed[member.name.text] = tuple.elements.map((e) => (e.literal.kind === ts.SyntaxKind.NumericLiteral ? Number(e.literal.text) : e.literal.text));
  }
  expect(typed).toEqual(JSON.parse(JSON.stringify(sdk.ERROR_CODES)));
  expect(Object.isFrozen(sdk.ERROR_CODES)).toBe(true);
  expect(Object.values(sdk.ERROR_CODES).every(Object.isFrozen)).toBe(true);
  // The union is exactly the table's keys.
  const union = source.statements.find((s) => ts.isTypeAliasDeclaration(s) && s.name.text === 'LunaSecErrorCode');
  expect(union.type.types.map((t) => t.literal.text).sort()).toEqual(Object.keys(sdk.ERROR_CODES).sort());
});
