import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Agent, MockAgent } from 'undici';
import { isGatewayError } from '../errors/gateway-error.js';
import { guardedLookup } from './guarded-lookup.js';
import { createImageFetcher, refusedImageUrl } from './image-fetch.js';

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const PARAM = 'messages[0].content[1].image_url.url';

async function refusal(promise: Promise<unknown>): Promise<{ status: number; code: string | null; message: string; param: string | null }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isGatewayError(error), String(error));
    return { status: error.status, code: error.code, message: error.message, param: error.param };
  }
  assert.fail('expected a refusal');
}

describe('refusedImageUrl', () => {
  it('takes https URLs of named hosts only', () => {
    assert.equal(refusedImageUrl('https://images.example.com/cat.png?size=2'), undefined);
    assert.equal(refusedImageUrl('http://images.example.com/cat.png'), 'only https image URLs are fetched');
    assert.equal(refusedImageUrl('https://user:pw@images.example.com/cat.png'), 'a URL with credentials is not fetched');
    for (const literal of ['https://127.0.0.1/x.png', 'https://[::1]/x.png', 'https://0x7f.1/x.png', 'https://2130706433/x.png', 'https://169.254.169.254/latest']) {
      assert.equal(refusedImageUrl(literal), 'a URL whose host is an IP address is not fetched', literal);
    }
    assert.equal(refusedImageUrl('https://'), 'it is not a URL');
  });
});

describe('createImageFetcher', () => {
  const mock = new MockAgent();
  mock.disableNetConnect();
  const host = mock.get('https://images.example.com');
  const fetchImage = createImageFetcher({ dispatcher: mock, maxBytes: 64, timeoutMs: 2_000 });
  after(() => mock.close());

  it('downloads an image as base64 with its media type', async () => {
    host.intercept({ path: '/cat.png', method: 'GET' }).reply(200, PNG, { headers: { 'content-type': 'image/png' } });
    assert.deepEqual(await fetchImage('https://images.example.com/cat.png', PARAM), { mediaType: 'image/png', data: PNG.toString('base64') });
    host.intercept({ path: '/cat.jpg', method: 'GET' }).reply(200, PNG, { headers: { 'content-type': 'image/jpg; charset=binary' } });
    assert.equal((await fetchImage('https://images.example.com/cat.jpg', PARAM)).mediaType, 'image/jpeg');
  });

  it('refuses, with a 400 invalid_image_url naming the field and not the URL, what is not an image it may take', async () => {
    host.intercept({ path: '/missing.png', method: 'GET' }).reply(404, 'no');
    const missing = await refusal(fetchImage('https://images.example.com/missing.png', PARAM));
    assert.deepEqual([missing.status, missing.code, missing.param], [400, 'invalid_image_url', PARAM]);
    assert.match(missing.message, /the host answered 404/);
    assert.doesNotMatch(missing.message, /images\.example\.com/);
    host.intercept({ path: '/moved.png', method: 'GET' }).reply(302, '', { headers: { location: 'https://169.254.169.254/' } });
    assert.match((await refusal(fetchImage('https://images.example.com/moved.png', PARAM))).message, /redirect, which is not followed/);
    host.intercept({ path: '/page.png', method: 'GET' }).reply(200, '<html>', { headers: { 'content-type': 'text/html' } });
    assert.match((await refusal(fetchImage('https://images.example.com/page.png', PARAM))).message, /sent text\/html, not a PNG/);
    host.intercept({ path: '/big.png', method: 'GET' }).reply(200, Buffer.alloc(65), { headers: { 'content-type': 'image/png' } });
    assert.match((await refusal(fetchImage('https://images.example.com/big.png', PARAM))).message, /larger than 64 bytes/);
    host.intercept({ path: '/empty.png', method: 'GET' }).reply(200, '', { headers: { 'content-type': 'image/png' } });
    assert.match((await refusal(fetchImage('https://images.example.com/empty.png', PARAM))).message, /empty body/);
    assert.match((await refusal(fetchImage('http://images.example.com/cat.png', PARAM))).message, /only https/);
  });

  it("holds one request's images within the limit together; a failed download gives its bytes back", async () => {
    const image = Buffer.alloc(40, 1);
    for (const path of ['/a.png', '/b.png', '/c.png']) host.intercept({ path, method: 'GET' }).reply(200, image, { headers: { 'content-type': 'image/png' } });
    // Apart, each fits; in one request, the second would make 80 of 64 bytes.
    assert.equal((await fetchImage('https://images.example.com/a.png', PARAM)).data.length, 56);
    const room = { used: 0 };
    await fetchImage('https://images.example.com/b.png', PARAM, undefined, room);
    const together = await refusal(fetchImage('https://images.example.com/c.png', PARAM, undefined, room));
    assert.match(together.message, /the request's images together are larger than 64 bytes/);
    assert.equal(room.used, 40);
    // Declared too large by its Content-Length: refused before a byte is read.
    host.intercept({ path: '/declared.png', method: 'GET' }).reply(200, image, { headers: { 'content-type': 'image/png', 'content-length': '40' } });
    assert.match((await refusal(fetchImage('https://images.example.com/declared.png', PARAM, undefined, room))).message, /together are larger/);
    host.intercept({ path: '/broken.png', method: 'GET' }).reply(404, 'no');
    await refusal(fetchImage('https://images.example.com/broken.png', PARAM, undefined, room));
    assert.equal(room.used, 40);
  });

  it('gives up on a host that does not answer in time', async () => {
    const slow = createImageFetcher({ dispatcher: mock, maxBytes: 64, timeoutMs: 100 });
    host.intercept({ path: '/slow.png', method: 'GET' }).reply(200, PNG, { headers: { 'content-type': 'image/png' } }).delay(1_000);
    assert.match((await refusal(slow('https://images.example.com/slow.png', PARAM))).message, /no answer within 0.1 s/);
  });

  it('behind the SSRF guard, a name that resolves to a private or loopback address is never connected to', async () => {
    const refused: string[] = [];
    const resolver = (hostname: string, _family: number, callback: (error: NodeJS.ErrnoException | null, addresses: Array<{ address: string; family: number }>) => void) =>
      callback(null, [{ address: hostname === 'metadata.example.com' ? '169.254.169.254' : '127.0.0.1', family: 4 }]);
    const agent = new Agent({ connect: { lookup: guardedLookup(new Map(), resolver, (entry) => refused.push(`${entry.host}: ${entry.reason}`)) } });
    try {
      const guarded = createImageFetcher({ dispatcher: agent, maxBytes: 64, timeoutMs: 2_000 });
      for (const url of ['https://metadata.example.com/latest/meta-data', 'https://localhost.example.com/x.png']) {
        const error = await refusal(guarded(url, PARAM));
        assert.deepEqual([error.status, error.code], [400, 'invalid_image_url']);
        assert.match(error.message, /could not be reached \(or is not a public address\)/);
      }
      assert.equal(refused.length, 2, refused.join('\n'));
    } finally {
      await agent.close();
    }
  });
});
