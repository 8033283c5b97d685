import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isGatewayError } from '../../errors/gateway-error.js';
import { parseIsoDate, parseKeySettings } from './admin-keys.js';

describe('parseIsoDate: every date and time is UTC, and only real calendar days pass', () => {
  test('dates, times with an offset or Z, and times without one (UTC, whatever the server zone)', () => {
    const zone = process.env.TZ;
    // A zone with DST: 2026-03-08 02:30 does not exist there, and midnight is 04:00 or 05:00 UTC.
    process.env.TZ = 'America/New_York';
    try {
      assert.equal(parseIsoDate('2026-06-01', 'start'), Date.UTC(2026, 5, 1));
      assert.equal(parseIsoDate('2026-06-01T00:00', 'start'), Date.UTC(2026, 5, 1));
      assert.equal(parseIsoDate('2026-03-08T02:30', 'start'), Date.UTC(2026, 2, 8, 2, 30));
      assert.equal(parseIsoDate('2026-06-01T12:30:15.5Z', 'start'), Date.UTC(2026, 5, 1, 12, 30, 15, 500));
      assert.equal(parseIsoDate('2026-06-01T12:00+02:00', 'start'), Date.UTC(2026, 5, 1, 10));
      assert.equal(parseIsoDate('2028-02-29', 'start'), Date.UTC(2028, 1, 29));
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  test('a day the calendar lacks, a bad time or another format is a 400 naming the parameter', () => {
    for (const value of ['2026-11-31', '2026-02-30', '2027-02-29', '2026-13-01', '2026-00-10', '2026-06-01T25:00', '01/06/2026', 'tomorrow', '']) {
      assert.throws(
        () => parseIsoDate(value, 'expires_at'),
        (error: unknown) => isGatewayError(error) && error.status === 400 && error.param === 'expires_at',
        value,
      );
    }
    assert.throws(() => parseIsoDate(42, 'start'), (error: unknown) => isGatewayError(error) && error.code === 'invalid_type');
  });
});

describe('parseKeySettings: names are text', () => {
  test('a lone surrogate in a name or a model is a 400 naming the field; a paired one (an emoji) passes', () => {
    // Stored, it became U+FFFD: the key came back with another name than it was given.
    for (const [body, param] of [
      [{ name: 'app\ud800' }, 'name'],
      [{ name: '\udfff' }, 'name'],
      [{ models: ['gpt-4', 'gpt\udc00'] }, 'models[1]'],
    ] as const) {
      assert.throws(
        () => parseKeySettings(body),
        (error: unknown) => isGatewayError(error) && error.status === 400 && error.code === 'invalid_value' && error.param === param,
        JSON.stringify(body),
      );
    }
    assert.deepEqual(parseKeySettings({ name: 'app 🙂', models: ['模型🙂'] }), { name: 'app 🙂', models: ['模型🙂'] });
  });
});

describe('parseKeySettings: a name has no control characters', () => {
  test('C0, DEL and C1 controls (U+009B is a terminal escape, printed by `llm-proxy keys list`) are a 400 naming the field', () => {
    for (const name of ['a\u0000b', 'a\u001b[2Jb', 'a\u007fb', 'a\u0085b', 'a\u009b2Jb']) {
      assert.throws(
        () => parseKeySettings({ name }),
        (error: unknown) => isGatewayError(error) && error.status === 400 && error.code === 'invalid_value' && error.param === 'name',
        JSON.stringify(name),
      );
    }
    assert.deepEqual(parseKeySettings({ name: 'café ~ ÿ ¡' }), { name: 'café ~ ÿ ¡' });
  });

  test('nor does a model of the allow-list: no request can name one, and `keys list` prints them', () => {
    for (const model of ['gpt-4\n', 'a\u001b[2Jb', 'gpt\u009b4']) {
      assert.throws(
        () => parseKeySettings({ models: ['gpt-4o', model] }),
        (error: unknown) => isGatewayError(error) && error.status === 400 && error.code === 'invalid_value' && error.param === 'models[1]' && /printable/.test(error.message),
        JSON.stringify(model),
      );
    }
    assert.deepEqual(parseKeySettings({ models: ['openai/gpt-4o', 'claude-3@20240229'] }), { models: ['openai/gpt-4o', 'claude-3@20240229'] });
  });
});

describe('parseKeySettings: models names at least one model', () => {
  test('an empty list is a 400 (neither "every model" nor "no model" is guessed); null and absence mean every model', () => {
    assert.throws(
      () => parseKeySettings({ models: [] }),
      (error: unknown) => isGatewayError(error) && error.status === 400 && error.code === 'invalid_value' && error.param === 'models' && /leave it out/.test(error.message),
    );
    assert.deepEqual(parseKeySettings({ models: null }), { models: null });
    assert.deepEqual(parseKeySettings({}), {});
  });
});
