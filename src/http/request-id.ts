// The X-Request-Id of an answer: the client's own when it is short and plain, else a new UUID.
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * `holdsSecret` (the redactor's test): an id holding a key is replaced too, since the id is stored
 * in the usage row and shown in the usage records, where no key may be.
 */
export function requestIdFor(headers: IncomingHttpHeaders, holdsSecret: (id: string) => boolean = () => false): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) && !holdsSecret(given) ? given : randomUUID();
}
