import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyAddress, hostRules, parsePrivateUpstreams, refusedAnswer, vetUpstreamUrl, type UrlVerdict } from './url-guard.js';

function reason(verdict: UrlVerdict): string {
  assert.equal(verdict.allowed, false, 'refused');
  return verdict.allowed ? '' : verdict.reason;
}

describe('classifyAddress', () => {
  test('each private range, and its edges', () => {
    const cases: Array<[string, string]> = [
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback'],
      ['::1', 'loopback'],
      ['10.0.0.5', 'private'],
      ['10.255.255.255', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['172.32.0.1', 'public'],
      ['172.15.255.255', 'public'],
      ['192.168.1.20', 'private'],
      ['192.169.0.1', 'public'],
      ['169.254.169.254', 'private'],
      ['100.64.0.1', 'private'],
      ['100.127.255.255', 'private'],
      ['100.128.0.1', 'public'],
      ['0.0.0.0', 'private'],
      ['0.1.2.3', 'private'],
      ['224.0.0.1', 'private'],
      ['239.255.255.255', 'private'],
      ['240.0.0.1', 'private'],
      ['255.255.255.255', 'private'],
      ['::', 'private'],
      ['fc00::1', 'private'],
      ['fd12:3456::1', 'private'],
      ['fe80::1', 'private'],
      ['febf::1', 'private'],
      ['ff02::1', 'private'],
      ['8.8.8.8', 'public'],
      ['1.1.1.1', 'public'],
      ['2606:4700:4700::1111', 'public'],
      ['fec0::1', 'public'],
    ];
    for (const [address, kind] of cases) assert.equal(classifyAddress(address).kind, kind, address);
  });

  test('IPv4-mapped IPv6 is judged by the IPv4 address inside it, dotted or hex', () => {
    assert.equal(classifyAddress('::ffff:127.0.0.1').kind, 'loopback');
    assert.equal(classifyAddress('::ffff:7f00:1').kind, 'loopback');
    assert.equal(classifyAddress('::ffff:10.0.0.5').kind, 'private');
    assert.equal(classifyAddress('::ffff:a00:5').kind, 'private');
    assert.equal(classifyAddress('::ffff:a9fe:a9fe').kind, 'private', '169.254.169.254');
    assert.equal(classifyAddress('::ffff:8.8.8.8').kind, 'public');
  });

  test('NAT64, 6to4 and IPv4-compatible IPv6 are private when the IPv4 address inside is not public', () => {
    const cases: Array<[string, string]> = [
      ['64:ff9b::a9fe:a9fe', 'private'],
      ['64:ff9b::169.254.169.254', 'private'],
      ['64:FF9B:0:0:0:0:A00:5', 'private'],
      ['64:ff9b::7f00:1', 'private'],
      ['64:ff9b::8.8.8.8', 'public'],
      ['64:ff9b:1::a00:5', 'private'],
      ['2002:a9fe:a9fe::1', 'private'],
      ['2002:c0a8:0101:0:0:0:0:1', 'private'],
      ['2002:808:808::1', 'public'],
      ['::10.0.0.5', 'private'],
      ['::7f00:1', 'private'],
      ['::8.8.8.8', 'public'],
      ['2606:4700::1111', 'public'],
    ];
    for (const [address, kind] of cases) assert.equal(classifyAddress(address).kind, kind, address);
    assert.match(classifyAddress('64:ff9b::a9fe:a9fe').range ?? '', /NAT64 address of 169\.254\.169\.254 \(169\.254\.0\.0\/16/);
  });

  test('names the range for messages', () => {
    assert.match(classifyAddress('169.254.169.254').range ?? '', /169\.254\.0\.0\/16, link-local.*metadata/);
  });
});

describe('vetUpstreamUrl', () => {
  test('obfuscated IPv4 literals are refused, whatever they would mean', () => {
    for (const url of [
      'http://2130706433/v1',
      'http://0177.0.0.1/v1',
      'http://0x7f.1/v1',
      'http://0x7f000001/v1',
      'http://127.1/v1',
      'http://127.0.1/v1',
      'http://%31%32%37.0.0.1/v1',
      'http://127.0.0.1./v1',
      'http:127.1/v1',
      'https://0xa.0.0.5/v1',
      'https://167772165/v1',
      'https://134744072/v1',
    ]) {
      assert.match(reason(vetUpstreamUrl(url, true)), /IPv4 address .* written in another form/, url);
    }
    const verdict = vetUpstreamUrl('http://2130706433:8080/v1', false);
    assert.ok(!verdict.allowed && verdict.remedy === 'write it as 127.0.0.1', JSON.stringify(verdict));
  });

  test('userinfo and other schemes are refused', () => {
    assert.match(reason(vetUpstreamUrl('https://user:pass@api.example.com/v1', true)), /user name or password/);
    assert.match(reason(vetUpstreamUrl('https://user@api.example.com/v1', true)), /user name or password/);
    assert.match(reason(vetUpstreamUrl('https://@api.example.com/v1', true)), /user name or password/);
    assert.match(reason(vetUpstreamUrl('ftp://api.example.com/v1', true)), /ftp:\/\/ is not allowed/);
    assert.match(reason(vetUpstreamUrl('file:///etc/passwd', true)), /file:\/\/ is not allowed/);
  });

  test('loopback written as such is allowed, http included, without an opt-in', () => {
    for (const url of ['http://127.0.0.1:11434/v1', 'http://127.9.8.7:8000', 'http://[::1]:8000/v1', 'http://[::ffff:127.0.0.1]:8000', 'https://127.0.0.1:8443']) {
      assert.deepEqual(vetUpstreamUrl(url, false), { allowed: true }, url);
      assert.equal(hostRules([{ baseUrl: new URL(url) }]).size, 0, `${url}: an address is judged here, never looked up`);
    }
    for (const url of ['http://localhost:11434', 'http://LOCALHOST:1234/v1', 'http://vllm.localhost:8000/v1', 'http://localhost.:8000']) {
      const verdict = vetUpstreamUrl(url, false);
      assert.ok(verdict.allowed, url);
      assert.deepEqual(hostRules([{ baseUrl: new URL(url) }]).get(new URL(url).hostname), { loopbackOnly: true, allowPrivate: false }, url);
    }
  });

  test('private literals need the opt-in, link-local (cloud metadata) too', () => {
    for (const url of ['http://10.0.0.5:8000/v1', 'https://192.168.1.20/v1', 'https://172.20.0.3', 'http://169.254.169.254/latest', 'https://[fd00::1]/v1', 'http://[fe80::1]:80', 'http://0.0.0.0:8000', 'https://100.64.1.1', 'http://[::ffff:10.0.0.5]/v1']) {
      const verdict = vetUpstreamUrl(url, false);
      assert.match(reason(verdict), /is a private destination/, url);
      assert.ok(!verdict.allowed && verdict.remedy === undefined, 'the fix is the opt-in');
      assert.equal(vetUpstreamUrl(url, true).allowed, true, `${url} with the opt-in`);
    }
  });

  test('http:// to anything but loopback needs the opt-in; https to a public host is the normal case', () => {
    assert.match(reason(vetUpstreamUrl('http://ollama:11434', false)), /http:\/\/ to ollama would send the provider's key in clear text/);
    assert.match(reason(vetUpstreamUrl('http://api.example.com/v1', false)), /clear text/);
    assert.match(reason(vetUpstreamUrl('http://8.8.8.8/v1', false)), /clear text/);
    assert.deepEqual(vetUpstreamUrl('http://ollama:11434', true), { allowed: true });
    assert.deepEqual(hostRules([{ baseUrl: new URL('http://ollama:11434'), allowPrivateNetwork: true }]).get('ollama'), { loopbackOnly: false, allowPrivate: true });
    assert.deepEqual(vetUpstreamUrl('https://api.openai.com/v1', false), { allowed: true });
    assert.deepEqual(hostRules([{ baseUrl: new URL('https://api.openai.com/v1') }]).get('api.openai.com'), { loopbackOnly: false, allowPrivate: false });
    assert.deepEqual(vetUpstreamUrl('https://8.8.8.8/v1', false), { allowed: true });
    assert.equal(hostRules([{ baseUrl: new URL('https://8.8.8.8/v1') }]).size, 0);
  });
});

describe('refusedAnswer (connect time)', () => {
  const strict = { loopbackOnly: false, allowPrivate: false };
  const optedIn = { loopbackOnly: false, allowPrivate: true };
  const localhost = { loopbackOnly: true, allowPrivate: false };

  test('a public name must resolve to public addresses unless the provider opted in', () => {
    assert.equal(refusedAnswer(strict, '8.8.8.8'), undefined);
    assert.match(refusedAnswer(strict, '10.0.0.5') ?? '', /10\.0\.0\.5 is a private destination/);
    assert.match(refusedAnswer(strict, '127.0.0.1') ?? '', /private destination \(127\.0\.0\.0\/8, loopback\)/);
    assert.match(refusedAnswer(strict, '::ffff:169.254.169.254') ?? '', /private destination/);
    assert.equal(refusedAnswer(optedIn, '10.0.0.5'), undefined);
    assert.equal(refusedAnswer(optedIn, '127.0.0.1'), undefined);
    assert.equal(refusedAnswer(optedIn, '8.8.8.8'), undefined);
  });

  test('a localhost name must resolve to loopback', () => {
    assert.equal(refusedAnswer(localhost, '127.0.0.1'), undefined);
    assert.equal(refusedAnswer(localhost, '::1'), undefined);
    assert.match(refusedAnswer(localhost, '93.184.216.34') ?? '', /not a loopback address/);
    assert.match(refusedAnswer(localhost, '10.0.0.5') ?? '', /private destination/);
  });
});

test('hostRules: named hosts only; one provider\'s opt-in covers a host it shares', () => {
  const rules = hostRules([
    { baseUrl: new URL('https://api.openai.com/v1') },
    { baseUrl: new URL('http://gpu.internal:8000/v1'), allowPrivateNetwork: true },
    { baseUrl: new URL('https://gpu.internal:8000/v1') },
    { baseUrl: new URL('http://localhost:11434/v1') },
    { baseUrl: new URL('http://127.0.0.1:8000/v1') },
    { baseUrl: new URL('http://[::1]:8000/v1') },
  ]);
  assert.deepEqual(Object.fromEntries(rules), {
    'api.openai.com': { loopbackOnly: false, allowPrivate: false },
    'gpu.internal': { loopbackOnly: false, allowPrivate: true },
    localhost: { loopbackOnly: true, allowPrivate: false },
  });
});

test('parsePrivateUpstreams: names or *', () => {
  assert.equal(parsePrivateUpstreams(undefined), undefined);
  assert.deepEqual(parsePrivateUpstreams('ollama, gpu-box,,'), ['ollama', 'gpu-box']);
  assert.equal(parsePrivateUpstreams('*'), '*');
  assert.equal(parsePrivateUpstreams('ollama,*'), '*');
});
