'use strict';
// Medplum's in-memory FHIR repository, made durable and HAPI-like where Tessera's tests look:
//  - every write is appended to a journal (<data dir>/journal.ndjson, fdatasync'ed before the
//    answer goes out) and replayed at start, so stopping and starting the server keeps the data;
//  - versionIds count 1, 2, 3... per resource (Medplum's memory store uses random UUIDs);
//  - an update whose content equals the current version (ignoring meta.versionId/lastUpdated)
//    makes no new version, as HAPI JPA and Medplum's PostgreSQL store do.
// Search, conditional create (If-None-Exist) and conditional update (PUT Type?search) are Medplum's
// own code in FhirRepository/MemoryRepository; this file adds no search logic.
const fs = require('node:fs');
const path = require('node:path');
const { MemoryRepository } = require('@medplum/fhir-router');
const core = require('@medplum/core');

function withoutVersionMeta(resource) {
  const copy = core.deepClone(resource);
  if (copy.meta) {
    delete copy.meta.versionId;
    delete copy.meta.lastUpdated;
    if (Object.keys(copy.meta).length === 0) delete copy.meta;
  }
  return copy;
}

class DurableRepository extends MemoryRepository {
  constructor(dataDir) {
    super();
    this.journalPath = path.join(dataDir, 'journal.ndjson');
    this.replay();
    this.fd = fs.openSync(this.journalPath, 'a');
  }

  /** Loads every journalled write into the in-memory maps, keeping versionIds and timestamps. */
  replay() {
    if (!fs.existsSync(this.journalPath)) return 0;
    const text = fs.readFileSync(this.journalPath, 'utf8');
    let count = 0;
    for (const line of text.split('\n')) {
      if (!line) continue;
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        // A torn last line from a crash mid-write: that write was never acknowledged.
        continue;
      }
      if (rec.op === 'put') {
        this.load(rec.resource);
      } else if (rec.op === 'delete') {
        this.resources.get(rec.resourceType)?.delete(rec.id);
      }
      count++;
    }
    this.replayed = count;
    return count;
  }

  /** Puts a journalled version into MemoryRepository's maps as its createResource would, unchanged. */
  load(r) {
    const { resourceType, id } = r;
    let byId = this.resources.get(resourceType);
    if (!byId) this.resources.set(resourceType, (byId = new Map()));
    byId.set(id, r);
    let hist = this.history.get(resourceType);
    if (!hist) this.history.set(resourceType, (hist = new Map()));
    let versions = hist.get(id);
    if (!versions) hist.set(id, (versions = []));
    versions.push(r);
  }

  append(record) {
    const buf = Buffer.from(JSON.stringify(record) + '\n');
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off);
    fs.fdatasyncSync(this.fd);
  }

  nextVersion(resourceType, id) {
    const versions = this.history.get(resourceType)?.get(id);
    return String((versions ? versions.length : 0) + 1);
  }

  async createResource(resource) {
    const r = core.deepClone(resource);
    if (!r.id) r.id = this.generateId();
    r.meta = { ...(r.meta || {}) };
    r.meta.versionId = this.nextVersion(r.resourceType, r.id);
    r.meta.lastUpdated = new Date().toISOString();
    const stored = await super.createResource(r);
    this.append({ op: 'put', resource: stored });
    return stored;
  }

  async updateResource(resource, options) {
    const current = resource.id ? this.resources.get(resource.resourceType)?.get(resource.id) : undefined;
    if (current && !options?.ifMatch) {
      if (core.deepEquals(withoutVersionMeta(current), withoutVersionMeta(resource))) {
        return core.deepClone(current);
      }
    }
    return super.updateResource(resource, options);
  }

  async deleteResource(resourceType, id) {
    await super.deleteResource(resourceType, id);
    this.append({ op: 'delete', resourceType, id });
  }
}

module.exports = { DurableRepository };
