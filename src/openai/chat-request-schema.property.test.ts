// Property test of the chat request check: any JSON body, or a valid request with one field broken,
// is accepted or refused with a 400 (404 for a model name nothing serves) whose `param` names a
// path that is in the body (or its missing field), never a TypeError.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { chatRequest } from '../../test/providers/request-arbitraries.js';
import { GatewayError } from '../errors/gateway-error.js';
import { isRecord } from '../json/guards.js';
import { toParam, validateChatRequest } from './chat-request-schema.js';

const RUNS = { numRuns: 500, seed: 20261128 };

/** Whether `param` (`messages[0].content[1].text`) leads through `body`, its last step allowed to be missing. */
function pathExists(body: unknown, param: string): boolean {
  if (param === 'body') return true;
  const steps = [...param.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((match) => match[1] ?? Number(match[2]));
  let current: unknown = body;
  for (const [index, step] of steps.entries()) {
    const last = index === steps.length - 1;
    if (typeof step === 'number' ? !Array.isArray(current) : !isRecord(current)) return false;
    const next: unknown = (current as Record<string | number, unknown>)[step as string | number];
    if (next === undefined && !last) return false;
    current = next;
  }
  return true;
}

/** A valid request with one value somewhere inside replaced by any JSON value. */
const broken = fc.tuple(chatRequest, fc.nat(), fc.jsonValue({ maxDepth: 1 })).map(([request, pick, value]) => {
  const copy = structuredClone(request) as Record<string, unknown>;
  const holders: Array<[Record<string, unknown> | unknown[], string | number]> = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach((item, index) => (holders.push([node, index]), walk(item)));
    else if (isRecord(node)) for (const key of Object.keys(node)) holders.push([node, key]), walk(node[key]);
  };
  walk(copy);
  const [holder, key] = holders[pick % holders.length] as [Record<string | number, unknown>, string | number];
  holder[key] = value;
  return copy;
});

describe('validateChatRequest, property-based', () => {
  it('any JSON body, or a valid request with one value broken → accepted, or a 400/404 naming a param in the body', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 3 }), broken), (body) => {
        try {
          validateChatRequest(body);
        } catch (error) {
          assert.ok(error instanceof GatewayError, String(error));
          assert.ok(error.status === 400 || (error.status === 404 && error.code === 'model_not_found'), `${error.status} ${error.code}`);
          assert.ok(typeof error.param === 'string' && error.param.length > 0, `no param: ${error.message}`);
          assert.ok(pathExists(body, error.param), `param ${error.param} is not in the body`);
        }
      }),
      RUNS,
    );
  });

  it('toParam turns any JSON pointer into a param path without throwing', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.nat(20).map(String)), { maxLength: 5 }), (segments) => {
        const pointer = segments.map((segment) => `/${segment.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
        const param = toParam(pointer);
        assert.equal(typeof param, 'string');
        for (const segment of segments) if (segment.length > 0) assert.ok(param.includes(segment), `${segment} lost from ${param}`);
      }),
      RUNS,
    );
  });
});
