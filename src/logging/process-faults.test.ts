import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { createLogger } from './logger.js';
import { faultFields, ProcessFaults } from './process-faults.js';
import { Redactor } from './redactor.js';

const SECRET = 'provider-secret-7f3a9c';

/** A real logger whose lines land in `lines` (through the redactor, as in the server). */
function memoryLogger(redactor: Redactor): { logger: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>>; raw: string[] } {
  const raw: string[] = [];
  const logger = createLogger('info', redactor, { write: (line: string) => void raw.push(line) });
  return {
    logger,
    raw,
    lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

test('faultFields: an Error gives its type, message and stack; anything else its text', () => {
  const error = new TypeError('cannot read x');
  assert.deepEqual(faultFields(error), { type: 'TypeError', err: 'cannot read x', stack: error.stack });
  assert.deepEqual(faultFields('plain text'), { type: 'string', err: 'plain text' });
  assert.deepEqual(faultFields({ code: 'E_X' }), { type: 'object', err: '{"code":"E_X"}' });
  assert.deepEqual(faultFields(null), { type: 'null', err: 'null' });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.deepEqual(faultFields(cyclic), { type: 'object', err: '[object Object]' });
  assert.deepEqual(faultFields(undefined), { type: 'undefined', err: 'undefined' });
});

test('an unhandled rejection is logged with its message and stack, secrets redacted, and the process is not ended', () => {
  const { logger, lines, raw } = memoryLogger(new Redactor([SECRET]));
  const exits: number[] = [];
  const faults = new ProcessFaults(() => assert.fail('nothing goes to stderr once a logger exists'), (code) => exits.push(code));
  faults.report({ logger });
  faults.unhandledRejection(new RangeError(`upstream refused the key ${SECRET}`));
  assert.equal(lines().length, 1);
  const line = lines()[0] as Record<string, unknown>;
  assert.equal(line.level, 50);
  assert.equal(line.msg, 'unhandled rejection; the process keeps serving');
  assert.equal(line.type, 'RangeError');
  assert.equal(line.err, 'upstream refused the key [redacted]');
  assert.match(String(line.stack), /^RangeError: upstream refused the key \[redacted\]\n {4}at /);
  assert.match(String(line.stack), /process-faults\.test\.js/);
  assert.ok(!raw.join('').includes(SECRET));
  assert.deepEqual(exits, []);
});

test('an uncaught exception is logged as fatal, the pending usage is spooled, then the process exits 1', async () => {
  const { logger, lines } = memoryLogger(new Redactor([SECRET]));
  const steps: string[] = [];
  let exited: (code: number) => void = () => undefined;
  const exit = new Promise<number>((resolve) => (exited = resolve));
  const faults = new ProcessFaults(undefined, (code) => {
    steps.push('exit');
    exited(code);
  });
  faults.report({ logger, beforeExit: () => steps.push('spool') });
  faults.uncaughtException(new Error(`write after end (${SECRET})`));
  // A second one before the exit is logged, but spools and exits no second time.
  faults.uncaughtException(new Error('second'));
  assert.equal(await exit, 1);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(steps, ['spool', 'exit']);
  assert.equal(lines().length, 2);
  const [line] = lines();
  assert.equal(line?.level, 60);
  assert.equal(line?.err, 'write after end ([redacted])');
  assert.match(String(line?.stack), /^Error: write after end \(\[redacted\]\)\n/);
});

test('before a logger exists, a fault goes to stderr with its stack, key-shaped strings hidden', () => {
  const written: string[] = [];
  const faults = new ProcessFaults((text) => written.push(text));
  faults.unhandledRejection(new Error('bad key sk-abcdefghijklmnop'));
  assert.equal(written.length, 1);
  assert.match(written[0] as string, /^llm-proxy: unhandled rejection; the process keeps serving: Error: bad key \[redacted\]\nError: bad key \[redacted\]\n {4}at /);
  assert.ok(!(written[0] as string).includes('sk-abcdefghijklmnop'));
});

test('installed in a real process: a rejection is logged and work goes on; an uncaught exception is logged and ends it with 1', async () => {
  const base = new URL('.', import.meta.url).href;
  const script = `
    import { createLogger } from '${base}logger.js';
    import { ProcessFaults } from '${base}process-faults.js';
    import { Redactor } from '${base}redactor.js';
    const faults = new ProcessFaults();
    faults.install();
    faults.report({ logger: createLogger('info', new Redactor(['${SECRET}'])), beforeExit: () => process.stdout.write('{"spooled":true}\\n') });
    void Promise.reject(new Error('lost promise ${SECRET}'));
    setTimeout(() => {
      process.stdout.write('{"serving":true}\\n');
      setTimeout(() => { throw new Error('thrown in a callback ${SECRET}'); }, 20);
    }, 50);
    setInterval(() => undefined, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  assert.equal(code, 1, output);
  assert.ok(!output.includes(SECRET), output);
  const lines = output.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const rejection = lines.findIndex((line) => line.msg === 'unhandled rejection; the process keeps serving');
  const serving = lines.findIndex((line) => line.serving === true);
  const fatal = lines.findIndex((line) => line.msg === 'uncaught exception; the process exits');
  assert.ok(rejection !== -1 && rejection < serving && serving < fatal, output);
  assert.equal(lines[rejection]?.err, 'lost promise [redacted]');
  assert.match(String(lines[fatal]?.stack), /^Error: thrown in a callback \[redacted\]\n {4}at /);
  assert.ok(lines.some((line) => line.spooled === true), output);
});
