// /openapi.json and /docs (issue #9): every route in the route table is in the document, the chat
// request schema is documented without Fastify validating with it, and the UI is served locally.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { call, JSON_AUTH, post, startStack } from '../support/reliability-support.js';

/** [METHOD, url] for every route, read from printRoutes' tree (one level = 4 characters). */
function routesOf(tree: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│├└─\s]*)(\S.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (match === null) continue;
    const depth = Math.max(0, (match[1] ?? '').length / 4 - 1);
    const path = (stack[depth - 1] ?? '') + (match[2] ?? '');
    stack[depth] = path;
    stack.length = depth + 1;
    for (const method of (match[3] ?? '').split(', ')) if (method !== '' && method !== 'HEAD') out.push([method, path]);
  }
  return out;
}

describe('OpenAPI document and docs page', () => {
  test('every route (but the docs UI assets) is in /openapi.json, with its access', async () => {
    const stack = await startStack();
    try {
      const res = await call(stack.url, { method: 'GET', path: '/openapi.json' });
      assert.equal(res.status, 200);
      const doc = JSON.parse(res.body) as { openapi: string; paths: Record<string, Record<string, { security?: unknown[]; requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } }>> };
      assert.match(doc.openapi, /^3\./);
      const routes = routesOf(stack.gateway.app.app.printRoutes({ commonPrefix: false }));
      assert.ok(routes.length >= 15, JSON.stringify(routes));
      for (const [method, url] of routes) {
        if (url.startsWith('/docs')) continue;
        // printRoutes shows a wildcard under its parent without the slash (`/api/models` → `*`).
        const path = url.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/\/?\*$/, '/{*}');
        assert.ok(doc.paths[path]?.[method.toLowerCase()] !== undefined, `${method} ${url} is missing from the document`);
      }
      assert.ok(!Object.keys(doc.paths).some((path) => path.startsWith('/docs')));
      const chat = doc.paths['/v1/chat/completions']?.post;
      assert.ok(chat?.requestBody?.content['application/json']?.schema.properties.messages);
      assert.deepEqual(chat?.security, [{ bearer: [] }]);
      assert.ok(doc.paths['/v1/messages']?.post?.requestBody?.content['application/json']?.schema.properties.max_tokens, 'the Messages request schema');
      assert.ok(doc.paths['/v1/messages/count_tokens']?.post?.requestBody?.content['application/json']?.schema.properties.messages, 'the count_tokens request schema');
      assert.ok(doc.paths['/v1/completions']?.post?.requestBody?.content['application/json']?.schema.properties.prompt, 'the completions request schema');
      assert.deepEqual(doc.paths['/health/ready']?.get?.security, []);
    } finally {
      await stack.close();
    }
  });

  test('the documented chat schema does not validate: errors stay OpenAI-shaped from the handler', async () => {
    const stack = await startStack();
    try {
      const res = await post(stack.url, JSON.stringify({ model: 'gpt-4', messages: 'not-a-list' }));
      assert.equal(res.status, 400);
      const body = JSON.parse(res.body) as { error: { type: string; param: string | null } };
      assert.equal(body.error.type, 'invalid_request_error');
      assert.equal(body.error.param, 'messages');
    } finally {
      await stack.close();
    }
  });

  test('/docs serves the UI from local assets, without a key', async () => {
    const stack = await startStack();
    try {
      const page = await call(stack.url, { method: 'GET', path: '/docs' });
      assert.equal(page.status, 200);
      assert.match(String(page.headers['content-type']), /text\/html/);
      const sources = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '');
      assert.ok(sources.length > 0);
      for (const source of sources) assert.ok(!/^(?:https?:)?\/\//.test(source), `external asset ${source}`);
      const bundle = await call(stack.url, { method: 'GET', path: '/docs/static/swagger-ui-bundle.js' });
      assert.equal(bundle.status, 200);
      assert.ok(bundle.body.length > 100_000);
      const initializer = await call(stack.url, { method: 'GET', path: '/docs/static/swagger-initializer.js' });
      assert.equal(initializer.status, 200);
      // The API itself still needs a key.
      assert.equal((await call(stack.url, { method: 'GET', path: '/v1/models' })).status, 401);
      assert.equal((await call(stack.url, { method: 'GET', path: '/v1/models', headers: JSON_AUTH })).status, 200);
    } finally {
      await stack.close();
    }
  });
});
