/**
 * What the gateway keeps of a request (issue 7 §4–§6): request ids, targets, metric labels, session refs.
 */
import { describe, expect, it } from 'vitest';
import { methodLabel } from '../../src/observe/metrics.js';
import {
  createObservation,
  faceOfPath,
  noteMessage,
  requestIdFrom,
  targetName,
} from '../../src/observe/observation.js';
import { sessionRef } from '../../src/observe/observe.js';

describe('request ids', () => {
  it('keeps a sane incoming X-Request-Id and mints a UUID for anything else', () => {
    for (const sane of [
      'abc',
      '0f8fad5b-d9cb-469f-a165-70867728950e',
      'Root=1-5759e988-bd862e3fe1be46a994272793',
      'a'.repeat(128),
    ]) {
      expect(requestIdFrom(sane)).toBe(sane);
    }
    for (const odd of [
      undefined,
      null,
      '',
      'a'.repeat(129),
      'has space',
      'quote"',
      'semi;colon',
      'new\nline',
      'ünï',
      '<script>',
    ]) {
      const id = requestIdFrom(odd);
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(id).not.toBe(odd);
    }
  });
});

describe('faces and targets', () => {
  it('tells the faces apart by path', () => {
    expect(faceOfPath('/brains/b/mcp')).toBe('mcp');
    expect(faceOfPath('/brains/b/sse')).toBe('sse');
    expect(faceOfPath('/brains/b/messages')).toBe('sse');
    expect(faceOfPath('/brains/b/other')).toBe('other');
  });

  it('names the tool, prompt or resource a request targets, bounded', () => {
    expect(targetName('tools/call', { name: 'echo', arguments: { secret: 'x' } })).toBe('echo');
    expect(targetName('prompts/get', { name: 'p' })).toBe('p');
    expect(targetName('resources/read', { uri: 'file:///a' })).toBe('file:///a');
    expect(targetName('resources/subscribe', { uri: 'u' })).toBe('u');
    expect(targetName('completion/complete', { ref: { type: 'ref/prompt', name: 'p' } })).toBe('p');
    expect(targetName('tools/list', { cursor: 'c' })).toBeUndefined();
    expect(targetName('tools/call', { name: 42 })).toBeUndefined();
    expect(targetName('tools/call', null)).toBeUndefined();
    expect(targetName('tools/call', { name: 'n'.repeat(10_000) })).toHaveLength(200);
  });

  it('noteMessage fills the observation; a response is marked, not named', () => {
    const o = createObservation('r', 'mcp', 0);
    noteMessage(o, 'tools/call', { name: 'echo' });
    expect(o).toMatchObject({ method: 'tools/call', name: 'echo', response: false });
    const r = createObservation('r', 'mcp', 0);
    noteMessage(r, undefined, undefined);
    expect(r).toMatchObject({ method: undefined, response: true });
  });
});

describe('labels and refs', () => {
  it('method labels are bounded: known methods, other, or the HTTP method', () => {
    expect(methodLabel('tools/call', 'POST')).toBe('tools/call');
    expect(methodLabel('x'.repeat(50), 'POST')).toBe('other');
    expect(methodLabel('notifications/initialized', 'POST')).toBe('notifications/initialized');
    expect(methodLabel(undefined, 'GET')).toBe('GET');
  });

  it('a session ref is stable, short and not the id', () => {
    const id = 'c5c7e0b6-2d2e-4f51-8d0c-9b1b5f3b2a11';
    expect(sessionRef(id)).toBe(sessionRef(id));
    expect(sessionRef(id)).toMatch(/^[0-9a-f]{16}$/);
    expect(sessionRef(id)).not.toContain(id.slice(0, 8));
  });
});
