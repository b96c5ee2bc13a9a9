/**
 * The pure parts of era translation (issue 6): 2026-07-28 request headers and `_meta`, `x-mcp-header`
 * scanning, the legacy shape of results and errors, the initialize answer, the listen filter.
 */
import { describe, expect, it } from 'vitest';
import {
  initializeResult,
  legacyError,
  legacyResult,
  negotiateLegacyVersion,
} from '../../src/era/legacy-shape.js';
import { listenFilter, unsolicited } from '../../src/era/listen.js';
import { paramHeaderDeclarations, paramHeaders } from '../../src/era/tool-headers.js';
import { headerValue, modernCapabilities, modernRequest } from '../../src/era/wire.js';

const b64 = (s: string) => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;

describe('2026-07-28 requests', () => {
  it('header values: as is when header-safe, else the base64 sentinel', () => {
    expect(headerValue('eu-west 1')).toBe('eu-west 1');
    expect(headerValue('Zürich')).toBe(b64('Zürich'));
    expect(headerValue(' padded')).toBe(b64(' padded'));
    expect(headerValue('line\nbreak')).toBe(b64('line\nbreak'));
    expect(headerValue('=?base64?looks-like-one?=')).toBe(b64('=?base64?looks-like-one?='));
    expect(headerValue('')).toBe(b64(''));
  });

  it('capabilities: empty elicitation means form mode; 2025 tasks are never claimed', () => {
    expect(modernCapabilities({ elicitation: {}, sampling: {}, tasks: { list: {} } })).toEqual({
      elicitation: { form: {} },
      sampling: {},
    });
    expect(modernCapabilities({ elicitation: { url: {} } })).toEqual({ elicitation: { url: {} } });
  });

  it('headers, envelope and name: the client keeps its own _meta keys; the brain credentials win', () => {
    const { headers, body } = modernRequest({
      id: 'g-1',
      method: 'resources/read',
      params: { uri: 'mem://ä', _meta: { progressToken: 7 } },
      client: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'c', version: '1' },
        logLevel: 'warning',
      },
      paramHeaders: { 'mcp-param-x': '1' },
      credentials: { Authorization: 'Bearer brain' },
    });
    expect(headers).toMatchObject({
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'resources/read',
      'mcp-name': b64('mem://ä'),
      'mcp-param-x': '1',
      authorization: 'Bearer brain',
      accept: 'application/json, text/event-stream',
    });
    expect(JSON.parse(body)).toEqual({
      jsonrpc: '2.0',
      id: 'g-1',
      method: 'resources/read',
      params: {
        uri: 'mem://ä',
        _meta: {
          progressToken: 7,
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': {},
          'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' },
          'io.modelcontextprotocol/logLevel': 'warning',
        },
      },
    });
  });
});

describe('x-mcp-header', () => {
  const schema = {
    type: 'object',
    'x-mcp-header': 'Root',
    properties: {
      region: { type: 'string', 'x-mcp-header': 'Region' },
      nested: { type: 'object', properties: { tenant: { type: 'integer', 'x-mcp-header': 'Tenant' } } },
      list: { type: 'array', items: { type: 'string', 'x-mcp-header': 'Item' } },
      bad: { type: 'string', 'x-mcp-header': 'not a token' },
      flag: { type: 'boolean', 'x-mcp-header': 'Flag' },
    },
  };

  it('declarations come from chains of properties only', () => {
    expect(paramHeaderDeclarations(schema)).toEqual([
      { path: ['region'], header: 'Region' },
      { path: ['nested', 'tenant'], header: 'Tenant' },
      { path: ['flag'], header: 'Flag' },
    ]);
  });

  it('one header per present primitive argument, lower-case names', () => {
    const declarations = paramHeaderDeclarations(schema);
    expect(paramHeaders(declarations, { region: 'ap', nested: { tenant: 42 }, flag: false })).toEqual({
      'mcp-param-region': 'ap',
      'mcp-param-tenant': '42',
      'mcp-param-flag': 'false',
    });
    expect(paramHeaders(declarations, { region: null, nested: 'x' })).toEqual({});
  });
});

describe('the legacy shape', () => {
  it('negotiates a version the gateway can emulate', () => {
    expect(negotiateLegacyVersion('2024-11-05')).toBe('2024-11-05');
    expect(negotiateLegacyVersion('2026-07-28')).toBe('2025-11-25');
    expect(negotiateLegacyVersion(undefined)).toBe('2025-11-25');
  });

  it('initialize from server/discover: no extensions, no tasks, serverInfo from _meta', () => {
    const result = initializeResult(
      {
        supportedVersions: ['2026-07-28'],
        capabilities: { tools: { listChanged: true }, extensions: { x: {} }, tasks: {} },
        instructions: 'hi',
        _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'up', version: '9' } },
      },
      '2025-06-18',
    );
    expect(result).toEqual({
      protocolVersion: '2025-06-18',
      capabilities: { tools: { listChanged: true } },
      serverInfo: { name: 'up', version: '9' },
      instructions: 'hi',
    });
  });

  it('results lose the 2026-only fields', () => {
    expect(
      legacyResult({
        content: [],
        resultType: 'complete',
        ttlMs: 0,
        cacheScope: 'private',
        _meta: { 'io.modelcontextprotocol/serverInfo': {}, keep: 1 },
      }),
    ).toEqual({ content: [], _meta: { keep: 1 } });
    expect(legacyResult({ tools: [], _meta: { 'io.modelcontextprotocol/serverInfo': {} } })).toEqual({
      tools: [],
    });
  });

  it('errors: resource not found becomes -32002; the 2026-only codes become known ones that name the cause', () => {
    const notFound = { code: -32602, message: 'Resource not found: mem://x', data: { uri: 'mem://x' } };
    expect(legacyError('resources/read', notFound)).toEqual({ ...notFound, code: -32002 });
    expect(legacyError('tools/call', { code: -32602, message: 'Invalid params' })).toEqual({
      code: -32602,
      message: 'Invalid params',
    });

    const missing = legacyError('tools/call', {
      code: -32021,
      message: 'Cannot request input',
      data: { requiredCapabilities: { elicitation: { form: {} } } },
    });
    expect(missing.code).toBe(-32600);
    expect(missing.message).toMatch(/did not declare.*elicitation/);
    expect(missing.data).toMatchObject({ upstreamCode: -32021, requiredCapabilities: { elicitation: {} } });

    const mismatch = legacyError('tools/call', { code: -32020, message: 'Mcp-Param-Region is absent' });
    expect(mismatch).toMatchObject({ code: -32603, data: { upstreamCode: -32020 } });
    expect(mismatch.message).toMatch(/request headers.*Mcp-Param-Region/);

    const version = legacyError('tools/list', {
      code: -32022,
      message: 'Unsupported protocol version: 2026-07-28',
      data: { supported: ['2027-01-01'], requested: '2026-07-28' },
    });
    expect(version).toMatchObject({
      code: -32603,
      data: { upstreamCode: -32022, supported: ['2027-01-01'] },
    });
    expect(version.message).toMatch(/does not speak protocol version 2026-07-28/);

    expect(legacyError('tools/call', { code: -32601, message: 'Method not found' })).toEqual({
      code: -32601,
      message: 'Method not found',
    });
  });
});

describe('listen', () => {
  it('listens for every list that can change, and the subscribed resources', () => {
    expect(
      listenFilter(
        { tools: { listChanged: true }, prompts: {}, resources: { subscribe: true, listChanged: true } },
        ['a://1'],
      ),
    ).toEqual({ toolsListChanged: true, resourcesListChanged: true, resourceSubscriptions: ['a://1'] });
    expect(listenFilter({ tools: {} }, [])).toBeUndefined();
  });

  it('notifications reach the client without the subscription id', () => {
    expect(
      unsolicited({
        jsonrpc: '2.0',
        method: 'notifications/resources/updated',
        params: { uri: 'a://1', _meta: { 'io.modelcontextprotocol/subscriptionId': 4 } },
      }),
    ).toEqual({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'a://1' } });
  });
});
