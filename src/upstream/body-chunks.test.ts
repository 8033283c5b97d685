// The light body iterator of upstream streams: it must end, fail and stop exactly as Node's own
// Readable iterator does with `destroyOnReturn: false`, which it replaces.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { BodyChunks } from './body-chunks.js';

async function collect(chunks: BodyChunks): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of chunks) out.push(chunk.toString('utf8'));
  return out;
}

describe('BodyChunks', () => {
  test('yields chunks written later, in order, and returns at the end', async () => {
    const body = new PassThrough();
    const reading = collect(new BodyChunks(body));
    for (const piece of ['data: a\n\n', 'data: b\n\n', 'data: c\n\n']) {
      await tick();
      body.write(piece);
    }
    await tick();
    body.end();
    assert.equal((await reading).join(''), 'data: a\n\ndata: b\n\ndata: c\n\n');
  });

  test('chunks buffered before a read come out as one, with no wait', async () => {
    const body = new PassThrough();
    body.write('one ');
    body.write('two ');
    body.end('three');
    await tick();
    assert.deepEqual(await collect(new BodyChunks(body)), ['one two three']);
  });

  test('an error of the body is thrown to the reader, after what came before it', async () => {
    const body = new PassThrough();
    const chunks = new BodyChunks(body);
    body.write('first');
    const first = await chunks.next();
    assert.equal(first.done, false);
    assert.equal(String(first.value), 'first');
    const pending = chunks.next();
    body.destroy(new Error('socket reset'));
    await assert.rejects(pending, /socket reset/);
    assert.deepEqual(await chunks.next(), { value: undefined, done: true });
  });

  test('a close before the end is a premature close, not an end', async () => {
    const body = new PassThrough();
    const chunks = new BodyChunks(body);
    const pending = chunks.next();
    body.destroy();
    await assert.rejects(pending, (error: NodeJS.ErrnoException) => error.code === 'ERR_STREAM_PREMATURE_CLOSE');
  });

  test('stopping early leaves the body open and unread, with no listener of ours left', async () => {
    const body = new PassThrough();
    const readableBefore = body.listenerCount('readable');
    const chunks = new BodyChunks(body);
    body.write('data: x\n\n');
    for await (const chunk of chunks) {
      assert.equal(chunk.toString('utf8'), 'data: x\n\n');
      break;
    }
    assert.equal(body.destroyed, false);
    assert.equal(body.listenerCount('readable'), readableBefore);
    assert.equal(body.listenerCount('error'), 0);
    assert.deepEqual(await chunks.next(), { value: undefined, done: true });
    body.end('rest');
    assert.equal(String(body.read()), 'rest');
  });
});
