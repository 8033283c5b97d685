// A condense.model that routes to nothing makes every condensation extractive; the server says so in
// a warn line at start-up and after a reload to such a config (and in the reload's answer), and not for one that routes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MASTER_KEY } from '../support/gateway-harness.js';
import { send, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';

const UNROUTED = 'names no routable model';
/** An OpenAI provider nothing answers on, without discovery: only the built-in names and the config route. */
const configWith = (model: string) => `providers:\n  openai: { base_url: "http://127.0.0.1:9/v1", discover: false }\nrouting: { discovery_interval_s: 0 }\ncondense: { model: ${model} }\n`;
const auth = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };

/** The parsed log lines that hold `text`. */
function linesWith(output: string, text: string): Array<{ level: number; msg: string }> {
  return output.split('\n').filter((line) => line.includes(text)).map((line) => JSON.parse(line) as { level: number; msg: string });
}

describe('condense.model that routes to nothing', () => {
  let gateway: GatewayProcess;
  before(async () => {
    gateway = await startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY, OPENAI_API_KEY: 'sk-test-0123456789' }, configWith('gpt-4o-mni'));
  });
  after(() => gateway.cleanup());

  test('start-up logs a warning naming it and the extractive fallback, which is what a condensation then gets', async () => {
    await gateway.waitFor(UNROUTED);
    const [line, ...more] = linesWith(gateway.output(), UNROUTED);
    assert.equal(more.length, 0, gateway.output());
    assert.equal(line?.level, 40, 'warn');
    assert.match(line.msg, /^condense\.model 'gpt-4o-mni' names no routable model \(no configured provider, model group or alias serves that name\), so every condensation .* gets the extractive summary/);
    const answer = await send(gateway.url, '/api/condense', { headers: auth, body: JSON.stringify({ messages: [{ role: 'user', content: 'My order #4521 never arrived.' }] }) });
    assert.equal(answer.status, 200, answer.body);
    assert.equal((JSON.parse(answer.body) as { method: string }).method, 'extractive');
  });

  test('a reload warns for a model whose provider is not configured, and not for one that routes', async () => {
    gateway.writeConfig(configWith('gpt-4o-mini'));
    const fixed = await send(gateway.url, '/admin/reload', { method: 'POST', headers: { authorization: `Bearer ${MASTER_KEY}` } });
    assert.equal(fixed.status, 200, fixed.body);
    assert.deepEqual((JSON.parse(fixed.body) as { warnings: string[] }).warnings, []);
    await gateway.waitFor('configuration reloaded');
    assert.equal(linesWith(gateway.output(), UNROUTED).length, 1, gateway.output());

    gateway.writeConfig(configWith('claude-3-5-haiku-20241022'));
    const unrouted = await send(gateway.url, '/admin/reload', { method: 'POST', headers: { authorization: `Bearer ${MASTER_KEY}` } });
    assert.equal(unrouted.status, 200, unrouted.body);
    await gateway.waitFor(UNROUTED, 10_000, 2);
    const line = linesWith(gateway.output(), UNROUTED)[1];
    assert.equal(line?.level, 40);
    assert.match(line.msg, /'claude-3-5-haiku-20241022' names no routable model \(it needs the anthropic provider, which is not configured: set ANTHROPIC_API_KEY/);
    // The answer says it too: the caller of /admin/reload need not read the log.
    assert.deepEqual((JSON.parse(unrouted.body) as { warnings: string[] }).warnings, [line.msg]);
  });
});
